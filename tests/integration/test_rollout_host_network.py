# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The safe rollout of ``deploy_host_network`` on a real fleet, proven with real packets.

Three lab nodes (docs/lab.md section 3: Docker in Docker), the canary and a third node on
Docker 20.10 (``node-bookworm:local``), one on Docker 28.5 (``node-forky:local``), on a lab
network of their own with two probe clients, ``allowed`` and ``denied`` (busybox). Each
node already publishes ``other`` with ``-p 9090:80`` (expected from anywhere). The
service to roll out is ``web``: busybox httpd on the host's network, port 8080, which
``exposure_audit_expected`` says the allowed client must reach (and nobody else). It is
new on ``forky`` and ``bookworm2``; the canary runs it already the seeds' way, with
``-p 8080:80`` (both clients get in): there the rollout is the migration.

``ansible-playbook dockerguard.firewall.deploy_host_network`` runs as a user runs it
(from a directory of its own, so ``rollout-report/`` and ``exposure-report/`` land
there; ``rollout_serial`` ``[1, "100%"]`` - the canary, then the rest - and the allow-list given with ``-e``):

1. ``--check`` with a wrong allow-list (the denied client instead of the allowed one)
   predicts, for the new service's nodes, that the allowed client would not be served:
   the rollout would stop. (For the migrating canary the prediction cannot see it: Docker's
   DNAT of the ``-p`` container is still in the ruleset the preview judges, see
   README.) Nothing changes on any node (rules, registry, containers byte-identical).
2. The wrong allow-list for real: the canary regresses (the allowed client lost access),
   is put back (the host-network service removed, no chain of ours, no registry, the
   ``-p`` container kept aside started again: every rule, file and container ID as
   captured before), the rollout stops after it, no other node was touched, and
   ``rollout-report/rollout.json`` names the host, the port and the source. Real
   probes: the allowed client is served again on the canary (and the denied one, as
   before); 8080 is served to nobody on the other nodes, as before; 9090 to both.
3. The right allow-list rolls out to all three (the canary, then two), the canary
   migrated without a regression (its ``-p`` port and the host-network one are the same
   port); real probes from both clients to 8080 and 9090 on every node agree with the
   final audit report.

Everything is labelled and removed at the end, also on failure.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from tests.lab import node as nodes
from tests.lab import playbook
from tests.lab.engine import docker_unavailable, missing_images
from tests.lab.fleet import lab_id
from tests.lab.probe import probe_many
from tests.lab.verdicts import check_probes

# In inventory order: the first is the canary.
NODES = (("canary", "node-bookworm:local"), ("forky", "node-forky:local"),
         ("bookworm2", "node-bookworm:local"))
HOSTNUM = {"canary": 11, "forky": 12, "bookworm2": 13}
CLIENTS = {"allowed": 10, "denied": 20}
PORT, OTHER = 8080, 9090
MIGRATED = "canary"  # runs web with -p 8080:80 before the rollout
# A canary, then the rest at once (two batches after the canary would double the runtime).
SERIAL = '{"rollout_serial": [1, "100%"]}'
# A node's state as this test compares it: rules (no counters), our files, containers.
CAPTURE = (
    "iptables -S; iptables -t nat -S; ip6tables -S 2>/dev/null; ip6tables -t nat -S 2>/dev/null; "
    "for f in $(find /etc/dockerguard /usr/local/sbin /etc/systemd/system -name '*dockerguard*' "
    "-type f 2>/dev/null | sort) /etc/dockerguard/host_network_services.json; do "
    "echo \"# $f:\"; cat \"$f\" 2>/dev/null || echo absent; done; echo '# containers:'; "
    "docker ps -a --no-trunc --format '{{.ID}} {{.Names}} {{.Image}} {{.Command}}' | sort")


