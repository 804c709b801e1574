# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ``nft -j list ruleset`` parser (plugins/module_utils/_nftables.py).

Fixtures: tests/fixtures/nft (see its README): real captures of ``nft -j list ruleset``
with ``nft -a list ruleset`` of the same ruleset beside them (``*.nft-list.txt``), which is
what the model is checked against: nft's own text, handles, priorities and elements.
"""

from __future__ import absolute_import, division, print_function

import copy
import glob
import json
import os
import re

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _nftables
from ansible_collections.dockerguard.firewall.plugins.module_utils._nftables import (
    NftablesParseError,
    parse,
    priority_value,
)

HERE = os.path.dirname(os.path.abspath(__file__))
NFT = os.path.normpath(os.path.join(HERE, "..", "..", "..", "fixtures", "nft"))
CAPTURES = sorted(glob.glob(os.path.join(NFT, "*", "*.json"))
                  + glob.glob(os.path.join(NFT, "firewalld", "*", "ruleset.json")))


def _read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _ids(paths):
    return [os.path.relpath(p, NFT) for p in paths]


def listing(path):
    """What ``nft -a list ruleset`` says: tables, chains (with base chain priority text),
    rules by (table, handle) with their text (counter values dropped), sets and elements."""
    out = {"tables": [], "chains": {}, "rules": {}, "sets": {}}
    table = chain = current_set = None
    lines = _read(path[:-len(".json")] + ".nft-list.txt").splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        m = re.match(r"table (\S+) (\S+) \{", text)
        if m:
            table = "%s %s" % m.groups()
            out["tables"].append(table)
            continue
        m = re.match(r"chain (\S+) \{", text)
        if m:
            chain = m.group(1)
            out["chains"][(table, chain)] = None
            current_set = None
            continue
        m = re.match(r"(set|map) (\S+) \{", text)
        if m:
            current_set = m.group(2)
            out["sets"][(table, current_set)] = {"kind": m.group(1), "elements": 0}
            continue
        m = re.match(r"type \S+ hook \S+ priority ([^;]+);", text)
        if m:
            out["chains"][(table, chain)] = m.group(1)
            continue
        if current_set and text.startswith("elements = {"):
            body = text
            j = i
            while not body.rstrip().endswith("}"):
                j += 1
                body += " " + lines[j].strip()
            inner = body[len("elements = {"):-1]
            out["sets"][(table, current_set)]["elements"] = len(
                [e for e in inner.split(",") if e.strip()])
            continue
        m = re.match(r"(.*) # handle (\d+)$", text)
        if m and chain:
            out["rules"][(table, int(m.group(2)))] = re.sub(
                r"counter packets \d+ bytes \d+", "counter", m.group(1))
    return out


@pytest.fixture(scope="module", params=CAPTURES, ids=_ids(CAPTURES))
def capture(request):
    return request.param, parse(_read(request.param)), listing(request.param)


def _rules(model):
    for key, table in model["tables"].items():
        for chain in table["chains"].values():
            for rule in chain["rules"]:
                yield key, chain["name"], rule


def test_counts_round_trip(capture):
    model, nft = capture[1:]
    assert list(model["tables"]) == nft["tables"]
    assert model["counts"]["tables"] == len(nft["tables"])
    assert model["counts"]["chains"] == len(nft["chains"])
    assert model["counts"]["rules"] == model["rule_count"] == len(nft["rules"])
    assert model["counts"]["base_chains"] == len([p for p in nft["chains"].values() if p])
    sets = [k for k, v in nft["sets"].items() if v["kind"] == "set"]
    maps = [k for k, v in nft["sets"].items() if v["kind"] == "map"]
    assert (model["counts"]["sets"], model["counts"]["maps"]) == (len(sets), len(maps))
    assert model["counts"]["elements"] == sum(v["elements"] for v in nft["sets"].values())
    assert model["version"] and model["json_schema_version"] == 1


def test_rule_text_is_nfts_own(capture):
    """Every rule reads as ``nft list`` prints it, except xt (iptables extension)
    statements, whose details nft's JSON does not carry (only iptables-save shows them)."""
    model, nft = capture[1:]
    seen = 0
    for table, chain, rule in _rules(model):
        expected = nft["rules"][(table, rule["handle"])]
        if any("xt" in s for s in rule["expr"]):
            assert model["tables"][table]["iptables_nft"], (table, chain, rule["text"])
            assert 'xt ' in rule["text"]
            continue
        assert rule["text"] == expected, (table, chain)
        seen += 1
    assert seen


