# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scan of a host (_exposure_scan): the engine's host facts from the Docker model,
the one rule for named sources, and Scan walking target x interface x destination once
for the exposure list, the reachability summary and the audit.

Hosts: the real Docker 28.5 capture (test__docker.capture_model) and the audit's small
Docker 20.10 host (audit_model.py).
"""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
from ansible_collections.dockerguard.firewall.plugins.module_utils._docker import build_model
from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure import Host
from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure_scan import (
    Scan, exposure_host, normalize_sources, source_interface)

from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model as lab
from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils.test__docker import capture_model


def test_exposure_host_feeds_the_engine():
    """exposure_host(model) is what _exposure.Host takes (real 28.5 capture); it lives on
    the scan side, not in the Docker normaliser."""
    m = capture_model("docker-28.5")
    m["default_routes"] = {"ipv4": {"interface": "eth0", "gateway": "172.17.0.1",
                                    "metric": 0}, "ipv6": None}
    host = exposure_host(m)
    assert host["interfaces"]["dg-br-cap"][:2] == ["10.250.10.1/24", "fd00:250:10::1/64"]
    assert host["bridges"] == {"docker0": ["172.18.0.0/16"],
                               "dg-br-cap": ["10.250.10.0/24", "fd00:250:10::/64"]}
    assert {"address": "127.0.0.1", "port": 8082, "protocol": "tcp", "dual_stack": False,
            "interface": None} in host["listeners"]
    assert host["default_interface"] == {"ipv4": "eth0", "ipv6": None}
    assert host["route_localnet"] is False
    bare = exposure_host(build_model())
    assert bare == {"bridges": {}}   # listeners not gathered: unknown, not "none"
    fam = Host(host).families["ipv4"]
    assert [b[2] for b in fam["bridges"]] == ["dg-br-cap", "docker0"]
    assert fam["default"] == "eth0" and (None, 9090, "tcp") in fam["listeners"]


# --- sources: one rule for every caller -------------------------------------------------

def test_source_interface():
    model = lab.docker()
    assert source_interface("10.250.9.20", model) == "eth0"  # connected network
    assert source_interface("198.51.100.1", model) == "eth0"  # default route
    model["default_routes"] = None
    assert source_interface("198.51.100.1", model) == "eth0"  # first external
    model["interfaces"] = [i for i in model["interfaces"] if i["role"] != "external"]
    with pytest.raises(ValueError, match="give the source's interface"):
        source_interface("198.51.100.1", model)


def test_normalize_sources():
    got = normalize_sources(["10.1.2.3", {"name": "x", "address": "10.250.9.5",
                                          "interface": "eth9"},
                             {"address": "10.250.9.6", "interface": "eth0"}], lab.docker())
    assert got == [{"name": "10.1.2.3", "address": "10.1.2.3", "interface": "eth0"},
                   {"name": "x", "address": "10.250.9.5", "interface": "eth9"},
                   {"name": "10.250.9.6@eth0", "address": "10.250.9.6", "interface": "eth0"}]
    # one mapping (or one address) is a list of one; nothing is an empty list
    assert normalize_sources({"address": "10.1.2.3"}, lab.docker())[0]["interface"] == "eth0"
    assert normalize_sources("10.1.2.3", lab.docker())[0]["name"] == "10.1.2.3"
    assert normalize_sources(None, lab.docker()) == []


@pytest.mark.parametrize("bad,message", [
    ([{"name": "x"}], "sources\\[1\\]: .* needs an address"),
    (["10.1.2.3", {"interface": "eth0"}], "sources\\[2\\]"),
    (["not-an-address"], "not an IP address: 'not-an-address'"),
    (5, "sources must be a list"),
])
def test_normalize_sources_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        normalize_sources(bad, lab.docker())


# --- the scan ----------------------------------------------------------------------------

def test_scan_checks_the_model_and_builds_the_engine_once():
    with pytest.raises(ValueError, match="docker facts must be the docker_network_facts model"):
        Scan(lab.ruleset(), {"networks": []})
    host_scan = Scan(lab.ruleset(), lab.docker())
    engine = host_scan.engine
    host_scan.exposure()
    host_scan.reachability()
    assert host_scan.engine is engine


def test_points_are_target_by_interface_with_a_destination():
    model = lab.docker(host_network=True)
    model["containers"][0]["ports"].append({"protocol": "tcp", "family": "ipv4",
                                            "host_ip": "127.0.0.1", "host_port": 8081,
                                            "container_port": 81, "dnat": True})
    host_scan = Scan(lab.ruleset(), model)
    got = [(t["host_port"], iface, dst) for t, iface, dst in host_scan.points()]
    assert got == [(8080, "eth0", "10.250.9.11"), (8081, "eth0", "127.0.0.1"),
                   (9090, "eth0", "10.250.9.11")]
    got = [(t["host_port"], iface) for t, iface, _dst in
           host_scan.points("docker0", include_loopback=False)]
    assert got == [(8080, "docker0"), (9090, "docker0")]


def test_exposure_reachability_and_audit_walk_the_same_points():
    """The three views of one host agree: the exposure list, the reachability summary
    and the audit's rows come from the same points and the same engine."""
    host_scan = Scan(lab.ruleset(), lab.docker())
    results = host_scan.exposure(lab.SOURCES)
    assert [(r["id"], r["verdict"]) for r in results] == [
        ("published web 0.0.0.0:8080/tcp from office", "exposed"),
        ("published web 0.0.0.0:8080/tcp from denied", "filtered")]
    summary = host_scan.reachability()
    assert [(e["id"], e["exposed"]) for e in summary] == [
        ("published web 0.0.0.0:8080/tcp on eth0", "10.99.0.0/16")]
    rep = audit.audit_host(lab.ruleset(), lab.docker(), lab.EXPECTED, lab.SOURCES)
    assert [(r["id"], r["reachable_from"]) for r in rep["rows"]] == [
        (e["id"], e["exposed"]) for e in summary]


def test_nftables_judged_and_blindness_named():
    """An nft model is judged with the iptables tables (an inet forward chain dropping
    everything filters every published port); Docker reporting an nftables backend
    without the ruleset makes every verdict unknown with the reason."""
    plain = Scan(lab.ruleset(), lab.docker())
    nft = {"tables": {"inet filter": {"family": "inet", "name": "filter", "iptables_nft": False,
                                      "sets": {}, "chains": {"forward": {
                                          "base": True, "type": "filter", "hook": "forward",
                                          "priority": 0, "policy": "drop", "rules": []}}}}}
    with_nft = Scan(lab.ruleset(), lab.docker(), nftables=nft)
    assert with_nft.nftables is nft
    forwarded = [r for r in plain.exposure(lab.SOURCES)
                 if r["verdict"] == "exposed" and r.get("path") == "forward"]
    assert forwarded
    judged = dict(((r["target"]["host_port"], r["probe"]["source"]), r)
                  for r in with_nft.exposure(lab.SOURCES))
    for r in forwarded:
        got = judged[(r["target"]["host_port"], r["probe"]["source"])]
        assert got["verdict"] == "filtered" and got["decided_by"] == "inet filter forward policy"
    docker = lab.docker()
    docker["daemon"] = dict(docker.get("daemon") or {}, firewall_backend="nftables")
    blind = Scan(lab.ruleset(), docker, nftables={"available": False, "reason": "nft not found"})
    rows = blind.exposure(lab.SOURCES)
    assert rows and all(r["verdict"] == "unknown" for r in rows)
    assert "firewall backend nftables" in rows[0]["reason"] and "nft not found" in rows[0]["reason"]