class Fleet(object):
    def __init__(self):
        ident = lab_id()
        self.prefix = "dg-rhn-%s" % ident
        self.label = "dg-rhn=%s" % ident
        octet = 224 + int(hashlib.sha1(self.prefix.encode("utf-8")).hexdigest()[:4], 16) % 24
        self.net = "10.250.%d" % octet
        self.order = [n for n, _image in NODES]
        self.names = dict((n, "%s-%s" % (self.prefix, n)) for n in self.order)
        self.address = dict((n, "%s.%d" % (self.net, HOSTNUM[n])) for n in self.order)
        self.clients = dict((c, {"name": "%s-%s" % (self.prefix, c), "address": "%s.%d" % (self.net, h)})
                            for c, h in CLIENTS.items())
        self.tmp = tempfile.mkdtemp(prefix=self.prefix + "-")
        self.inventory = os.path.join(self.tmp, "inventory.json")

    def cleanup(self):
        nodes.remove_lab(self.label, self.prefix)

    def start(self):
        self.cleanup()

        def prepare(n, container):
            for name, port in [("other", OTHER)] + ([("web", PORT)] if n == MIGRATED else []):
                nodes.node_sh(container, "docker run -d --name %s -p %d:80 %s httpd -f -p 80 -h /"
                              % (name, port, nodes.SERVICE_IMAGE))
        nodes.start_lab(self.prefix, self.label, self.net,
                        dict((c["name"], c["address"]) for c in self.clients.values()),
                        [(n, self.names[n], image, self.address[n]) for n, image in NODES], prepare)
        # A JSON inventory keeps the hosts in this order: the canary first.
        hosts = dict((n, {"ansible_host": self.names[n]}) for n in self.order)
        with open(self.inventory, "w") as fh:
            json.dump({"all": {"hosts": hosts, "vars": {
                "ansible_connection": "community.docker.docker",
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_become": False,   # docker exec as root: no sudo in the nodes
                "exposure_audit_show": False,
                "exposure_audit_expected": [
                    {"name": "web", "ports": [PORT], "from": [self.clients["allowed"]["address"]]},
                    {"name": "other", "ports": [OTHER], "from": "anywhere"}],
                "exposure_audit_sources": [
                    {"name": c, "address": v["address"]} for c, v in sorted(self.clients.items())],
                # the service: busybox httpd listening on 8080 itself, on the host's network
                "host_network_name": "web",
                "host_network_image": nodes.SERVICE_IMAGE,
                "host_network_command": "httpd -f -p %d -h /" % PORT,
                "host_network_ports": [PORT],
                "host_network_stop_timeout": 1,   # busybox httpd as PID 1 ignores SIGTERM
                "host_network_rollback_timeout": 30,
                "host_network_connection_timeout": 20,
            }}}, fh)
        return self

    def policy(self, client):
        """An extra-vars file: 8080 allowed from ``client`` only."""
        path = os.path.join(self.tmp, "policy-%s.json" % client)
        with open(path, "w") as fh:
            json.dump({"host_network_allow": [self.clients[client]["address"]]}, fh)
        return path

    def deploy(self, *extra):
        """``ansible-playbook dockerguard.firewall.deploy_host_network`` from the fleet's
        directory; (rc, output)."""
        cmd = [playbook.binary("ansible-playbook"), "-i", self.inventory, "-f", "5",
               "-e", SERIAL, "dockerguard.firewall.deploy_host_network"] + list(extra)
        start = time.time()
        env = playbook.env(ANSIBLE_STDOUT_CALLBACK="default", PWD=self.tmp,
                           ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
        proc = subprocess.run(cmd, cwd=self.tmp, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=600, check=False)
        secs = round(time.time() - start, 1)
        # the slowest tasks (profile_tasks), for whoever reads the test's output
        print("\n".join(["%s: rc=%d in %.1fs" % (" ".join(extra), proc.returncode, secs)]
                        + proc.stdout.split("TASKS RECAP")[-1].splitlines()[3:11]))
        return proc.returncode, proc.stdout

    def capture(self):
        """Every node's state, by node."""
        return dict((n, nodes.node_sh(self.names[n], CAPTURE).stdout) for n in self.order)

    def seen(self):
        """{(client, node, port): reached} from real requests, all at once."""
        jobs = [(self.clients[c]["name"], self.address[n], p)
                for n in self.order for c in sorted(self.clients) for p in (PORT, OTHER)]
        names = dict((v["name"], c) for c, v in self.clients.items())
        nodes_by_address = dict((a, n) for n, a in self.address.items())
        return dict(((names[c], nodes_by_address[a], p), r["reached"])
                    for (c, a, p), r in probe_many(jobs).items())

    def check_probes(self, n, want, when):
        """tests.lab.verdicts.check_probes on node ``n``: ``want`` {(client, port): reached}."""
        v = {"ansible_host": self.names[n], "lab_address": self.address[n],
             "docker_user_action": "drop"}
        check_probes(v, when, dict(((self.clients[c]["name"], p), r) for (c, p), r in want.items()))

    def read(self, *path):
        with open(os.path.join(self.tmp, *path)) as fh:
            return json.load(fh)


@pytest.fixture(scope="module")
def fleet():
    why = docker_unavailable() or missing_images([nodes.SERVICE_IMAGE] + sorted(set(image for _name, image in NODES)))
    if why:
        pytest.skip(why)
    lab = Fleet()
    try:
        lab.start()
        lab.before = lab.capture()
        yield lab
    finally:
        lab.cleanup()
        shutil.rmtree(lab.tmp, ignore_errors=True)


def test_check_predicts_the_regression_and_changes_nothing(fleet):
    rc, out = fleet.deploy("--check", "-e", "@" + fleet.policy("denied"))
    assert rc == 0, out[-5000:]
    print("\n".join(ln for ln in out.splitlines() if "REGRESSION" in ln or "rollout would stop" in ln))
    assert "fleet: the rollout would stop: 2 regression(s) on bookworm2, forky" in out, out[-5000:]
    for n in ("forky", "bookworm2"):
        assert "%s: %d/tcp on eth0 (container web)" % (n, PORT) in out, out[-5000:]
    assert "allowed (%s) not served (filtered)" % fleet.clients["allowed"]["address"] in out, out[-5000:]
    assert fleet.capture() == fleet.before
    assert not os.path.exists(os.path.join(fleet.tmp, "rollout-report"))


def test_wrong_policy_stops_after_the_canary_which_is_put_back(fleet):
    rc, out = fleet.deploy("-e", "@" + fleet.policy("denied"))
    assert rc != 0, out[-5000:]
    assert "Rollout stopped after batch canary: regressed" in out, out[-5000:]
    rollout = fleet.read("rollout-report", "rollout.json")
    print(rollout["text"])
    assert rollout["status"] == "stopped", rollout["text"]
    assert rollout["counts"]["regressed"] == 1 and rollout["counts"]["not started"] == 2, rollout["text"]
    canary = rollout["hosts"][0]
    assert canary["host"] == "canary" and canary["status"] == "regressed", rollout["text"]
    assert canary["restore"] == [], rollout["text"]
    assert [r["port"] for r in canary["regressions"]] == ["%d/tcp" % PORT], rollout["text"]
    sources = canary["regressions"][0]["sources"]
    assert [(s["name"], s["address"]) for s in sources] == [
        ("allowed", fleet.clients["allowed"]["address"])], rollout["text"]
    assert "DOCKERGUARD-INPUT" in (sources[0]["path"] or ""), rollout["text"]
    assert "lost access (exposed -> filtered)" in canary["regressions"][0]["text"], rollout["text"]
    # put back exactly: every node's rules, files and containers as captured before
    after = fleet.capture()
    for n in fleet.order:
        assert after[n] == fleet.before[n], "%s differs:\n%s\n---\n%s" % (n, fleet.before[n], after[n])
    # real packets: the new service is gone again, the migration node as it was, 9090 untouched
    for n in fleet.order:
        fleet.check_probes(n, {("allowed", PORT): n == MIGRATED, ("denied", PORT): n == MIGRATED,
                               ("allowed", OTHER): True, ("denied", OTHER): True},
                           "after the stopped rollout")


def test_good_policy_rolls_out_to_every_node(fleet):
    rc, out = fleet.deploy("-e", "@" + fleet.policy("allowed"))
    assert rc == 0, out[-5000:]
    rollout = fleet.read("rollout-report", "rollout.json")
    print(rollout["text"])
    assert rollout["status"] == "complete" and rollout["counts"]["rolled out"] == 3, rollout["text"]
    assert [h["batch"] for h in rollout["hosts"]] == [["canary"], ["forky", "bookworm2"], ["forky", "bookworm2"]], \
        rollout["text"]
    # the migrated canary's -p container, kept aside during its batch, is gone
    names = nodes.node_sh(fleet.names[MIGRATED], "docker ps -a --format '{{.Names}}'").stdout.split()
    assert sorted(names) == ["other", "web"], names
    seen = fleet.seen()
    for n in fleet.order:
        report = fleet.read("exposure-report", "%s.json" % n)
        assert report["summary"]["status"] == "pass", json.dumps(report["findings"])[:3000]
        said = dict(((p["source"]["name"], int(r["port"].split("/")[0])), p["verdict"] == "exposed")
                    for r in report["rows"] if r["family"] == "ipv4" and r["interface"] == "eth0"
                    for p in r["probes"] if p["role"] == "named")
        assert sorted(said) == [("allowed", PORT), ("allowed", OTHER), ("denied", PORT), ("denied", OTHER)], said
        saw = dict(((c, p), seen[(c, n, p)]) for c in CLIENTS for p in (PORT, OTHER))
        assert said == saw, "%s: report %s, probes %s" % (n, said, saw)
        assert said == {("allowed", PORT): True, ("denied", PORT): False,
                        ("allowed", OTHER): True, ("denied", OTHER): True}, said
        fleet.check_probes(n, said, "after the rollout")
        kind = [r["kind"] for r in report["rows"] if r["port"] == "%d/tcp" % PORT]
        assert kind and set(kind) == {"host-network"}, kind
