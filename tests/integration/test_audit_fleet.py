# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit playbook over a real fleet: drift between two audits, and hosts not audited.

Four lab nodes (docs/lab.md section 3: Docker in Docker; Docker 20.10 and 28.5) on a lab
network of their own, with two probe clients, ``allowed`` and ``later`` (busybox). Each
node publishes ``web`` on 8080, restricted in DOCKER-USER (docker_user_policy) to the
allowed client. ``dockerguard.firewall.audit`` runs as a user runs it
(``ansible-playbook -i INVENTORY dockerguard.firewall.audit``), twice:

1. every node passes; no drift (first audit), the reports are kept;
2. meanwhile on ``drift``: a second container published on 9090 and the allow-list of
   8080 widened to the ``later`` client; ``down``'s container is killed while the audit
   gathers (when the play reaches its second gather task); ``nodocker``'s dockerd is
   stopped before the play (its Docker facts fail). With ``exposure_audit_on_drift=fail``:
   - the fleet report opens with exactly two changes, both on ``drift``: 9090 new and
     8080 widened to the later client (and real probes agree: the later client gets in
     now, it did not before);
   - ``down`` and ``nodocker`` are listed as not audited, with Ansible's reason, and fail;
   - ``same`` is audited, unchanged, and passes; ``drift`` fails on the widened exposure
     although 8080 is still only reachable from expected sources.

Everything is labelled and removed at the end, also on failure.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from tests.lab import node as nodes
from tests.lab import playbook
from tests.lab.engine import docker, docker_unavailable, missing_images
from tests.lab.fleet import lab_id
from tests.lab.probe import probe

NODES = {"drift": "node-bookworm:local", "same": "node-forky:local",
         "down": "node-bookworm:local", "nodocker": "node-bookworm:local"}
HOSTNUM = {"drift": 11, "same": 12, "down": 13, "nodocker": 14}
CLIENTS = {"allowed": 10, "later": 20}
# the role's first task (its argument check, on the controller): the play runs, and "down"
# goes away while its facts are still to be read (the gather takes longer than the kill)
STARTED = "TASK [dockerguard.firewall.exposure_audit : Validating arguments"


