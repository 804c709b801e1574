"""host_input_policy with real packets: a 'host' namespace serving on 8080 and two
client namespaces, one allowed and one not; plus confirm-or-roll-back for real."""
import json
import os
import subprocess
import sys
import time

import pytest

from ansible_run import playbook
from tests.lab.netns import can_use_netns, namespace, sh

pytestmark = pytest.mark.skipif(bool(can_use_netns()), reason=str(can_use_netns()))

ALLOWED, DENIED = "10.250.3.10", "10.250.4.20"
HOST_A, HOST_B = "10.250.3.1", "10.250.4.1"
POLICY = {"entries": [{"name": "web", "ports": [8080], "allow": [ALLOWED]}],
          "ssh_sources": [ALLOWED]}

PROBE = ("import socket,sys\n"
         "s=socket.socket(); s.settimeout(1.5)\n"
         "try:\n"
         "    s.connect((sys.argv[1], int(sys.argv[2]))); print('open')\n"
         "except ConnectionRefusedError: print('refused')\n"
         "except OSError: print('timeout')\n")


def probe(client, address, port=8080):
    return sh(sys.executable, "-c", PROBE, address, str(port), ns=client).strip()


@pytest.fixture()
def lab():
    """host <-veth-> a (allowed), host <-veth-> b (denied); a listener on host:8080."""
    with namespace("dg-it-hh") as host, namespace("dg-it-ca") as a, namespace("dg-it-cb") as b:
        for client, link, haddr, caddr in ((a, "dgA", HOST_A, ALLOWED), (b, "dgB", HOST_B, DENIED)):
            sh("ip", "link", "add", link + "h", "netns", host, "type", "veth",
               "peer", "name", link + "c", "netns", client)
            sh("ip", "addr", "add", haddr + "/24", "dev", link + "h", ns=host)
            sh("ip", "link", "set", link + "h", "up", ns=host)
            sh("ip", "addr", "add", caddr + "/24", "dev", link + "c", ns=client)
            sh("ip", "link", "set", link + "c", "up", ns=client)
        server = subprocess.Popen(
            ["ip", "netns", "exec", host, sys.executable, "-c",
             "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
             "s.bind(('0.0.0.0', 8080)); s.listen(50)\n"
             "held = []\n"
             "while True:\n    held.append(s.accept()[0])\n"])
        try:
            for dummy in range(50):
                if probe(a, HOST_A) == "open":
                    break
                time.sleep(0.1)
            yield host, a, b
        finally:
            server.kill()
            server.wait()


def without_comments(text):
    return [line for line in text.splitlines() if not line.startswith("#")]


def apply(ns, args, extra=()):
    tasks = ("    - name: Apply\n"
             "      dockerguard.firewall.host_input_policy: %s\n"
             "      register: out\n"
             "      ignore_errors: true\n" % json.dumps(args))
    return playbook(tasks, ns=ns, extra_args=extra)


def test_allowed_served_denied_dropped_idempotent(lab):
    host, a, b = lab
    assert probe(a, HOST_A) == "open" and probe(b, HOST_B) == "open"  # no policy yet
    rc, out, log = apply(host, POLICY)
    assert out["changed"] is True, log
    assert probe(a, HOST_A) == "open"
    assert probe(b, HOST_B) == "timeout"
    saved = sh("iptables-save", "-t", "filter", ns=host)
    assert "-A INPUT -j DOCKERGUARD-INPUT" in saved
    assert '-A DOCKERGUARD-INPUT -i lo -m comment --comment "dockerguard: loopback" -j RETURN' in saved
    assert ("-A DOCKERGUARD-INPUT -s %s/32 -p tcp -m tcp --dport 22 -m comment "
            "--comment \"dockerguard: controller ssh\" -j RETURN" % ALLOWED) in saved
    assert apply(host, POLICY)[1]["changed"] is False
    # reject answers at once instead of a silent drop
    apply(host, dict(POLICY, action="reject"))
    assert probe(b, HOST_B) == "refused" and probe(a, HOST_A) == "open"
    apply(host, {"state": "absent"})
    assert probe(b, HOST_B) == "open"
    assert "DOCKERGUARD" not in sh("iptables-save", ns=host)


