"""Network namespaces of a test's own, so tests never touch the host's firewall."""
import contextlib
import os
import subprocess
import uuid


def sh(*argv, ns=None, check=True, input=None):
    """Run a command (inside namespace ``ns`` when given) and return its stdout."""
    if ns:
        argv = ("ip", "netns", "exec", ns) + argv
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (rc=%d): %s" % (" ".join(argv), proc.returncode,
                                                        proc.stderr or proc.stdout))
    return proc.stdout


def can_use_netns():
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    for tool in ("ip", "iptables-save", "iptables-restore"):
        if subprocess.run(["sh", "-c", "command -v " + tool], capture_output=True,
                          check=False).returncode:
            return "%s not installed" % tool
    return None


@contextlib.contextmanager
def namespace(prefix="dg-it"):
    """A fresh, empty network namespace, removed afterwards even on failure."""
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "link", "set", "lo", "up", ns=name)
        yield name
    finally:
        sh("ip", "netns", "delete", name, check=False)