class Fleet(object):
    def __init__(self):
        ident = lab_id()
        self.prefix = "dg-afl-%s" % ident
        self.label = "dg-afl=%s" % ident
        octet = 192 + int(hashlib.sha1(self.prefix.encode("utf-8")).hexdigest()[:4], 16) % 32
        self.net = "10.250.%d" % octet
        self.subnet = self.net + ".0/24"
        self.names = dict((n, "%s-%s" % (self.prefix, n)) for n in NODES)
        self.address = dict((n, "%s.%d" % (self.net, HOSTNUM[n])) for n in NODES)
        self.clients = dict((c, {"name": "%s-%s" % (self.prefix, c), "address": "%s.%d" % (self.net, h)})
                            for c, h in CLIENTS.items())
        self.tmp = tempfile.mkdtemp(prefix=self.prefix + "-")
        self.report_dir = os.path.join(self.tmp, "report")
        self.inventory = os.path.join(self.tmp, "inventory.json")

    def cleanup(self):
        nodes.remove_lab(self.label, self.prefix)

    def start(self):
        self.cleanup()
        nodes.start_lab(self.prefix, self.label, self.net,
                        dict((c["name"], c["address"]) for c in self.clients.values()),
                        [(n, self.names[n], NODES[n], self.address[n]) for n in NODES])
        hosts = dict((n, {"ansible_host": self.names[n]}) for n in NODES)
        with open(self.inventory, "w") as fh:
            json.dump({"all": {"hosts": hosts, "vars": {
                "ansible_connection": "community.docker.docker",
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_become": False,   # docker exec as root: no sudo in the nodes
                "exposure_audit_report_dir": self.report_dir,
                "exposure_audit_show": False,
                "exposure_audit_expected": [
                    {"name": "web", "ports": [8080], "from": [self.subnet]},
                    {"name": "extra", "ports": [9090], "from": "anywhere"}],
                "exposure_audit_sources": [
                    {"name": c, "address": v["address"]} for c, v in sorted(self.clients.items())],
            }}}, fh)
        return self

    def sh(self, n, script):
        return nodes.node_sh(self.names[n], script).stdout

    def allow(self, hosts, clients):
        """docker_user_policy on ``hosts``: 8080 from ``clients`` only."""
        play = [{"hosts": ",".join(hosts), "gather_facts": False, "tasks": [{
            "name": "Allow-list", "dockerguard.firewall.docker_user_policy": {"entries": [
                {"name": "web", "ports": [8080],
                 "allow": [self.clients[c]["address"] for c in clients]}]}}]}]
        path = os.path.join(self.tmp, "allow.json")
        with open(path, "w") as fh:
            json.dump(play, fh)
        proc = subprocess.run([playbook.binary("ansible-playbook"), "-i", self.inventory, path],
                              env=playbook.env(ANSIBLE_STDOUT_CALLBACK="default"), check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:]

    def audit(self, extra=(), on_line=None):
        """``ansible-playbook dockerguard.firewall.audit``; (rc, output). ``on_line(line)``
        sees each line of the output as it comes."""
        cmd = [playbook.binary("ansible-playbook"), "-i", self.inventory, "-f", "10",
               "dockerguard.firewall.audit"] + list(extra)
        proc = subprocess.Popen(cmd, env=playbook.env(ANSIBLE_STDOUT_CALLBACK="default",
                                                      PYTHONUNBUFFERED="1"),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if on_line:
                on_line(line)
        proc.wait(timeout=600)
        return proc.returncode, "".join(lines)

    def reached(self, client, n, port):
        return probe(self.clients[client]["name"], self.address[n], port)["reached"]

    def report(self, name):
        with open(os.path.join(self.report_dir, name)) as fh:
            return fh.read()


def recap(output):
    """{host: {ok, failed, unreachable, ...}} from the PLAY RECAP."""
    out = {}
    for m in re.finditer(r"^(\S+)\s+: ((?:\w+=\d+\s*)+)$", output, re.M):
        out[m.group(1)] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2)))
    return out


@pytest.fixture(scope="module")
def fleet():
    why = docker_unavailable() or missing_images([nodes.SERVICE_IMAGE] + sorted(set(NODES.values())))
    if why:
        pytest.skip(why)
    lab = Fleet()
    try:
        lab.start()
        for n in NODES:
            lab.sh(n, "docker run -d --name web -p 8080:80 %s httpd -f -p 80 -h /" % nodes.SERVICE_IMAGE)
        lab.allow(list(NODES), ["allowed"])
        yield lab
    finally:
        lab.cleanup()
        shutil.rmtree(lab.tmp, ignore_errors=True)