def test_priorities_numeric_and_as_nft_names_them(capture):
    """JSON gives numbers; nft's text gives names (``mangle + 10``): both agree."""
    model, nft = capture[1:]
    for key, table in model["tables"].items():
        for chain in table["chains"].values():
            printed = nft["chains"][(key, chain["name"])]
            assert chain["base"] == bool(printed)
            if chain["base"]:
                assert isinstance(chain["priority"], int)
                assert priority_value(printed, table["family"])[0] == chain["priority"]
                assert chain["hook"] and chain["type"] and chain["policy"] in ("accept", "drop")
            else:
                assert chain["hook"] is None and chain["priority"] is None


def test_base_chains_ordered_by_hook_then_priority(capture):
    model = capture[1]
    order = [(_nftables.HOOKS.index(b["hook"]), b["priority"]) for b in model["base_chains"]]
    assert order == sorted(order)
    assert len(model["base_chains"]) == model["counts"]["base_chains"]


def test_parsed_input_and_text_input_give_the_same_model(capture):
    path, model = capture[:2]
    text = _read(path)
    assert parse(json.loads(text)) == model
    assert parse(json.loads(text)["nftables"]) == model
    assert parse(text.encode("utf-8")) == model


def _model(name):
    return parse(_read(os.path.join(NFT, name)))


def test_docker29_layout():
    model = _model("docker29/docker-bridges+user-restrict.json")
    assert list(model["tables"]) == ["ip docker-bridges", "ip6 docker-bridges",
                                     "inet dg-user-restrict"]
    assert model["iptables_nft_tables"] == []
    docker = model["tables"]["ip docker-bridges"]
    fwd = docker["chains"]["filter-FORWARD"]
    assert (fwd["type"], fwd["hook"], fwd["priority"], fwd["policy"]) == (
        "filter", "forward", 0, "accept")
    assert [r["text"] for r in fwd["rules"]] == [
        "oifname vmap @filter-forward-in-jumps", "iifname vmap @filter-forward-out-jumps"]
    assert fwd["rules"][0]["expr"] == [{"vmap": {"key": {"meta": {"key": "oifname"}},
                                                 "data": "@filter-forward-in-jumps"}}]
    vmap = docker["sets"]["filter-forward-in-jumps"]
    assert (vmap["kind"], vmap["type"], vmap["map"]) == ("map", "ifname", "verdict")
    assert vmap["elements"] == [
        ["docker0", {"jump": {"target": "filter-forward-in__docker0"}}],
        ["bridge1", {"jump": {"target": "filter-forward-in__bridge1"}}]]
    assert vmap["elements_text"] == ['"docker0" : jump filter-forward-in__docker0',
                                     '"bridge1" : jump filter-forward-in__bridge1']
    dnat = docker["chains"]["nat-prerouting-and-output"]["rules"][0]
    assert dnat["comment"] == "DNAT"
    assert dnat["expr"][-1] == {"dnat": {"addr": "10.250.20.2", "port": 80}}
    assert dnat["text"] == ('iifname != "bridge1" tcp dport 8080 counter '
                            'dnat to 10.250.20.2:80 comment "DNAT"')
    raw = docker["chains"]["raw-PREROUTING"]
    assert (raw["hook"], raw["priority"]) == ("prerouting", -300)
    assert model["tables"]["ip6 docker-bridges"]["chains"]["nat-prerouting-and-output"][
        "rules"][0]["text"].endswith("dnat to [fd00:250:20::2]:80 comment \"DNAT\"")


