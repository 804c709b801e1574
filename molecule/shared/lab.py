# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helpers for the Molecule lab fleet (molecule/shared/inventory.yml).

Everything goes through the host's ``docker`` CLI:

- ``probe(client, address, port)``: real traffic from a probe client container (busybox
  ``nc``, shared/LAB.md section 4) to a node's published port; ``probe_many`` runs several
  at once (a dropped probe costs its whole timeout); ``ProbeLoop`` keeps probing in a
  thread while something happens (a restart, a boot) to catch a window of exposure.
- ``stop_dockerd`` / ``start_dockerd`` / ``restart_dockerd``: the nodes have no init, so
  dockerd is stopped by its pid file and started again with the same command the node
  was started with (``lab_dockerd_command``); ``wait_published`` waits until the
  containers with a restart policy are running and their ports are DNATed again.

Used by the scenarios' testinfra tests (import) and playbooks (command line)::

    python lab.py probe ADDRESS PORT[,PORT...] CLIENT[,CLIENT...]

prints a JSON list, one object per (client, port): probe ("client -> address:port"),
client, port, reached, seconds, detail, summary.
"""

from __future__ import absolute_import, division, print_function

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

REQUEST = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w %d %s %d"


class LabError(RuntimeError):
    pass


def docker(*args, **kwargs):
    """Run the host's docker CLI; returns CompletedProcess (text)."""
    check = kwargs.pop("check", True)
    timeout = kwargs.pop("timeout", 120)
    proc = subprocess.run(["docker"] + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout,
                          check=False, **kwargs)
    if check and proc.returncode != 0:
        raise LabError("docker %s failed (rc=%d): %s" % (
            " ".join(str(a) for a in args), proc.returncode, proc.stderr.strip()))
    return proc


def node_sh(node, script, check=True, timeout=120):
    return docker("exec", node, "sh", "-c", script, check=check, timeout=timeout)


def probe(client, address, port, timeout=2):
    """Send one HTTP request from ``client`` to ``address:port``.

    Returns ``{"reached": bool, "seconds": float, "detail": str}``; ``reached`` means an
    HTTP status line came back (busybox httpd answers 404 for ``/``, which still proves
    the port is reachable).
    """
    start = time.time()
    proc = docker("exec", client, "sh", "-c", REQUEST % (timeout, address, int(port)),
                  check=False, timeout=timeout + 30)
    seconds = round(time.time() - start, 2)
    out = proc.stdout.strip()
    reached = out.startswith("HTTP/")
    detail = out.splitlines()[0] if out else (proc.stderr.strip() or "rc=%d" % proc.returncode)
    return {"reached": reached, "seconds": seconds, "detail": detail}


def probe_many(jobs, timeout=2):
    """``jobs``: iterable of (client, address, port). Returns {job: result}, run at once."""
    jobs = list(jobs)
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        results = list(pool.map(lambda j: probe(j[0], j[1], j[2], timeout), jobs))
    return dict(zip(jobs, results))


class ProbeLoop(object):
    """Probe ``client -> address:port`` over and over in a thread while a block runs.

    ``with ProbeLoop(...) as loop: ...``; afterwards ``loop.results`` lists every probe
    (with ``at``, seconds since the start), ``loop.reached`` those that got an answer.
    Catches a window in which a port is open, which before/after probes cannot.
    """

    def __init__(self, client, address, port, timeout=1, pause=0.1):
        self.args = (client, address, port, timeout)
        self.pause = pause
        self.results = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.daemon = True

    def _run(self):
        start = time.time()
        while not self._stop.is_set():
            result = probe(*self.args)
            result["at"] = round(time.time() - start, 2)
            result["time"] = time.time()
            self.results.append(result)
            self._stop.wait(self.pause)

    @property
    def reached(self):
        return [r for r in self.results if r["reached"]]

    def wait_reached(self, since=0, timeout=30):
        """Wait for a probe sent after ``since`` (a time.time()) that got an answer."""
        wait_for(lambda: [r for r in self.reached if r["time"] - r["seconds"] >= since],
                 timeout=timeout, what="%s to reach %s:%s" % self.args[:3])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)
        return False


def wait_for(predicate, timeout=90, step=0.3, what="condition"):
    deadline = time.time() + timeout
    while True:
        if predicate():
            return
        if time.time() > deadline:
            raise LabError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(step)


def dockerd_running(node):
    return docker("exec", node, "docker", "info", "--format", "{{.ServerVersion}}",
                  check=False).returncode == 0


def stop_dockerd(node, timeout=60):
    """SIGTERM dockerd by its pid file; it stops the containers and removes the file."""
    node_sh(node, 'kill "$(cat /var/run/docker.pid)"')
    wait_for(lambda: node_sh(node, "test -e /var/run/docker.pid", check=False).returncode != 0,
             timeout=timeout, what="dockerd to exit in %s" % node)


def start_dockerd(node, command, timeout=90):
    """Start dockerd the way the node's own command line does, detached."""
    docker("exec", "--detach", node, "sh", "-c", command)
    wait_for(lambda: dockerd_running(node), timeout=timeout, what="dockerd in %s" % node)


def restart_dockerd(node, command, timeout=90):
    stop_dockerd(node, timeout)
    start_dockerd(node, command, timeout)


def wait_published(node, containers, ports, timeout=90):
    """Containers running (restart policy) and each host port DNATed in nat DOCKER."""
    def ready():
        proc = docker("exec", node, "docker", "inspect", "--format", "{{.State.Running}}",
                      *containers, check=False)
        if proc.returncode != 0 or set(proc.stdout.split()) != {"true"}:
            return False
        nat = node_sh(node, "iptables -t nat -S DOCKER", check=False).stdout
        return all("--dport %d " % int(p) in nat for p in ports)
    wait_for(ready, timeout=timeout, what="%s published %s in %s" % (
        ", ".join(containers), ", ".join(str(p) for p in ports), node))


def main(argv):
    if len(argv) != 5 or argv[1] != "probe":
        print(__doc__, file=sys.stderr)
        return 2
    address, ports, clients = argv[2], argv[3].split(","), argv[4].split(",")
    jobs = [(c, address, int(p)) for c in clients for p in ports]
    results = probe_many(jobs)
    out = []
    for job in jobs:
        r = dict(results[job], client=job[0], port=job[2], probe="%s -> %s:%d" % job)
        r["summary"] = "%s: %s in %.2f s (%s)" % (
            r["probe"], "reached" if r["reached"] else "NOT reached", r["seconds"], r["detail"])
        out.append(r)
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
