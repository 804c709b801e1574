# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify the host_network role on a real node (Docker 20.10) with real traffic.

Runs after converge, idempotence and the side effect (a lock-out policy, rolled back):
1. before the migration (recorded by prepare.yml): with `-p 8080:80` the denied client
   reached the service despite the INPUT rule meant to stop it: the seeds' problem,
   shown as an expected failure;
2. after: the container runs on the host's network, no docker-proxy and no DNAT for
   8080; the allowed client and the controller are served, the denied client is not;
3. the side effect was reported as rolled back and left the rules exactly as they were;
4. the boot path: with our chain removed (as at boot), exactly what boot runs puts it
   back and the probes give the same answers.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import socket

import pytest

# tests.lab: the repository root is on PYTHONPATH (molecule.yml verifier.env)
from tests.lab.probe import probe_many

testinfra_hosts = ["ansible://bookworm"]

NAME = "web"
PORT = 8080
CHAIN = "DOCKERGUARD-INPUT"
CONFIG = "/etc/dockerguard/host_network.json"
REGISTRY = "/etc/dockerguard/host_network_services.json"
UNIT = "/etc/systemd/system/dockerguard-input.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/dockerguard-input.service"


def record(name):
    path = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", ""), name)
    if not os.path.exists(path):
        pytest.skip("%s not recorded (run the whole scenario: molecule test)" % path)
    with open(path) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def v(host):
    return host.ansible.get_variables()


def probes(v):
    """{'allowed': reached, 'denied': reached} from the probe clients, at once."""
    jobs = [(v["lab_clients"][c]["name"], v["lab_address"], PORT) for c in ("allowed", "denied")]
    results = probe_many(jobs)
    return dict((c, results[job]["reached"]) for c, job in zip(("allowed", "denied"), jobs))


def controller_reaches(v):
    """The confirm probe's path: a TCP connection from this machine (the lab gateway)."""
    try:
        socket.create_connection((v["lab_address"], PORT), timeout=3).close()
        return True
    except OSError:
        return False


def ours(host):
    rules = host.check_output("iptables -S %s", CHAIN).splitlines()
    return [r for r in rules if r.startswith("-A ")]


# 1. Before the migration ----------------------------------------------------------------

def test_before_migration_the_input_rule_was_bypassed():
    before = record("host_network_before.json")
    reached = dict((p["client"].rsplit("-", 1)[1], p["reached"]) for p in before["probes"])
    assert reached == {"allowed": True, "denied": True}, before
    assert any("docker-proxy" in ln for ln in before["listeners"]), before["listeners"]
    assert before["input_rules"][-1].endswith("-j DROP")


@pytest.mark.xfail(strict=True, reason="the seeds' problem: -p publishing is DNATed and "
                                       "forwarded, INPUT never sees the denied client")
def test_before_migration_the_denied_client_was_refused():
    before = record("host_network_before.json")
    denied = [p for p in before["probes"] if p["client"].endswith("-denied")][0]
    assert not denied["reached"], denied["summary"]


# 2. After the migration -----------------------------------------------------------------

def test_the_service_runs_on_the_hosts_network(host):
    out = host.check_output(
        "docker inspect --format '{{.HostConfig.NetworkMode}} {{json .HostConfig.PortBindings}} "
        "{{.HostConfig.RestartPolicy.Name}} {{.State.Running}} {{json .Config.Cmd}}' %s", NAME)
    mode, bindings, restart, running, cmd = out.split(" ", 4)
    assert (mode, restart, running) == ("host", "unless-stopped", "true")
    assert bindings in ("{}", "null")
    assert json.loads(cmd) == ["httpd", "-f", "-p", str(PORT), "-h", "/"]


def test_docker_proxy_no_longer_listens_and_nothing_is_dnated(host):
    listeners = host.check_output("ss -Hltnp 'sport = :%d'" % PORT)
    assert "httpd" in listeners and "docker-proxy" not in listeners, listeners
    assert host.run("pgrep -x docker-proxy").rc == 1
    assert "--dport %d" % PORT not in host.check_output("iptables -t nat -S DOCKER")


def test_allowed_and_controller_served_denied_refused(host, v):
    assert probes(v) == {"allowed": True, "denied": False}
    assert controller_reaches(v)


def test_our_chain_is_jumped_to_first_from_input(host, v):
    assert host.check_output("iptables -S INPUT").splitlines()[1] == "-A INPUT -j %s" % CHAIN
    allowed, gateway = v["lab_clients"]["allowed"]["address"], v["lab_gateway"]
    assert ours(host) == [
        '-A %s -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment '
        '"dockerguard: replies" -j RETURN' % CHAIN,
        '-A %s -i lo -m comment --comment "dockerguard: loopback" -j RETURN' % CHAIN,
        '-A %s -s %s/32 -p tcp -m tcp --dport %d -m comment --comment "dockerguard: web allow" '
        '-j RETURN' % (CHAIN, allowed, PORT),
        '-A %s -s %s/32 -p tcp -m tcp --dport %d -m comment --comment "dockerguard: web allow" '
        '-j RETURN' % (CHAIN, gateway, PORT),
        '-A %s -p tcp -m tcp --dport %d -m comment --comment "dockerguard: web deny" -j DROP'
        % (CHAIN, PORT),
    ]


def test_the_service_and_the_policy_are_saved(host, v):
    registry = json.loads(host.file(REGISTRY).content_string)
    assert list(registry["services"]) == [NAME]
    service = registry["services"][NAME]
    assert service["ports"] == ["%d/tcp" % PORT]
    saved = json.loads(host.file(CONFIG).content_string)
    assert saved["hook"] == "INPUT" and saved["chain"] == CHAIN
    assert saved["entries"] == service["entries"]
    assert saved["entries"][0]["allow"] == [v["lab_clients"]["allowed"]["address"], v["lab_gateway"]]
    assert host.file(WANTS).linked_to == UNIT


# 3. The side effect: a lock-out policy ---------------------------------------------------

def test_the_lockout_policy_was_rolled_back_and_reported():
    lockout = record("host_network_lockout.json")
    assert lockout["rolled_back"] is True
    assert "ROLLED BACK" in lockout["error"] and "Timeout when waiting for" in lockout["error"]
    assert lockout["after"] == lockout["before"]


# 4. The boot path ------------------------------------------------------------------------

def test_boot_path_puts_the_chain_back(host, v):
    exec_start = [ln.split("=", 1)[1] for ln in host.file(UNIT).content_string.splitlines()
                  if ln.startswith("ExecStart=")]
    assert exec_start == ["/usr/local/sbin/dockerguard-input-apply"]
    wanted = ours(host)
    host.check_output("iptables -D INPUT -j %s && iptables -F %s && iptables -X %s",
                      CHAIN, CHAIN, CHAIN)
    assert probes(v)["denied"] is True  # nothing restricts 8080 now
    out = host.check_output(exec_start[0])
    assert "ipv4: %s applied" % CHAIN in out, out
    assert ours(host) == wanted
    assert host.check_output("iptables -S INPUT").splitlines()[1] == "-A INPUT -j %s" % CHAIN
    assert probes(v) == {"allowed": True, "denied": False}
    assert host.run("%s --check", exec_start[0]).rc == 0
