# -*- coding: utf-8 -*-
"""exposure_facts and exposure_report_files, for real (docs/lab.md).

- exposure_facts on a Docker 28.5 lab node (node-forky:local, through the
  community.docker.docker connection) returns exactly what iptables_facts, nftables_facts
  and docker_network_facts return there, one run against three;
- exposure_report_files, in ansible-playbook on the controller, writes every host's JSON
  and the fleet report as the exposure_report filter renders it; an unchanged re-run
  changes nothing, check mode writes nothing, and a report it cannot name a file after is
  refused before any file is written;
- exposure_host_audit audits the node in one task (facts gathered on it, the report made on
  the controller, its drift from the kept file) and sets the facts it gathered, audits
  again from those facts without running anything on the node, and returns a host that
  cannot be reached as not audited, with the reason, without failing it.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import re
import subprocess

import pytest

from tests.lab import node as lab_node
from tests.lab import playbook as lab_ansible
from tests.lab.engine import docker_unavailable, image_present

NODE = "dg-it-efacts-%d" % (os.getpid() % 100000)
NODE_IMAGE = "node-forky:local"
WHY = docker_unavailable()
needs_docker = pytest.mark.skipif(bool(WHY), reason=WHY or "docker available")


@pytest.fixture(scope="module")
def node(request, tmp_path_factory):
    if not image_present(NODE_IMAGE):
        pytest.skip("lab image %s missing (scripts/lab/images.sh forky)" % NODE_IMAGE)
    request.addfinalizer(lambda: lab_node.stop_node(NODE))
    lab_node.start_node(NODE, NODE_IMAGE)
    lab_node.load_image(NODE)
    lab_node.node_exec(NODE, "docker", "run", "-d", "--name", "web", "-p", "8080:80",
                       lab_node.SERVICE_IMAGE, "httpd", "-f", "-p", "80", "-h", "/")
    lab_node.wait_published(NODE, ["web"], [8080])
    if lab_node.node_exec(NODE, "python3", "-c", "import docker", check=False).returncode:
        lab_node.install_sdk(NODE)
    inventory = lab_ansible.write_inventory([NODE], local=True)
    request.addfinalizer(lambda: os.unlink(inventory))
    return inventory


def facts(inventory, module):
    result = lab_ansible.run_module(inventory, NODE, "dockerguard.firewall." + module, timeout=300)
    assert not result.get("failed") and result.get("changed") is False, result.get("msg")
    return result["ansible_facts"]


def test_docs_render():
    for name in ("exposure_facts", "exposure_report_files", "exposure_host_audit"):
        proc = subprocess.run([lab_ansible.binary("ansible-doc"), "dockerguard.firewall." + name],
                              env=lab_ansible.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=120, check=False)
        assert proc.returncode == 0 and "WARNING" not in proc.stderr.upper(), proc.stderr
        assert "RETURN VALUES" in proc.stdout, proc.stdout[-2000:]


@needs_docker
@pytest.mark.smoke
def test_one_run_gives_the_three_fact_sets(node):
    combined = facts(node, "exposure_facts")
    assert set(combined) == {"iptables", "nftables", "docker_network"}
    assert combined["iptables"] == facts(node, "iptables_facts")["iptables"]
    assert combined["nftables"] == facts(node, "nftables_facts")["nftables"]
    docker = facts(node, "docker_network_facts")["docker_network"]
    for part in ("containers", "networks", "interfaces", "listeners", "default_routes"):
        assert combined["docker_network"][part] == docker[part], part
    assert combined["docker_network"]["daemon"]["server_version"].startswith("28.")
    web = [c for c in combined["docker_network"]["containers"] if c["name"] == "web"][0]
    assert [p["host_port"] for p in web["ports"] if p["family"] == "ipv4"] == [8080]
    # the rulesets hold Docker's DNAT of that port
    nat = combined["iptables"]["ipv4"]["tables"]["nat"]["chains"]["DOCKER"]["rules"]
    assert any("--dport 8080" in r["rule"] for r in nat), nat


PLAYBOOK = """
- hosts: %(node)s
  gather_facts: false
  tasks:
    - dockerguard.firewall.exposure_facts:
    - ansible.builtin.set_fact:
        report: >-
          {{ ansible_facts.iptables | dockerguard.firewall.exposure_audit(ansible_facts.docker_network,
               nftables=ansible_facts.nftables, host=inventory_hostname,
               expected=[{'name': 'web', 'ports': [8080], 'from': 'anywhere'}]) }}
    - name: write
      dockerguard.firewall.exposure_report_files:
        path: "%(dir)s"
        reports: "{{ [report] + extra | default([]) }}"
        not_audited: [{host: gone, task: gather, reason: unreachable}]
        generated: "2026-11-30 00:00 UTC"
      run_once: true
      register: written
    - ansible.builtin.copy:
        dest: "%(dir)s.expected.html"
        content: >-
          {{ [report] | dockerguard.firewall.exposure_report('html', generated='2026-11-30 00:00 UTC',
               not_audited=[{'host': 'gone', 'task': 'gather', 'reason': 'unreachable'}]) }}
      delegate_to: localhost
      check_mode: false
      when: not ansible_check_mode
    - ansible.builtin.copy:
        dest: "%(dir)s.result.json"
        content: "{{ {'written': written, 'report': report} | to_json }}"
      delegate_to: localhost
      check_mode: false
