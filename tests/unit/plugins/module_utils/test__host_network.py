# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host_network role's plan (_host_network): ports, conflicts, the controller's SSH
address, the merged policy. The Docker model is the audit's 20.10 host (audit_model.py:
`web` published with -p 8080:80, a docker-proxy listening on 8080, and optionally
`metrics` on the host's network listening on 9090)."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _host_network as hn
from ansible_collections.dockerguard.firewall.plugins.module_utils._allowlist import PolicyError

from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model as lab

REGISTRY = {"format": 1, "services": {
    "dns": {"image": "dns:1", "ports": ["5353/udp"],
            "entries": [{"name": "dns", "protocol": "udp", "ports": [5353],
                         "allow": ["10.0.0.0/8"]}]},
    "api": {"image": "api:1", "ports": ["9000/tcp"],
            "entries": [{"name": "api", "protocol": "tcp", "ports": [9000],
                         "allow": ["10.1.0.0/16"]}]}}}
PATH = "/etc/dockerguard/host_network_services.json"


def plan(name="svc", ports=(7000,), **kw):
    kw.setdefault("allow", ["10.250.0.0/24"])
    return hn.plan(kw.pop("model", None) or lab.docker(host_network=True), name, list(ports),
                   registry_path=PATH, **kw)


def test_a_free_port_one_entry_and_the_other_services_entries_first():
    got = plan(registry=REGISTRY)
    assert got["specs"] == ["7000/tcp"] and got["conflicts"] == []
    assert got["own_entries"] == [{"name": "svc", "protocol": "tcp", "ports": [7000],
                                   "allow": ["10.250.0.0/24"]}]
    assert [e["name"] for e in got["entries"]] == ["dns", "api", "svc"]
    assert got["services"] == REGISTRY["services"] and got["was"] == "absent"


def test_one_entry_per_protocol():
    got = plan(ports=[7000, "7001/TCP", " 53/udp "])
    assert got["specs"] == ["7000/tcp", "7001/tcp", "53/udp"]
    assert [(e["name"], e["protocol"], e["ports"]) for e in got["own_entries"]] == [
        ("svc/tcp", "tcp", [7000, 7001]), ("svc/udp", "udp", [53])]


def test_given_entries_get_the_service_name():
    one = plan(entries=[{"ports": [7000], "allow": ["10.0.0.0/8"]}], allow=[])
    assert one["own_entries"][0]["name"] == "svc"
    two = plan(entries=[{"ports": [7000], "allow": ["10.0.0.0/8"]},
                        {"name": "", "ports": [7000], "allow": ["::/0"]},
                        {"name": "mine", "ports": [7000], "allow": ["::/0"]}], allow=[])
    assert [e["name"] for e in two["own_entries"]] == ["svc-1", "svc-2", "mine"]


def test_no_entries_of_its_own_when_absent_or_unrestricted():
    assert plan(state="absent", registry=REGISTRY, allow=[])["own_entries"] == []
    got = plan(firewall=False, registry=REGISTRY, allow=[])
    assert got["own_entries"] == [] and [e["name"] for e in got["entries"]] == ["dns", "api"]
    # the service's own earlier entries are replaced, not kept
    reg = {"services": dict(REGISTRY["services"], svc={"ports": ["7000/tcp"], "entries": [
        {"name": "old"}]})}
    assert [e["name"] for e in plan(registry=reg)["entries"]] == ["dns", "api", "svc"]


def test_conflicts_name_the_owner():
    got = plan(ports=[8080, 9090, "5353/udp", 7000], registry=REGISTRY)
    assert got["conflicts"] == [
        "8080/tcp is published by container web (-p 8080:80): Docker forwards it to that "
        "container before INPUT is consulted",
        "5353/udp belongs to host-network service dns deployed by this role (%s)" % PATH,
        "8080/tcp is in use on 0.0.0.0 by %s for container web" % hn.NOT_VISIBLE,
        "9090/tcp is in use on 0.0.0.0 by %s for container metrics" % hn.NOT_VISIBLE]