def test_user_restrict_sets_concatenations_and_vmap():
    user = _model("docker29/docker-bridges+user-restrict.json")["tables"][
        "inet dg-user-restrict"]
    fwd = user["chains"]["forward"]
    assert (fwd["hook"], fwd["priority"]) == ("forward", -10)
    assert fwd["rules"][1]["text"] == \
        "meta l4proto tcp ct original proto-dst vmap @published_tcp"
    assert fwd["rules"][1]["expr"][1] == {"vmap": {
        "key": {"ct": {"key": "proto-dst", "dir": "original"}}, "data": "@published_tcp"}}
    allowed = user["sets"]["allowed4"]
    assert (allowed["kind"], allowed["type"], allowed["flags"]) == ("set", "ipv4_addr",
                                                                    ["interval"])
    assert allowed["elements"] == [
        "10.250.21.10", {"prefix": {"addr": "10.250.23.0", "len": 24}},
        {"range": ["10.250.24.1", "10.250.24.9"]}]
    assert allowed["elements_text"] == ["10.250.21.10", "10.250.23.0/24",
                                        "10.250.24.1-10.250.24.9"]
    concat = user["sets"]["allowed_from_iface"]
    assert concat["type"] == ["ipv4_addr", "ifname"]
    assert concat["elements"] == [{"concat": ["10.250.22.10", "ext1"]}]
    assert concat["elements_text"] == ['10.250.22.10 . "ext1"']
    assert user["chains"]["restrict-8080"]["rules"][2]["text"] == \
        "ip saddr . iifname @allowed_from_iface accept"
    ports = user["sets"]["published_tcp"]
    assert ports["elements"] == [[8080, {"jump": {"target": "restrict-8080"}}]]


def test_iptables_nft_detection_firewalld_host():
    model = _model("firewalld/default/ruleset.json")
    assert sorted(model["iptables_nft_tables"]) == [
        "ip filter", "ip nat", "ip raw", "ip6 filter", "ip6 nat"]
    fw = model["tables"]["inet firewalld"]
    assert not fw["iptables_nft"] and fw["iptables_nft_reason"] is None
    assert "owner" in fw["flags"]
    assert "xt" in model["tables"]["ip nat"]["iptables_nft_reason"]
    # ip raw holds no xt statement: it is recognised by its built-in chain at -300
    assert "built-in" in model["tables"]["ip raw"]["iptables_nft_reason"]
    bases = [(b["table"], b["chain"]) for b in model["base_chains"] if b["hook"] == "forward"]
    assert bases == [("ip filter", "FORWARD"), ("ip6 filter", "FORWARD"),
                     ("inet firewalld", "filter_FORWARD")]
    prio = {b["chain"]: b["priority"] for b in model["base_chains"]
            if b["table"] == "inet firewalld"}
    assert prio["mangle_PREROUTING"] == -140 and prio["nat_POSTROUTING"] == 110
    assert fw["chains"]["mangle_PREROUTING"]["priority_name"] is None   # JSON: a number


def test_iptables_nft_detection_debian_host():
    both = _model("debian/nftables-conf+docker-iptables.json")
    assert sorted(both["iptables_nft_tables"]) == [
        "ip filter", "ip nat", "ip raw", "ip6 filter", "ip6 nat"]
    assert not both["tables"]["inet filter"]["iptables_nft"]
    alone = _model("debian/nftables-conf.json")
    assert alone["iptables_nft_tables"] == []
    fwd = alone["tables"]["inet filter"]["chains"]["forward"]
    assert fwd["policy"] == "drop"
    assert [r["text"] for r in fwd["rules"]] == ["ct state established,related accept",
                                                 "tcp dport 80 accept"]


def _doc(*objs):
    return {"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]
            + list(objs)}


def _table(family="ip", name="t"):
    return {"table": {"family": family, "name": name, "handle": 1}}


def _chain(name, family="ip", table="t", **base):
    chain = {"family": family, "table": table, "name": name, "handle": 2}
    chain.update(base)
    return {"chain": chain}


def _rule(chain, expr, family="ip", table="t", handle=3):
    return {"rule": {"family": family, "table": table, "chain": chain, "handle": handle,
                     "expr": expr}}