"""


def play(inventory, tmp_path, report_dir, *extra):
    path = tmp_path / "write.yml"
    path.write_text(PLAYBOOK % {"node": NODE, "dir": report_dir})
    proc = subprocess.run([lab_ansible.binary("ansible-playbook"), "-i", inventory, str(path)] + list(extra),
                          env=lab_ansible.env(ANSIBLE_STDOUT_CALLBACK="default"),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=300, check=False)
    with open(report_dir + ".result.json") as f:
        return proc, json.load(f)


def snapshot(directory):
    return dict((n, open(os.path.join(directory, n), "rb").read()) for n in sorted(os.listdir(directory)))


@needs_docker
def test_report_files(node, tmp_path):
    report_dir = str(tmp_path / "report")
    proc, out = play(node, tmp_path, report_dir)
    assert proc.returncode == 0, proc.stdout[-3000:]
    written, report = out["written"], out["report"]
    names = [NODE + ".json", "index.html", "report.md"]
    assert sorted(os.listdir(report_dir)) == sorted(names)      # no temporary file left
    assert written["changed"] and written["files"] == [os.path.join(report_dir, n) for n in names]
    with open(os.path.join(report_dir, NODE + ".json")) as f:
        assert json.load(f) == report
    with open(report_dir + ".expected.html") as f:
        assert snapshot(report_dir)["index.html"].decode("utf-8") == f.read()
    assert oct(os.stat(os.path.join(report_dir, "index.html")).st_mode & 0o777) == "0o644"
    before = snapshot(report_dir)

    # the same reports again: nothing changes
    proc, out = play(node, tmp_path, report_dir)
    assert proc.returncode == 0 and out["written"]["changed"] is False, proc.stdout[-3000:]
    assert out["written"]["changed_files"] == [] and snapshot(report_dir) == before

    # a second host's report in check mode: predicted, not written
    other = dict(out["report"], host="web2")
    proc, out = play(node, tmp_path, report_dir, "--check", "-e", json.dumps({"extra": [other]}))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert out["written"]["changed"] is True
    assert os.path.join(report_dir, "web2.json") in out["written"]["changed_files"]
    assert snapshot(report_dir) == before

    # a report whose host is a path: refused, nothing written
    bad = dict(other, host="../escape")
    proc, out = play(node, tmp_path, report_dir, "-e", json.dumps({"extra": [bad]}))
    assert proc.returncode != 0
    assert "'../escape'" in proc.stdout and "file name" in proc.stdout, proc.stdout[-3000:]
    assert snapshot(report_dir) == before and not os.path.exists(str(tmp_path / "escape.json"))


HOST_AUDIT = """
- hosts: all
  gather_facts: false
  tasks:
    - name: audit
      dockerguard.firewall.exposure_host_audit:
        expected: [{name: web, ports: [8080], from: anywhere}]
        previous: "%(dir)s/{{ inventory_hostname }}.json"
        text: true
      register: audited
    - name: again, from the facts the first audit set
      dockerguard.firewall.exposure_host_audit:
        gather: false
        facts: "{{ ansible_facts }}"
        expected: [{name: web, ports: [8080], from: [10.0.0.0/8]}]
      register: from_facts
      when: audited.report is not none
    - ansible.builtin.copy:
        dest: "%(dir)s/{{ inventory_hostname }}.out.json"
        content: "{{ {'audited': audited, 'from_facts': from_facts} | to_json }}"
      delegate_to: localhost