def test_the_service_itself_is_no_conflict_and_was_is_described():
    model = lab.docker(host_network=True)
    model["listeners"][1]["processes"] = [{"name": "prom", "pid": 7}, {"name": "prom", "pid": 8}]
    assert plan(name="metrics", ports=[9090], model=model)["conflicts"] == []
    assert plan(name="web", ports=[8080], model=model)["conflicts"] == []
    assert plan(name="web", ports=[9090], model=model)["conflicts"] == [
        "9090/tcp is in use on 0.0.0.0 by prom for container metrics"]
    assert plan(name="web", model=model)["was"] == "bridge network, publishing 8080"
    assert plan(name="metrics", model=model)["was"] == "host network"
    # a listener of no container (a process of the host)
    model["listeners"].append({"protocol": "tcp", "family": "ipv4", "address": "127.0.0.1",
                               "port": 7000, "processes": [{"name": "sshd"}],
                               "container": None})
    assert plan(model=model)["conflicts"] == ["7000/tcp is in use on 127.0.0.1 by sshd"]


@pytest.mark.parametrize("env,want", [
    ({"SSH_CLIENT": "10.250.0.5 50000 2222"}, (["10.250.0.5"], 2222)),
    ({"SSH_CONNECTION": "::ffff:10.250.0.5 50000 10.250.0.2 22"}, (["10.250.0.5"], 22)),
    ({"SSH_CLIENT": "fd00:250::5 50000 22"}, (["fd00:250::5"], 22)),
    ({}, ([], 22)),
    (None, ([], 22)),
])
def test_the_controller_from_ssh_client(env, want):
    got = plan(env=env)
    assert (got["ssh_sources"], got["ssh_port"]) == want


def test_given_ssh_settings_win():
    got = plan(env={"SSH_CLIENT": "10.250.0.5 50000 2222"}, ssh_sources=[], ssh_port=22)
    assert (got["ssh_sources"], got["ssh_port"]) == ([], 22)


@pytest.mark.parametrize("kw,message", [
    ({"ports": [70000]}, "host_network_ports: 70000 is outside 1-65535"),
    ({"ports": ["80/icmp"]}, "host_network_ports: '80/icmp' is not a port"),
    ({"ports": ["http"]}, "'http' is not a port"),
    ({"ports": [8080, "8080/tcp"]}, "a port is listed twice: 8080/tcp"),
    ({"allow": []}, "host_network_allow is empty: name the sources that may reach 7000/tcp"),
    ({"state": "gone"}, "host_network_state: 'gone' is not one of present, absent"),
    ({"name": "web\n"}, "host_network_name: 'web\\n' is not a container name"),
    ({"name": "-web"}, "host_network_name: '-web' is not a container name"),
    ({"model": {"networks": []}}, "docker facts must be the docker_network_facts model"),
])
def test_refused_with_the_value(kw, message):
    with pytest.raises(PolicyError) as err:
        plan(**kw)
    assert message in str(err.value)


def test_running_is_the_service_on_the_hosts_network_replacing_its_p_container():
    from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
    model = lab.docker()
    before = audit.audit_host(lab.ruleset(), model, expected=lab.EXPECTED, sources=lab.SOURCES, host="n1")
    assert [(r["kind"], r["container"]) for r in before["rows"] if r["port"] == "8080/tcp"] == [("published", "web")]
    after = audit.audit_host(lab.ruleset(), hn.running(model, "web", [8080, "5353/udp"]),
                             expected=lab.EXPECTED, sources=lab.SOURCES, host="n1")
    kinds = set((r["port"], r["kind"], r["container"]) for r in after["rows"]
                if r["port"] in ("8080/tcp", "5353/udp"))
    assert kinds == {("8080/tcp", "host-network", "web"), ("5353/udp", "host-network", "web")}
    # a dual-stack wildcard: the ipv4 row (this capture's host has no external ipv6 address)
    assert [r["id"] for r in after["rows"] if r["port"] == "8080/tcp"] == ["host-network web 0.0.0.0:8080/tcp on eth0"]
    # the input is not changed, and bad values are named
    assert model == lab.docker()
    with pytest.raises(PolicyError, match="host_network_name"):
        hn.running(model, "bad name!", [8080])
