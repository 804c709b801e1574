# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet audit: the expected-exposure policy, a host's rows and findings, the
preview of a policy (its check-mode rules spliced into the parsed ruleset).

The host is the real Docker 20.10 capture (audit_model.py): `web` published with
-p 8080:80, with or without its DOCKER-USER allow-list for 10.99.0.0/16.
"""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    HOOK_DOCKER_USER, HOOK_INPUT, chain_rules, validate)

from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model as lab

INPUT_9090 = ["-s 10.99.0.0/16 -p tcp -m tcp --dport 9090 -j ACCEPT",
              "-p tcp -m tcp --dport 9090 -j DROP"]


def row(report, port):
    rows = [r for r in report["rows"] if r["port"] == port]
    assert len(rows) == 1, rows
    return rows[0]


def probe(r, name):
    return [p for p in r["probes"] if p["source"]["name"] == name][0]


# --- the expected-exposure policy ------------------------------------------------------

def test_normalize_expected_forms():
    got = audit.normalize_expected([
        {"name": "https", "ports": [443], "from": "anywhere"},
        {"ports": ["5432", "6000-6010"], "protocol": "all", "from": ["10.0.0.0/8", "fd00::/8"]},
        {"ports": 53, "protocol": "udp", "from": "nobody", "container": "dns"},
        {"ports": [80]},
    ])
    assert [e["name"] for e in got] == ["https", "expected2", "expected3", "expected4"]
    assert got[0]["from_text"] == ["0.0.0.0/0", "::/0"]
    assert got[1]["ports"] == [(5432, 5432), (6000, 6010)]
    assert got[1]["from"]["ipv4"] == ((10 << 24, (11 << 24) - 1),)
    assert got[1]["from"]["ipv6"]
    assert got[2]["from"] == {"ipv4": (), "ipv6": ()} and got[2]["from_text"] == ["nobody"]
    assert got[3]["from_text"] == ["0.0.0.0/0", "::/0"]  # from defaults to anywhere
    assert audit.normalize_expected(None) == []


@pytest.mark.parametrize("bad, message", [
    ([{"ports": [443], "from": ["10.0.0.1/8"]}], "'10.0.0.1/8' is not an address or CIDR"),
    ([{"ports": [70000]}], "expected[1].ports: 70000 is outside"),
    ([{"ports": ["http"]}], "'http' is not a port"),
    ([{"ports": []}], "at least one port"),
    ([{"from": "anywhere"}], "expected[1]: ports is required"),
    ([{"ports": [1], "protocol": "icmp"}], "'icmp' is not one of tcp, udp, all"),
    ([{"ports": [1], "allow": ["10.0.0.0/8"]}], "unknown key(s) allow"),
    ([{"ports": [1]}, "x"], "expected[2]: 'x' should be a mapping"),
    ("443", "expected must be a list"),
    ([{"ports": [1], "from": 5}], "should be a list of addresses"),
])
def test_normalize_expected_errors(bad, message):
    with pytest.raises(ValueError) as exc:
        audit.normalize_expected(bad)
    assert message in str(exc.value)


def test_expected_for_matches_port_protocol_container():
    policy = audit.normalize_expected([
        {"name": "a", "ports": ["8000-8100"], "from": ["10.1.0.0/16"]},
        {"name": "b", "ports": [8080], "protocol": "udp", "from": "anywhere"},
        {"name": "c", "ports": [8080], "container": "other", "from": "anywhere"},
        {"name": "d", "ports": [8080], "from": ["10.3.0.0/16"]}])
    target = {"family": "ipv4", "protocol": "tcp", "host_port": 8080, "name": "web"}
    allowed, names = audit.expected_for(policy, target)
    assert names == ["a", "d"]
    assert len(allowed) == 2


# --- the audit of a host --------------------------------------------------------------------

def test_unrestricted_publish_is_unexpected_with_the_path():
    rep = audit.audit_host(lab.ruleset(allow_list=False), lab.docker(), lab.EXPECTED,
                           lab.SOURCES, host="n1")
    r = row(rep, "8080/tcp")
    assert r["verdict"] == "unexpected"
    assert r["kind"] == "published" and r["container"] == "web" and r["interface"] == "eth0"
    assert r["destination"] == lab.HOST_ADDRESS
    assert r["reachable_from"] == "0.0.0.0/0"
    assert r["expected_from"] == "10.99.0.0/16"
    assert r["unexpected_from"] == "0.0.0.0/0 except 10.99.0.0/16"
    assert r["missing_from"] == "nothing"
    office, denied = probe(r, "office"), probe(r, "denied")
    assert (office["verdict"], office["judgement"]) == ("exposed", "expected")
    assert (denied["verdict"], denied["judgement"]) == ("exposed", "unexpected")
    assert denied["source"]["interface"] == "eth0"
    assert denied["dnat"] == "172.18.0.2:80" and denied["path"] == "forward"
    assert "nat/DOCKER#2 DNAT to 172.18.0.2:80" in denied["path_text"]
    assert "forward to docker0" in denied["path_text"]
    assert denied["path_text"].endswith("= exposed (forwarded to 172.18.0.2:80 (container on docker0))")
    assert rep["summary"] == {"unexpected": 1, "unknown": 0, "expected": 0, "filtered": 0,
                              "ports": 1, "status": "fail"}
    (finding,) = rep["findings"]
    assert finding["port"] == "8080/tcp" and finding["container"] == "web"
    for part in ("n1: 8080/tcp (container web, published) on eth0",
                 "reachable from 0.0.0.0/0 except 10.99.0.0/16",
                 "expected from 10.99.0.0/16", "path of denied (10.250.9.20)",
                 "filter/DOCKER#1 ACCEPT"):
        assert part in finding["text"]


def test_allow_list_in_docker_user_is_expected():
    rep = audit.audit_host(lab.ruleset(), lab.docker(), lab.EXPECTED, lab.SOURCES, host="n1")
    r = row(rep, "8080/tcp")
    assert r["verdict"] == "expected" and r["reachable_from"] == "10.99.0.0/16"
    denied = probe(r, "denied")
    assert denied["verdict"] == "filtered" and denied["judgement"] == "filtered"
    assert denied["decided_by"] == "filter/DOCKER-USER#1"
    assert rep["findings"] == [] and rep["summary"]["status"] == "pass"


def test_unnamed_port_is_expected_from_nobody_and_a_representative_is_probed():
    rep = audit.audit_host(lab.ruleset(allow_list=False), lab.docker(), [], host="n1")
    r = row(rep, "8080/tcp")
    assert r["expected_from"] == "nobody" and r["verdict"] == "unexpected"
    (p,) = r["probes"]
    assert p["role"] == "outsider" and p["source"]["address"] == "203.0.113.7"
    assert p["judgement"] == "unexpected"


def test_expected_from_anywhere():
    rep = audit.audit_host(lab.ruleset(allow_list=False), lab.docker(),
                           [{"ports": [8080], "from": "anywhere"}])
    r = row(rep, "8080/tcp")
    assert r["verdict"] == "expected" and r["unexpected_from"] == "nothing"
    (p,) = r["probes"]
    assert p["role"] == "allowed" and p["verdict"] == "exposed"


def test_expected_but_filtered_shows_what_is_missing():
    rep = audit.audit_host(lab.ruleset(), lab.docker(), [{"ports": [8080], "from": "anywhere"}])
    r = row(rep, "8080/tcp")
    assert r["verdict"] == "expected"
    assert r["missing_from"].startswith("0.0.0.0/0 except")


def test_filtered_for_everyone():
    rules = ["-p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP"]
    rep = audit.audit_host(lab.ruleset(allow_list=False, user_rules=rules), lab.docker(), [])
    r = row(rep, "8080/tcp")
    assert r["verdict"] == "filtered" and r["reachable_from"] == "nothing"
    (p,) = r["probes"]
    assert p["verdict"] == "filtered" and p["decided_by"] == "filter/DOCKER-USER#1"
    assert rep["summary"]["status"] == "pass"


def test_host_network_goes_through_input():
    rep = audit.audit_host(lab.ruleset(input_rules=INPUT_9090), lab.docker(host_network=True),
                           lab.EXPECTED + [{"ports": [9090], "from": ["10.99.0.0/16"]}],
                           lab.SOURCES)
    r = row(rep, "9090/tcp")
    assert r["kind"] == "host-network" and r["container"] == "metrics"
    assert r["verdict"] == "expected" and r["reachable_from"] == "10.99.0.0/16"
    office, denied = probe(r, "office"), probe(r, "denied")
    assert office["path"] == "local" and "local delivery (INPUT)" in office["path_text"]
    assert office["decided_by"] == "filter/INPUT#1"
    assert denied["verdict"] == "filtered" and denied["decided_by"] == "filter/INPUT#2"


def test_unknown_warns_or_fails():
    rules = ["-m set --match-set blocked src -j DROP"]  # members not known
    rep = audit.audit_host(lab.ruleset(allow_list=False, user_rules=rules), lab.docker(), [])
    r = row(rep, "8080/tcp")
    assert r["verdict"] == "unknown" and r["unknown_from"] != "nothing"
    assert rep["summary"]["status"] == "warn"
    assert rep["findings"][0]["verdict"] == "unknown"
    rep = audit.audit_host(lab.ruleset(allow_list=False, user_rules=rules), lab.docker(), [],
                           fail_on_unknown=True)
    assert rep["summary"]["status"] == "fail"


def test_interfaces_and_loopback_bindings():
    model = lab.docker()
    model["containers"][0]["ports"].append({"protocol": "tcp", "family": "ipv4",
                                            "host_ip": "127.0.0.1", "host_port": 8081,
                                            "container_port": 80, "dnat": True})
    rep = audit.audit_host(lab.ruleset(), model, [])
    assert [r["port"] for r in rep["rows"]] == ["8080/tcp"]
    rows = audit.audit_host(lab.ruleset(), model, [], interfaces="docker0")["rows"]
    assert [(r["port"], r["interface"], r["destination"]) for r in rows] == [
        ("8080/tcp", "docker0", "172.18.0.1")]


def test_report_header():
    rep = audit.audit_host(lab.ruleset(), lab.docker(), lab.EXPECTED, host="n1")
    assert rep["host"] == "n1" and rep["report_version"] == 1
    assert rep["docker"]["version"] == "20.10.24"
    assert rep["iptables"] == {"version": "1.8.9", "backend": "nf_tables",
                               "docker_backend": "nf_tables"}
    assert rep["interfaces"] == ["eth0"]
    assert rep["expected"] == [{"name": "web", "ports": ["8080"], "protocol": "tcp",
                                "from": ["10.99.0.0/16"], "container": None}]


def test_bad_docker_facts():
    with pytest.raises(ValueError, match="docker_network_facts model"):
        audit.audit_host(lab.ruleset(), {"networks": []})


# --- the preview: the policy's rules spliced into the ruleset ------------------------------

def docker_user_result(entries, default="allow", families=("ipv4",)):
    policy = validate(entries, default=default, hook=HOOK_DOCKER_USER)
    return {"chain": "DOCKERGUARD",
            "families": dict((f, {"changed": True, "rules": chain_rules(policy, f)})
                             for f in families)}


def test_splice_chain_puts_our_chain_first():
    facts = lab.ruleset(allow_list=False)
    result = docker_user_result([{"name": "web", "ports": [8080], "allow": ["10.99.0.0/16"]}])
    after = audit.splice_chain(facts, "DOCKERGUARD", result["families"])
    chains = after["ipv4"]["tables"]["filter"]["chains"]
    assert chains["DOCKER-USER"]["rules"][0]["rule"] == "-A DOCKER-USER -j DOCKERGUARD"
    assert chains["DOCKER-USER"]["rules"][0]["target"] == "DOCKERGUARD"
    assert [r["rule"] for r in chains["DOCKERGUARD"]["rules"]] == [
        "-A DOCKERGUARD " + body for body in result["families"]["ipv4"]["rules"]]
    assert chains["DOCKERGUARD"]["builtin"] is False
    # the input is not touched
    assert "DOCKERGUARD" not in facts["ipv4"]["tables"]["filter"]["chains"]
    # applied twice: still one jump
    again = audit.splice_chain(after, "DOCKERGUARD", result["families"])
    rules = again["ipv4"]["tables"]["filter"]["chains"]["DOCKER-USER"]["rules"]
    assert [r["rule"] for r in rules].count("-A DOCKER-USER -j DOCKERGUARD") == 1


def test_splice_chain_absent_skipped_and_missing_parent():
    facts = lab.ruleset(allow_list=False)
    result = docker_user_result([{"ports": [8080], "allow": ["10.99.0.0/16"]}])
    after = audit.splice_chain(facts, "DOCKERGUARD", result["families"])
    gone = audit.splice_chain(after, "DOCKERGUARD", {"ipv4": {"rules": None}})
    assert gone == facts
    skipped = audit.splice_chain(facts, "DOCKERGUARD",
                                 {"ipv4": {"rules": ["-j DROP"], "skipped": "no"},
                                  "ipv6": {"rules": ["-j DROP"]}})
    assert skipped == facts  # ipv4 skipped, ipv6 not available
    no_parent = audit.splice_chain(facts, "X", {"ipv4": {"rules": ["-j DROP"]}}, parent="NOPE")
    assert no_parent == facts
    with pytest.raises(ValueError, match="not ipv4 or ipv6"):
        audit.splice_chain(facts, "X", {"ipv5": {"rules": []}})
    with pytest.raises(ValueError, match="families must be"):
        audit.splice_chain(facts, "X", [])


def test_preview_docker_user_before_after():
    facts = lab.ruleset(allow_list=False)
    result = docker_user_result([{"name": "web", "ports": [8080], "allow": ["10.99.0.0/16"]}])
    got = audit.preview(facts, lab.docker(), result, expected=lab.EXPECTED, sources=lab.SOURCES,
                        host="n1")
    assert got["chain"] == "DOCKERGUARD" and got["parent"] == "DOCKER-USER"
    assert got["before"]["summary"]["status"] == "fail"
    assert got["after"]["summary"]["status"] == "pass"
    (change,) = got["changes"]
    assert change["changed"] and change["port"] == "8080/tcp"
    assert change["before"] == {"verdict": "unexpected", "reachable_from": "0.0.0.0/0"}
    assert change["after"] == {"verdict": "expected", "reachable_from": "10.99.0.0/16"}
    by_name = dict((s["name"], s) for s in change["sources"])
    assert (by_name["office"]["before"], by_name["office"]["after"]) == ("exposed", "exposed")
    assert (by_name["denied"]["before"], by_name["denied"]["after"]) == ("exposed", "filtered")
    assert "filter/DOCKERGUARD#" in by_name["denied"]["after_path"]


def test_preview_host_input_policy():
    policy = validate([{"name": "metrics", "ports": [9090], "allow": ["10.99.0.0/16"]}],
                      hook=HOOK_INPUT)
    result = {"chain": "DOCKERGUARD-INPUT",
              "families": {"ipv4": {"rules": chain_rules(policy, "ipv4")}}}
    got = audit.preview(lab.ruleset(), lab.docker(host_network=True), result, parent="INPUT",
                        expected=[{"ports": [9090], "from": ["10.99.0.0/16"]}] + lab.EXPECTED,
                        sources=lab.SOURCES)
    change = [c for c in got["changes"] if c["port"] == "9090/tcp"][0]
    assert change["before"]["verdict"] == "unexpected"
    assert change["after"] == {"verdict": "expected", "reachable_from": "10.99.0.0/16"}
    assert [c["changed"] for c in got["changes"] if c["port"] == "8080/tcp"] == [False]


def test_preview_needs_a_policy_result():
    with pytest.raises(ValueError, match="registered result"):
        audit.preview(lab.ruleset(), lab.docker(), {"chain": "X"})


def test_preview_nftables_backend_judges_our_table():
    """With backend nftables the preview puts the module's nft_table into the ruleset
    (and takes our iptables chain out, as the migration does)."""
    from ansible_collections.dockerguard.firewall.plugins.module_utils import _nft_policy, _nftables
    policy = validate([{"name": "web", "ports": [8080], "allow": ["10.99.0.0/16"]}])
    table = _nft_policy.render(policy, ["ipv4"])
    result = {"backend": "nftables", "chain": "DOCKERGUARD", "table": table.key,
              "families": {"ipv4": {"changed": True, "rules": table.family_rules("ipv4")}},
              "nft_table": {"nftables": table.items()}}
    empty = _nftables.parse({"nftables": []})
    got = audit.preview(lab.ruleset(allow_list=False), lab.docker(), result,
                        expected=lab.EXPECTED, sources=lab.SOURCES, host="n1", nftables=empty)
    (change,) = got["changes"]
    assert change["before"]["verdict"] == "unexpected", change
    assert change["after"] == {"verdict": "expected", "reachable_from": "10.99.0.0/16"}
    by_name = dict((s["name"], s) for s in change["sources"])
    assert by_name["denied"]["after"] == "filtered"
    assert "inet dockerguard" in by_name["denied"]["after_path"]
    with pytest.raises(ValueError, match="nftables facts"):
        audit.preview(lab.ruleset(), lab.docker(), result)