@pytest.mark.parametrize("family,table,chains,expected", [
    ("ip", "filter", [("INPUT", "input", 0)], True),
    ("ip6", "mangle", [("PREROUTING", "prerouting", -150), ("OUTPUT", "output", -150)], True),
    ("ip", "nat", [("INPUT", "input", 100), ("POSTROUTING", "postrouting", 100)], True),
    ("bridge", "filter", [("FORWARD", "forward", -200)], True),
    ("arp", "filter", [("INPUT", "input", 0)], True),
    # a native table someone named "filter": lower-case chains, or another priority
    ("ip", "filter", [("input", "input", 0)], False),
    ("ip", "filter", [("INPUT", "input", 10)], False),
    ("ip", "filter", [("INPUT", "forward", 0)], False),
    ("inet", "filter", [("INPUT", "input", 0)], False),
    ("ip", "docker-bridges", [("FORWARD", "forward", 0)], False),
])
def test_iptables_nft_by_layout(family, table, chains, expected):
    objs = [_table(family, table)]
    for name, hook, prio in chains:
        objs.append(_chain(name, family, table, type="filter", hook=hook, prio=prio,
                           policy="accept"))
    model = parse(_doc(*objs))
    assert model["tables"]["%s %s" % (family, table)]["iptables_nft"] is expected
    assert model["iptables_nft_tables"] == (["%s %s" % (family, table)] if expected else [])


def test_iptables_nft_needs_no_name_when_xt_is_there():
    model = parse(_doc(_table("ip", "custom"), _chain("C", table="custom"),
                       _rule("C", [{"xt": None}, {"accept": None}], table="custom")))
    assert model["iptables_nft_tables"] == ["ip custom"]
    assert model["tables"]["ip custom"]["chains"]["C"]["rules"][0]["text"] == "xt ? accept"


def test_a_named_set_makes_a_filter_table_native():
    model = parse(_doc(_table("ip", "filter"),
                       {"set": {"family": "ip", "table": "filter", "name": "s",
                                "type": "ipv4_addr", "handle": 4}},
                       _chain("INPUT", table="filter", type="filter", hook="input",
                              prio=0, policy="drop")))
    assert model["iptables_nft_tables"] == []


@pytest.mark.parametrize("prio,family,expected", [
    (0, "ip", 0), (-10, "inet", -10), ("-10", "inet", -10), ("filter", "inet", 0),
    ("filter - 10", "inet", -10), ("dstnat + 10", "ip", -90), ("mangle", "ip6", -150),
    ("raw", "ip", -300), ("srcnat", "inet", 100), ("security", "ip", 50),
    ("filter", "bridge", -200), ("dstnat", "bridge", -300), ("out", "bridge", 100),
    ("srcnat", "bridge", 300), ("filter", "netdev", 0),
])
def test_named_priorities(prio, family, expected):
    chain = _chain("c", family, type="filter", hook="input", prio=prio, policy="accept")
    model = parse(_doc(_table(family), chain))
    chain = model["tables"]["%s t" % family]["chains"]["c"]
    assert chain["priority"] == expected
    assert chain["priority_name"] == (prio if isinstance(prio, str) and
                                      not prio.lstrip("-").isdigit() else None)


def test_element_wrappers_and_element_objects():
    model = parse(_doc(
        _table("inet"),
        {"set": {"family": "inet", "table": "t", "name": "s", "type": "ipv4_addr",
                 "flags": ["interval", "timeout"], "handle": 5,
                 "elem": [{"elem": {"val": "10.250.1.1", "timeout": 60, "comment": "x"}},
                          {"elem": {"val": {"prefix": {"addr": "10.250.2.0", "len": 24}},
                                    "counter": {"packets": 1, "bytes": 2}}}]}},
        {"element": {"family": "inet", "table": "t", "name": "s",
                     "elem": [{"range": ["10.250.3.1", "10.250.3.5"]}]}},
        {"map": {"family": "inet", "table": "t", "name": "m", "type": "inet_service",
                 "map": "verdict", "handle": 6,
                 "elem": [[{"elem": {"val": 22, "comment": "ssh"}}, {"accept": None}]]}},
        {"counter": {"family": "inet", "table": "t", "name": "c1", "packets": 0,
                     "bytes": 0}}))
    table = model["tables"]["inet t"]
    assert table["sets"]["s"]["elements"] == [
        "10.250.1.1", {"prefix": {"addr": "10.250.2.0", "len": 24}},
        {"range": ["10.250.3.1", "10.250.3.5"]}]
    assert table["sets"]["s"]["elements_text"] == ["10.250.1.1", "10.250.2.0/24",
                                                   "10.250.3.1-10.250.3.5"]
    assert table["sets"]["m"]["elements"] == [[22, {"accept": None}]]
    assert table["sets"]["m"]["elements_text"] == ["22 : accept"]
    assert table["objects"] == [{"kind": "counter", "name": "c1", "data": {
        "family": "inet", "table": "t", "name": "c1", "packets": 0, "bytes": 0}}]
    assert model["counts"]["elements"] == 4