"""


@needs_docker
def test_host_audit(node, tmp_path):
    gone = "dg-it-efacts-gone-%d" % os.getpid()  # no such container: unreachable
    inventory = tmp_path / "inventory.json"
    with open(node) as f:
        hosts = json.load(f)
    hosts["all"]["hosts"][gone] = dict(hosts["all"]["hosts"][NODE])
    inventory.write_text(json.dumps(hosts))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # the kept report of the last audit: the node's report of this same state
    kept = dict(json.loads(json.dumps(_audit_once(node, tmp_path))), audited_at="2026-11-29 00:00:00 UTC")
    (out_dir / (NODE + ".json")).write_text(json.dumps(kept))
    path = tmp_path / "host_audit.yml"
    path.write_text(HOST_AUDIT % {"dir": out_dir})
    proc = subprocess.run([lab_ansible.binary("ansible-playbook"), "-i", str(inventory), str(path),
                           "-l", "%s,%s" % (NODE, gone)],
                          env=lab_ansible.env(ANSIBLE_STDOUT_CALLBACK="default"),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]

    with open(str(out_dir / (NODE + ".out.json"))) as f:
        out = json.load(f)
    audited, again = out["audited"], out["from_facts"]
    report = audited["report"]
    assert audited["not_audited"] is None and audited["changed"] is False
    assert report["host"] == NODE and report["summary"]["status"] == "pass"
    assert [r["port"] for r in report["rows"] if r["verdict"] == "expected"][:1] == ["8080/tcp"]
    assert report["drift"]["status"] == "unchanged", report["drift"]
    assert report["drift"]["previous_time"] == "2026-11-29 00:00:00 UTC"
    assert any("8080/tcp" in line for line in audited["text"])
    # the facts it gathered are the host's facts now: audited again from them, nothing run
    assert set(audited["ansible_facts"]) == {"iptables", "nftables", "docker_network"}
    assert again["report"]["summary"]["status"] == "fail"
    assert [r["id"] for r in again["report"]["rows"]] == [r["id"] for r in report["rows"]]
    assert "drift" not in again["report"]

    with open(str(out_dir / (gone + ".out.json"))) as f:
        out = json.load(f)
    assert out["audited"]["report"] is None and out["audited"].get("failed") is not True
    missing = out["audited"]["not_audited"]
    assert missing["host"] == gone and missing["task"] == "audit"
    assert missing["reason"].startswith("unreachable: "), missing
    assert out["from_facts"].get("skipped") is True
    assert re.search(r"%s\s*: ok=2 .* failed=0 " % re.escape(gone), proc.stdout), proc.stdout[-1500:]


def _audit_once(inventory, tmp_path):
    """The node's report, as the exposure_audit filter makes it (the playbook above)."""
    report_dir = str(tmp_path / "once")
    proc, out = play(inventory, tmp_path, report_dir)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return out["report"]