def test_established_connection_survives_a_policy_that_denies_it(lab):
    host, a, b = lab
    # b is allowed at first (conntrack then tracks its connection, as on any host
    # where Docker's own conntrack rules are loaded)...
    first = {"entries": [{"name": "web", "ports": [8080], "allow": [ALLOWED, DENIED]}]}
    assert apply(host, first)[1]["changed"] is True
    code = ("import socket,sys,time\n"
            "s=socket.socket(); s.connect((sys.argv[1], 8080))\n"
            "print('connected', flush=True); sys.stdin.readline()\n"
            "s.send(b'x'); print('sent', flush=True)\n")
    client = subprocess.Popen(["ip", "netns", "exec", b, sys.executable, "-c", code, HOST_B],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "connected"
        # ...then a policy without b is applied while b's connection is open.
        assert apply(host, POLICY)[1]["changed"] is True
        assert probe(b, HOST_B) == "timeout"  # new connections from b are dropped...
        client.stdin.write("\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "sent"  # ...the open one still works
        count = sh("iptables", "-L", "DOCKERGUARD-INPUT", "-v", "-n", "-x", ns=host).splitlines()[2]
        assert int(count.split()[0]) > 0  # and it went through our RELATED,ESTABLISHED rule
    finally:
        client.kill()
        client.wait()


def test_no_confirmation_rolls_back_only_our_chain(lab, tmp_path):
    host, a, b = lab
    apply(host, {"entries": [{"name": "old", "ports": [9999], "allow": [ALLOWED]}]})
    before = sh("iptables-save", "-t", "filter", ns=host)
    confirm = str(tmp_path / "confirm")
    rc, out, log = apply(host, dict(POLICY, rollback_timeout=2, confirm_file=confirm))
    assert out["failed"] is True and out["rolled_back"] is True
    assert "rolled back" in out["msg"]
    after = sh("iptables-save", "-t", "filter", ns=host)
    assert without_comments(after) == without_comments(before)
    assert probe(b, HOST_B) == "open"
    assert not os.path.exists(confirm + ".applied")


def test_confirmation_keeps_the_change(lab, tmp_path):
    """The role's sequence: apply async, reconnect, confirm, collect the result."""
    host, a, b = lab
    confirm = str(tmp_path / "confirm")
    args = dict(POLICY, rollback_timeout=20, confirm_file=confirm)
    tasks = ("    - name: Apply, rolled back unless confirmed\n"
             "      dockerguard.firewall.host_input_policy: %s\n"
             "      async: 60\n"
             "      poll: 0\n"
             "      register: job\n"
             "    - name: Wait until the change is in place\n"
             "      ansible.builtin.wait_for:\n"
             "        path: %s.applied\n"
             "        timeout: 20\n"
             "    - name: Confirm\n"
             "      ansible.builtin.file:\n"
             "        path: %s\n"
             "        state: touch\n"
             "        mode: '0600'\n"
             "    - name: Collect\n"
             "      ansible.builtin.async_status:\n"
             "        jid: '{{ job.ansible_job_id }}'\n"
             "      register: out\n"
             "      until: out.finished\n"
             "      retries: 40\n"
             "      delay: 0.5\n" % (json.dumps(args), confirm, confirm))
    started = time.time()
    rc, out, log = playbook(tasks, ns=host)
    assert out["changed"] is True and out["rolled_back"] is False, log
    assert time.time() - started < 15  # confirmed, not timed out
    assert probe(b, HOST_B) == "timeout" and probe(a, HOST_A) == "open"
    assert not os.path.exists(confirm) and not os.path.exists(confirm + ".applied")


def test_default_deny_is_refused_for_input(lab):
    host, a, b = lab
    rc, out, log = apply(host, {"entries": [{"ports": [8080], "allow": ["10.250.0.0/33"]}]})
    assert out["failed"] and "10.250.0.0/33" in out["msg"]
    assert "DOCKERGUARD" not in sh("iptables-save", ns=host)