@pytest.mark.parametrize("expr,text", [
    ([{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                 "right": {"set": [80, 443, {"range": [8000, 8100]}]}}}, {"accept": None}],
     "tcp dport { 80, 443, 8000-8100 } accept"),
    ([{"match": {"op": "==", "left": {"ct": {"key": "status"}}, "right": "dnat"}},
      {"match": {"op": "==", "left": {"ct": {"key": "daddr", "dir": "original",
                                             "family": "ip"}}, "right": "10.250.0.1"}},
      {"return": None}], "ct status dnat ct original ip daddr 10.250.0.1 return"),
    ([{"vmap": {"key": {"payload": {"protocol": "th", "field": "dport"}},
                "data": {"set": [[22, {"accept": None}], [23, {"drop": None}]]}}}],
     "th dport vmap { 22 : accept, 23 : drop }"),
    ([{"mangle": {"key": {"meta": {"key": "mark"}}, "value": 1}}, {"goto": {"target": "x"}}],
     "meta mark set 1 goto x"),
    ([{"reject": {"type": "icmpx", "expr": "admin-prohibited"}}],
     "reject with icmpx admin-prohibited"),
    ([{"log": {"prefix": "dg "}}, {"reject": None}], 'log prefix "dg " reject'),
    ([{"redirect": {"port": 8080}}], "redirect to :8080"),
    ([{"snat": {"family": "ip", "addr": "10.250.0.1"}}], "snat ip to 10.250.0.1"),
    ([{"match": {"op": "!=", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}},
      {"drop": None}], "meta nfproto != ipv4 drop"),
    ([{"match": {"op": "==", "left": {"&": [{"meta": {"key": "mark"}}, 255]}, "right": 1}},
      {"accept": None}], "meta mark & 255 == 1 accept"),
    ([{"someday": {"a": 1}}], 'someday {"a": 1}'),
])
def test_rule_text_of_common_statements(expr, text):
    model = parse(_doc(_table(), _chain("c"), _rule("c", expr)))
    rule = model["tables"]["ip t"]["chains"]["c"]["rules"][0]
    assert rule["text"] == text
    assert rule["expr"] == expr


@pytest.mark.parametrize("data,where,what", [
    ("", "nftables", "empty input"),
    ("{not json", "nftables", "not JSON"),
    ("[1, 2", "nftables", "not JSON"),
    ('{"tables": []}', "$", "'nftables' list"),
    ("42", "$", "'nftables' list"),
    ({"nftables": [1]}, "nftables[0]", "one key"),
    ({"nftables": [{"table": {"name": "t"}}]}, "nftables[0].table", "missing field 'family'"),
    ({"nftables": [{"table": {"family": "ipx", "name": "t"}}]}, "nftables[0].table.family",
     "unknown family"),
    ({"nftables": [{"chain": {"family": "ip", "table": "t", "name": "c"}}]},
     "nftables[0].chain.table", "ip t"),
    (_doc(_table(), {"chain": {"family": "ip", "table": "t", "name": "c", "hook": "input",
                               "type": "filter", "policy": "accept"}}),
     "nftables[2].chain", "missing field 'prio'"),
    (_doc(_table(), _chain("c", type="filter", hook="input", prio="sideways")),
     "nftables[2].chain.prio", "unknown priority 'sideways'"),
    (_doc(_table(), _chain("c", type="filter", hook="input", prio=[0])),
     "nftables[2].chain.prio", "number or a name"),
    (_doc(_table(), _chain("c"), {"rule": {"family": "ip", "table": "t", "chain": "c"}}),
     "nftables[3].rule", "missing field 'expr'"),
    (_doc(_table(), _chain("c"), _rule("c", {"accept": None})),
     "nftables[3].rule.expr", "should be list"),
    (_doc(_table(), _chain("c"), _rule("c", [{"accept": None, "drop": None}])),
     "nftables[3].rule.expr[0]", "one key"),
    (_doc(_table(), _rule("nochain", [])), "nftables[2].rule.chain", "'nochain'"),
    (_doc(_table(), {"set": {"family": "ip", "table": "t", "name": "s"}}),
     "nftables[2].set", "missing field 'type'"),
    (_doc(_table(), {"map": {"family": "ip", "table": "t", "name": "m", "type": "ifname"}}),
     "nftables[2].map", "missing field 'map'"),
    (_doc(_table(), {"element": {"family": "ip", "table": "t", "name": "nos", "elem": []}}),
     "nftables[2].element.name", "'nos'"),
])
def test_bad_input_names_the_place(data, where, what):
    with pytest.raises(NftablesParseError) as err:
        parse(data)
    assert err.value.path == where
    assert str(err.value).startswith(where + ": ")
    assert what in str(err.value)