def test_drift_and_hosts_not_audited(fleet):
    # audit 1: everyone passes, first audit
    rc, out = fleet.audit()
    assert rc == 0, out[-4000:]
    first = json.loads(fleet.report("drift.json"))
    assert first["drift"]["status"] == "first" and first["summary"]["status"] == "pass"
    assert not fleet.reached("later", "drift", 8080) and fleet.reached("allowed", "drift", 8080)

    # between the audits: a new published port and a wider allow-list on "drift";
    # "nodocker" loses its dockerd (its facts will fail)
    fleet.sh("drift", "docker run -d --name extra -p 9090:80 %s httpd -f -p 80 -h /"
             % nodes.SERVICE_IMAGE)
    fleet.allow(["drift"], ["allowed", "later"])
    nodes.stop_dockerd(fleet.names["nodocker"])
    assert fleet.reached("later", "drift", 8080) and fleet.reached("later", "drift", 9090)

    # audit 2: "down" is killed while the play gathers
    killed = []

    def kill_down(line):
        if not killed and line.startswith(STARTED):
            docker("kill", fleet.names["down"], check=False)
            killed.append(time.time())
    rc, out = fleet.audit(["-e", "exposure_audit_on_drift=fail"], on_line=kill_down)
    assert killed, "the play never reached the role:\n" + out[-3000:]
    assert rc != 0
    stats = recap(out)
    assert stats["same"]["failed"] == 0 and stats["same"]["unreachable"] == 0, stats
    assert stats["down"]["failed"] == 1 and stats["nodocker"]["failed"] == 1, stats
    assert stats["drift"]["failed"] == 1, stats  # exposure widened, on_drift=fail
    assert re.search(r'"NOT AUDITED: down, nodocker"', out), out[-3000:]
    assert "exposure widened since the last audit" in out

    # exactly the two changes, on "drift"
    report = json.loads(fleet.report("drift.json"))
    changes = report["drift"]["changes"]
    assert sorted((c["port"], c["kinds"][0]) for c in changes) == [
        ("8080/tcp", "widened"), ("9090/tcp", "new")], json.dumps(changes, indent=1)[:3000]
    widened = [c for c in changes if c["port"] == "8080/tcp"][0]
    assert widened["widened_to"] == fleet.clients["later"]["address"] + "/32"
    assert widened["sources"] == [{"name": "later", "address": fleet.clients["later"]["address"],
                                   "before": "filtered", "after": "exposed"}]
    assert widened["before"]["verdict"] == widened["after"]["verdict"] == "expected"
    assert any("-s %s" % fleet.clients["later"]["address"] in r["rule"] or
               fleet.clients["later"]["address"] in r["rule"] for r in widened["rules_added"])
    assert report["summary"]["status"] == "pass"   # still as expected: drift alone fails it
    same = json.loads(fleet.report("same.json"))
    assert same["drift"]["status"] == "unchanged" and same["summary"]["status"] == "pass"

    # the fleet report opens with the drift, names the hosts not audited and why
    md = fleet.report("report.md")
    heads = [ln for ln in md.splitlines() if ln.startswith("## ")]
    assert heads[:2] == ["## Changes since the last audit", "## Not audited"], heads
    drift_rows = [ln for ln in md.split("## Not audited")[0].splitlines() if ln.startswith("| drift |")]
    assert len(drift_rows) == 2, drift_rows
    missing = dict(re.findall(r"^\| (down|nodocker) \| (.*) \|$", md, re.M))
    assert sorted(missing) == ["down", "nodocker"], md[:3000]
    assert missing["down"].startswith("unreachable:") or "not running" in missing["down"], missing
    assert "docker" in missing["nodocker"].lower(), missing
    assert "| same |" in md and "Unchanged: same." in md
    page = fleet.report("index.html")
    assert len(re.findall(r'<tr class="drift-row" data-host="drift"', page)) == 2
    assert len(re.findall(r'<tr class="missing-row" data-host="(down|nodocker)"', page)) == 2
    print("\n".join(drift_rows + ["down: " + missing["down"][:200], "nodocker: " + missing["nodocker"][:200]]))

    # audit 3, warnings instead of failures: "same" publishes a port nobody expects; it
    # is not failed, and its output warns of the unexpected exposure and of the change
    fleet.sh("same", "docker run -d --name extra -p 7070:80 %s httpd -f -p 80 -h /" % nodes.SERVICE_IMAGE)
    rc, out = fleet.audit(["-e", "exposure_audit_on_unexpected=warn", "-e", "exposure_audit_on_drift=warn"])
    stats = recap(out)
    assert stats["same"]["failed"] == 0, out[-3000:]
    shown = out.split("TASK [dockerguard.firewall.exposure_audit : Show")[1].split("TASK [")[0]
    same = shown.split("ok: [same]")[1].split("ok: [")[0]
    assert '"WARNING: exposure not as expected"' in same, shown
    assert re.search(r'"WARNING: exposure changed since the last audit \(\d{4}-', same), shown
    assert re.search(r'7070/tcp \(container extra\) on \w+: new published port', same), shown