def test_bad_input_never_raises_anything_else():
    """Every field of a real capture removed in turn: a clear error or a model."""
    doc = json.loads(_read(os.path.join(NFT, "docker29", "docker-bridges+user-restrict.json")))
    for i, item in enumerate(doc["nftables"]):
        kind = list(item)[0]
        for field in list(item[kind] or {}):
            broken = copy.deepcopy(doc)
            del broken["nftables"][i][kind][field]
            try:
                parse(broken)
            except NftablesParseError as exc:
                assert exc.path.startswith("nftables[%d]" % i)


def test_sharing_keeps_equal_values_equal():
    """The decoder shares equal JSON objects; rules that differ stay different."""
    model = _model("docker29/docker-bridges.json")
    rules = model["tables"]["ip docker-bridges"]["chains"]["filter-forward-in__bridge1"][
        "rules"]
    assert rules[0]["expr"][0] is model["tables"]["ip docker-bridges"]["chains"][
        "filter-forward-in__docker0"]["rules"][0]["expr"][0]
    assert rules[1]["expr"] != rules[2]["expr"]


def test_chain_rules_lookup():
    model = _model("docker29/docker-bridges.json")
    assert len(_nftables.chain_rules(model, "ip docker-bridges", "filter-FORWARD")) == 2
    with pytest.raises(KeyError, match="no table 'inet x'"):
        _nftables.chain_rules(model, "inet x", "c")
    with pytest.raises(KeyError, match="no chain 'c'"):
        _nftables.chain_rules(model, "ip docker-bridges", "c")


def _runner(rc, out, err=""):
    calls = []

    def run(argv):
        calls.append(argv)
        return rc, out, err
    return run, calls


def test_gather_reads_the_ruleset_as_json():
    run, calls = _runner(0, _read(os.path.join(NFT, "debian", "nftables-conf.json")))
    model = _nftables.gather(run, lambda name: "/usr/sbin/" + name)
    assert calls == [["/usr/sbin/nft", "-j", "list", "ruleset"]]
    assert model["available"] is True and list(model["tables"]) == ["inet filter"]
    run = _runner(0, "")[0]       # an empty ruleset: some nft versions print nothing
    assert _nftables.gather(run, lambda name: name)["tables"] == {}


@pytest.mark.parametrize("rc,err,available", [
    (1, "Error: JSON support not compiled-in", False),
    (1, "netlink: Error: cache initialization failed: Protocol not supported", False),
])
def test_gather_unavailable_is_a_fact(rc, err, available):
    run = _runner(rc, "", err)[0]
    facts = _nftables.gather(run, lambda name: name)
    assert facts == {"available": False, "reason": "'nft -j list ruleset' failed: " + err}
    facts = _nftables.gather(run, lambda name: None)
    assert facts["available"] is False and facts["reason"].startswith("nft not found")


@pytest.mark.parametrize("err,message", [
    ("Error: Could not receive ... Operation not permitted", "needs root"),
    ("something else went wrong", "failed (rc=1): something else"),
])
def test_gather_failures_a_user_must_fix(err, message):
    run = _runner(1, "", err)[0]
    with pytest.raises(RuntimeError, match=re.escape(message)):
        _nftables.gather(run, lambda name: name)
