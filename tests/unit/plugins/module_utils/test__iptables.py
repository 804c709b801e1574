# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the iptables-save / iptables -S parser (plugins/module_utils/_iptables.py).

Fixtures: tests/fixtures/seeds (the seed articles' listings and their iptables-save
transcriptions, see its README) and tests/fixtures/real (captures from lab nodes).
"""

from __future__ import absolute_import, division, print_function

import copy
import glob
import os

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _iptables
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import IptablesParseError
from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import listing as lst

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "..", "fixtures"))
SEEDS = os.path.join(FIXTURES, "seeds")
REAL = os.path.join(FIXTURES, "real")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def seed(name):
    return _read(os.path.join(SEEDS, name))


def family_of(path):
    return "ipv6" if "ip6tables" in os.path.basename(path) else "ipv4"


SAVE_FIXTURES = sorted(glob.glob(os.path.join(SEEDS, "*.rules"))) + sorted(
    glob.glob(os.path.join(REAL, "*save")))
SPEC_FIXTURES = sorted(glob.glob(os.path.join(SEEDS, "*.spec.txt")))
LISTING_FIXTURES = sorted(glob.glob(os.path.join(SEEDS, "*.listing.txt")))


def _ids(paths):
    return [os.path.basename(p) for p in paths]


def meaningful_lines(text):
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def tokens(text):
    """Split like iptables-restore: "..." quotes, backslash escapes inside them."""
    return _iptables._split(text, 0)


def body_of(rule_line):
    """The tokens of a rule line after ``[p:b] -A CHAIN``."""
    toks = tokens(rule_line)
    if toks[0].startswith("["):
        toks = toks[1:]
    assert toks[0] == "-A"
    return toks[2:]


def all_rules(model):
    for tname, table in model["tables"].items():
        for cname, chain in table["chains"].items():
            for rule in chain["rules"]:
                yield tname, cname, rule


def chain(model, table, name):
    return model["tables"][table]["chains"][name]


def load(name):
    """Parse a fixture by file name (seeds/ or real/)."""
    for folder in (SEEDS, REAL):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            if name.endswith(".spec.txt"):
                table = "nat" if "-nat-" in name else "filter"
                return _iptables.parse_spec(_read(path), table=table)
            return _iptables.parse_save(_read(path), family=family_of(path))
    raise AssertionError("no fixture %s" % name)


# ---------------------------------------------------------------------------
# Every fixture: parse, round trip, rule_text.

def test_fixtures_are_there():
    assert len(SAVE_FIXTURES) == 20  # 17 seed transcriptions + 3 real captures
    assert len(SPEC_FIXTURES) == 4
    assert len(LISTING_FIXTURES) == 18


def test_seed_readme_lists_every_fixture():
    readme = seed("README.md")
    for name in os.listdir(SEEDS):
        if name != "README.md":
            stem = name.split(".", 1)[0]
            assert "`%s." % stem in readme, name


SHARED_SEEDS = os.path.normpath(os.path.join(FIXTURES, "..", "..", "..", "shared", "seeds"))


@pytest.mark.skipif(not os.path.isdir(SHARED_SEEDS), reason="the shared seed articles are not beside the checkout")
@pytest.mark.parametrize("path", LISTING_FIXTURES + SPEC_FIXTURES, ids=_ids(LISTING_FIXTURES + SPEC_FIXTURES))
def test_listing_is_verbatim_from_its_seed(path):
    number = os.path.basename(path)[:3]
    articles = glob.glob(os.path.join(SHARED_SEEDS, number + "_*.txt"))
    assert len(articles) == 1
    assert _read(path) in _read(articles[0])


@pytest.mark.parametrize("path", SAVE_FIXTURES, ids=_ids(SAVE_FIXTURES))
def test_save_fixture_round_trips(path):
    text = _read(path)
    model = _iptables.parse_save(text, family=family_of(path))
    lines = meaningful_lines(text)
    assert model["family"] == family_of(path)
    assert list(model["tables"]) == [line[1:] for line in lines if line.startswith("*")]
    assert _iptables.count_rules(model) == sum(1 for line in lines if " -A " in " " + line)
    assert _iptables.render(model).splitlines() == lines


@pytest.mark.parametrize("path", SAVE_FIXTURES, ids=_ids(SAVE_FIXTURES))
def test_save_fixture_rule_text_holds_every_token(path):
    model = _iptables.parse_save(_read(path), family=family_of(path))
    rules = list(all_rules(model))
    assert rules or "before-docker" in path      # only the pre-Docker listings are empty
    for _table, _chain, rule in rules:
        assert "unknown" not in rule, rule["rule"]
        assert tokens(_iptables.rule_text(rule)) == body_of(rule["rule"])


@pytest.mark.parametrize("path", SPEC_FIXTURES, ids=_ids(SPEC_FIXTURES))
def test_spec_fixture(path):
    text = _read(path)
    table = "nat" if "-nat-" in os.path.basename(path) else "filter"
    model = _iptables.parse_spec(text, table=table)
    chains = model["tables"][table]["chains"]
    lines = meaningful_lines(text)
    declared = [line.split()[1] for line in lines if line.startswith("-N ")]
    for name in declared:
        assert chains[name]["builtin"] is False and chains[name]["policy"] is None
    appended = [line for line in lines if line.startswith("-A ")]
    assert len(declared) + len(appended) == len(lines)
    for name, ch in chains.items():
        assert [r["rule"] for r in ch["rules"]] == [a for a in appended if a.split()[1] == name]
        for rule in ch["rules"]:
            assert tokens(_iptables.rule_text(rule)) == body_of(rule["rule"])
    # the article's -S excerpts leave out the -P lines: builtin chains without a policy
    for name, ch in chains.items():
        if name in _iptables.BUILTIN_CHAINS[table]:
            assert ch["builtin"] is True and ch["policy"] is None


# ---------------------------------------------------------------------------
# Transcriptions checked against the listings they transcribe.

REDACTED = {"XXX.XXX.XXX.XXX": "203.0.113.10", "YYY.YYY.YYY.YYY": "198.51.100.20"}
NO_ADDRESS_COLUMNS = {"source": "0.0.0.0/0", "destination": "0.0.0.0/0"}

# listing -> (transcription, table, compare options)
CROSS_CHECKS = {
    "000-filter": ("000-filter.rules", "filter", {}),
    # the article's excerpt shows DOCKER's first rule only
    "000-filter-docker-excerpt": ("000-filter.rules", "filter", {"partial": True, "prefix": ("DOCKER",)}),
    "000-nat": ("000-nat.rules", "nat", {}),
    "000-nat-docker-excerpt": ("000-nat.rules", "nat", {"partial": True}),
    "001-filter": ("001-filter.rules", "filter", {}),
    "001-nat": ("001-nat.rules", "nat", {}),
    "002-filter": ("002-filter.rules", "filter", {}),
    "002-nat": ("002-nat.rules", "nat", {}),
    "002-filter-docker-user": ("002-filter-docker-user.rules", "filter",
                               {"partial": True, "redact": REDACTED}),
    "002-filter-net-host": ("002-filter-net-host.rules", "filter", {"partial": True}),
    "002-nat-net-host": ("002-nat-net-host.rules", "nat", {"partial": True, "prefix": ("DOCKER",)}),
    "003-filter-before-docker": ("003-filter-before-docker.rules", "filter", {}),
    "003-nat-before-docker": ("003-nat-before-docker.rules", "nat", {}),
    "003-filter-docker": ("003-filter-docker.rules", "filter", {}),
    "003-nat-docker": ("003-nat-docker.rules", "nat", {}),
    "003-filter-nginx": ("003-filter-nginx.rules", "filter", {"partial": True}),
    "003-nat-nginx": ("003-nat-nginx.rules", "nat", {"partial": True}),
    "004-filter-swarm": ("004-filter-swarm.rules", "filter",
                         {"partial": True, "defaults": NO_ADDRESS_COLUMNS}),
}


def test_every_listing_is_cross_checked():
    names = sorted(os.path.basename(p)[:-len(".listing.txt")] for p in LISTING_FIXTURES)
    assert names == sorted(CROSS_CHECKS)


@pytest.mark.parametrize("name", sorted(CROSS_CHECKS))
def test_transcription_matches_listing(name):
    rules, table, options = CROSS_CHECKS[name]
    listing = lst.read_listing(seed(name + ".listing.txt"))
    assert listing["chains"], "nothing read from %s" % name
    model = load(rules)
    assert list(model["tables"]) == [table]
    assert lst.compare(listing, model, table, **options) == []
    # and the listing's rules were all looked at: no listed rule without a model rule
    listed = sum(len(c["rules"]) for c in listing["chains"].values())
    assert listed <= _iptables.count_rules(model)


def test_listing_rule_count_of_full_listings():
    # a full listing shows exactly the transcription's rules
    for name in ("000-filter", "000-nat", "001-filter", "001-nat", "003-filter-docker",
                 "003-nat-docker"):
        rules, table, _options = CROSS_CHECKS[name]
        listing = lst.read_listing(seed(name + ".listing.txt"))
        listed = sum(len(c["rules"]) for c in listing["chains"].values())
        assert listed == _iptables.count_rules(load(rules)), name


def _mutate(text, old, new):
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize("old, new, expect", [
    ("--dport 80 -j ACCEPT", "--dport 81 -j ACCEPT", "extra"),
    ("-d 172.17.0.2/32", "-d 172.17.0.3/32", "destination"),
    ("-A DOCKER -d 172.17.0.2/32 ! -i docker0", "-A DOCKER -d 172.17.0.2/32 -i docker0", " in:"),
    ("-A DOCKER-BRIDGE -o docker0", "-A DOCKER-BRIDGE -o docker1", " out:"),
    ("-p tcp -m tcp --dport 80 -j ACCEPT", "-p udp -m udp --dport 80 -j ACCEPT", " prot:"),
    ("-A DOCKER-USER -j RETURN", "-A DOCKER-USER -j ACCEPT", " target:"),
    (":FORWARD DROP", ":FORWARD ACCEPT", "policy"),
    ("-A DOCKER-FORWARD -j DOCKER-CT\n-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1\n",
     "-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1\n-A DOCKER-FORWARD -j DOCKER-CT\n", "target"),
    ("-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP\n", "", "rules listed"),
    (":DOCKER-CT - [0:0]\n", ":DOCKER-CT - [0:0]\n:DOCKER-EXTRA - [0:0]\n", "chains"),
    (":INPUT ACCEPT [0:0]", ":INPUT ACCEPT [1:0]", "counters"),
])
def test_cross_check_catches_transcription_mistakes(old, new, expect):
    """A wrong transcription of 000-filter fails the cross-check, naming what differs."""
    listing = lst.read_listing(seed("000-filter.listing.txt"))
    model = _iptables.parse_save(_mutate(seed("000-filter.rules"), old, new))
    problems = lst.compare(listing, model, "filter")
    assert problems
    assert any(expect.strip(" :") in p for p in problems), problems


def test_cross_check_catches_wrong_rule_number_and_counters():
    listing = lst.read_listing(seed("003-nat-nginx.listing.txt"))
    text = seed("003-nat-nginx.rules")
    model = _iptables.parse_save(_mutate(text, "[136:7472]", "[136:7473]"))
    assert any("counters" in p for p in lst.compare(listing, model, "nat", partial=True))
    # DNAT moved to position 1: the listing says it is rule #2
    moved = _mutate(_mutate(text, "-A DOCKER -i docker0 -j RETURN\n", ""),
                    "COMMIT", "-A DOCKER -i docker0 -j RETURN\nCOMMIT")
    problems = lst.compare(listing, _iptables.parse_save(moved), "nat", partial=True)
    assert any("DOCKER#2" in p for p in problems), problems


@pytest.mark.parametrize("name, chains, partial", [
    ("000-filter", ["INPUT", "FORWARD", "OUTPUT", "DOCKER", "DOCKER-BRIDGE", "DOCKER-CT",
                    "DOCKER-FORWARD", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2",
                    "DOCKER-USER"], False),
    ("002-nat", ["PREROUTING", "POSTROUTING", "DOCKER"], True),
    ("003-nat-nginx", ["POSTROUTING", "DOCKER"], False),
    ("004-filter-swarm", ["FORWARD", "DOCKER-INGRESS", "DOCKER-ISOLATION-STAGE-1",
                          "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"], False),
])
def test_read_listing_chains(name, chains, partial):
    listing = lst.read_listing(seed(name + ".listing.txt"))
    assert list(listing["chains"]) == chains
    assert listing["partial"] is partial


def test_read_listing_fields():
    filt = lst.read_listing(seed("000-filter.listing.txt"))["chains"]
    assert filt["FORWARD"]["policy"] == "DROP" and filt["FORWARD"]["counters"] == [0, 0]
    assert filt["DOCKER"]["references"] == 1 and filt["DOCKER"]["policy"] is None
    rule = filt["DOCKER"]["rules"][0]
    assert (rule["target"], rule["prot"], rule["in"], rule["out"], rule["source"],
            rule["destination"], rule["extra"]) == (
        "ACCEPT", "6", "!docker0", "docker0", "0.0.0.0/0", "172.17.0.2", "tcp dpt:80")
    assert filt["DOCKER-USER"]["rules"][0]["bytes"] == "5894K"
    nat = lst.read_listing(seed("003-nat-docker.listing.txt"))["chains"]
    assert nat["PREROUTING"]["counters"] == [6, 328]
    assert nat["POSTROUTING"]["rules"][0]["num"] == 1
    assert nat["POSTROUTING"]["rules"][0]["out"] == "!docker0"
    elided = lst.read_listing(seed("002-filter.listing.txt"))["chains"]
    assert elided["INPUT"]["elided"] and elided["OUTPUT"]["elided"]
    assert not elided["FORWARD"]["elided"] and len(elided["FORWARD"]["rules"]) == 6


@pytest.mark.parametrize("text", [
    "target prot opt source destination\n",                      # no Chain line first
    "Chain INPUT (policy ACCEPT)\nACCEPT all -- 0.0.0.0/0 0.0.0.0/0\n",  # no column header
    "Chain INPUT (policy ACCEPT)\ntarget prot opt source destination\nACCEPT all\n",
    "Chain INPUT (policy ACCEPT)\ntarget prot opt source destination\nACCEPT all xx a b\n",
    "Chain X (1 references)\ntarget prot opt source destination\nChain X (1 references)\n",
])
def test_read_listing_rejects_what_it_cannot_place(text):
    with pytest.raises(lst.ListingError):
        lst.read_listing(text)


@pytest.mark.parametrize("prot, name", [("0", "all"), ("6", "tcp"), ("17", "udp"),
                                        ("all", "all"), ("tcp", "tcp"), ("!6", "!tcp")])
def test_listing_protocol_numbers(prot, name):
    assert lst.protocol_name(prot) == name


# Internal consistency of the transcriptions (the same Docker rules seen by several
# articles must be transcribed alike).

def _rule_texts(model, table):
    return {name: [r["rule"] for r in ch["rules"]]
            for name, ch in model["tables"][table]["chains"].items()}


@pytest.mark.parametrize("spec, rules, table", [
    ("004-filter-baseline.spec.txt", "003-filter-docker.rules", "filter"),
    ("004-nat-baseline.spec.txt", "003-nat-docker.rules", "nat"),
])
def test_s_listing_equals_verbose_listing_transcription(spec, rules, table):
    """Seed 004's `iptables -S` and seed 003's verbose `-L` show Docker's same defaults."""
    from_spec = _rule_texts(load(spec), table)
    from_rules = _rule_texts(load(rules), table)
    for name, texts in from_spec.items():
        assert from_rules[name] == texts, name
    assert all(not texts for name, texts in from_rules.items() if name not in from_spec)


@pytest.mark.parametrize("older, newer, table", [
    ("002-filter.rules", "003-filter-nginx.rules", "filter"),    # 18.03 vs 20.10, -p 80:80
    ("002-nat.rules", "003-nat-nginx.rules", "nat"),
    ("001-nat.rules", "003-nat-docker.rules", "nat"),             # pre-17.06 vs 20.10
    ("002-nat-net-host.rules", "003-nat-docker.rules", "nat"),
])
def test_same_docker_rules_transcribed_alike(older, newer, table):
    assert _rule_texts(load(older), table) == _rule_texts(load(newer), table)


@pytest.mark.parametrize("swarm, baseline, added, table", [
    ("004-filter-swarm.rules", "004-filter-baseline.spec.txt", "004-filter-swarm-added.spec.txt",
     "filter"),
    ("004-nat-swarm.rules", "004-nat-baseline.spec.txt", "004-nat-swarm-added.spec.txt", "nat"),
])
def test_swarm_rules_are_baseline_plus_added(swarm, baseline, added, table):
    def texts(model):
        return sorted(r["rule"] for _t, _c, r in all_rules(model))
    model = load(swarm)
    assert texts(model) == sorted(texts(load(baseline)) + texts(load(added)))
    assert set(model["tables"][table]["chains"]) >= set(load(added)["tables"][table]["chains"])


# ---------------------------------------------------------------------------
# What the model says about Docker's rules.

def _find(model, table, chain_name, target):
    return [r for r in chain(model, table, chain_name)["rules"] if r.get("target") == target]


def test_docker_dnat_rule():
    model = load("docker-28.5-bridge-publish-8080.iptables-save")
    dnat = chain(model, "nat", "DOCKER")["rules"][1]
    assert dnat == {
        "rule": "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80",
        "in_interface": "docker0", "protocol": "tcp", "negated": ["in_interface"],
        "matches": [{"name": "tcp", "options": {"dport": "8080"}}],
        "target": "DNAT", "target_options": {"to-destination": "172.18.0.2:80"},
    }


def test_docker_user_original_port_rule():
    model = load("docker-20.10-publish-8080-docker-user-only-10.99.iptables-save")
    rule = chain(model, "filter", "DOCKER-USER")["rules"][0]
    assert rule["source"] == "10.99.0.0/16" and rule["negated"] == ["source"]
    assert rule["protocol"] == "tcp" and rule["target"] == "DROP"
    assert rule["matches"] == [{"name": "conntrack",
                                "options": {"ctorigdstport": "8080", "ctdir": "ORIGINAL"}}]
    assert chain(model, "filter", "DOCKER-USER")["rules"][1] == {
        "rule": "-A DOCKER-USER -j RETURN", "target": "RETURN"}


@pytest.mark.parametrize("fixture, table, chain_name, index, fields", [
    ("docker-28.5-bridge-publish-8080.iptables-save", "raw", "PREROUTING", 0,
     {"destination": "172.18.0.2/32", "in_interface": "docker0", "negated": ["in_interface"],
      "target": "DROP"}),
    ("docker-28.5-bridge-publish-8080.iptables-save", "filter", "DOCKER", 0,
     {"destination": "172.18.0.2/32", "in_interface": "docker0", "out_interface": "docker0",
      "negated": ["in_interface"], "protocol": "tcp", "target": "ACCEPT",
      "matches": [{"name": "tcp", "options": {"dport": "80"}}]}),
    ("docker-28.5-bridge-publish-8080.iptables-save", "filter", "DOCKER-CT", 0,
     {"out_interface": "docker0", "target": "ACCEPT",
      "matches": [{"name": "conntrack", "options": {"ctstate": "RELATED,ESTABLISHED"}}]}),
    ("docker-28.5-bridge-publish-8080.iptables-save", "nat", "PREROUTING", 0,
     {"target": "DOCKER", "matches": [{"name": "addrtype", "options": {"dst-type": "LOCAL"}}]}),
    ("docker-28.5-bridge-publish-8080.iptables-save", "nat", "OUTPUT", 0,
     {"destination": "127.0.0.0/8", "negated": ["destination"], "target": "DOCKER",
      "matches": [{"name": "addrtype", "options": {"dst-type": "LOCAL"}}]}),
    ("docker-28.5-bridge-publish-8080.iptables-save", "nat", "POSTROUTING", 0,
     {"source": "172.18.0.0/16", "out_interface": "docker0", "negated": ["out_interface"],
      "target": "MASQUERADE"}),
    ("docker-28.5-bridge-publish-8080.ip6tables-save", "nat", "OUTPUT", 0,
     {"destination": "::1/128", "negated": ["destination"], "target": "DOCKER",
      "matches": [{"name": "addrtype", "options": {"dst-type": "LOCAL"}}]}),
    ("000-nat.rules", "nat", "DOCKER", 1,
     {"in_interface": "docker0", "negated": ["in_interface"], "protocol": "tcp", "target": "DNAT",
      "target_options": {"to-destination": "172.17.0.2:80"},
      "matches": [{"name": "tcp", "options": {"dport": "8888"}}]}),
    ("000-filter.rules", "filter", "DOCKER-FORWARD", 3,
     {"in_interface": "docker0", "target": "ACCEPT"}),
    ("002-filter-docker-user.rules", "filter", "DOCKER-USER", 2,
     {"destination": "172.17.0.0/16", "in_interface": "ens160", "protocol": "tcp",
      "target": "DROP", "matches": [{"name": "tcp", "options": {"dport": "80"}}]}),
    ("004-filter-swarm.rules", "filter", "DOCKER-INGRESS", 1,
     {"protocol": "tcp", "target": "ACCEPT",
      "matches": [{"name": "state", "options": {"state": "RELATED,ESTABLISHED"}},
                  {"name": "tcp", "options": {"sport": "80"}}]}),
    ("004-nat-swarm.rules", "nat", "DOCKER-INGRESS", 0,
     {"protocol": "tcp", "target": "DNAT", "target_options": {"to-destination": "172.18.0.2:80"},
      "matches": [{"name": "tcp", "options": {"dport": "80"}}]}),
    ("004-nat-swarm.rules", "nat", "POSTROUTING", 0,
     {"out_interface": "docker_gwbridge", "target": "MASQUERADE",
      "matches": [{"name": "addrtype", "options": {"src-type": "LOCAL"}}]}),
])
def test_docker_rule_fields(fixture, table, chain_name, index, fields):
    rule = chain(load(fixture), table, chain_name)["rules"][index]
    for key, value in fields.items():
        assert rule[key] == value, key
    for key in ("source", "destination", "in_interface", "out_interface", "protocol", "negated",
                "matches", "target_options", "goto", "unknown"):
        if key not in fields:
            assert key not in rule, key


@pytest.mark.parametrize("fixture, table, policies", [
    ("000-filter.rules", "filter", {"INPUT": "ACCEPT", "FORWARD": "DROP", "OUTPUT": "ACCEPT"}),
    ("003-filter-before-docker.rules", "filter",
     {"INPUT": "ACCEPT", "FORWARD": "ACCEPT", "OUTPUT": "ACCEPT"}),
    ("docker-28.5-bridge-publish-8080.iptables-save", "filter",
     {"INPUT": "ACCEPT", "FORWARD": "ACCEPT", "OUTPUT": "ACCEPT"}),
    ("docker-28.5-bridge-publish-8080.iptables-save", "raw",
     {"PREROUTING": "ACCEPT", "OUTPUT": "ACCEPT"}),
    ("003-nat-docker.rules", "nat",
     {"PREROUTING": "ACCEPT", "INPUT": "ACCEPT", "OUTPUT": "ACCEPT", "POSTROUTING": "ACCEPT"}),
])
def test_policies_and_builtin_chains(fixture, table, policies):
    chains = load(fixture)["tables"][table]["chains"]
    builtin = {name: ch["policy"] for name, ch in chains.items() if ch["builtin"]}
    assert builtin == policies
    for name, ch in chains.items():
        if name not in policies:
            assert ch["builtin"] is False and ch["policy"] is None, name
            assert name.startswith("DOCKER"), name


def test_user_chains_of_docker_28():
    chains = load("docker-28.5-bridge-publish-8080.iptables-save")["tables"]["filter"]["chains"]
    assert [n for n, c in chains.items() if not c["builtin"]] == [
        "DOCKER", "DOCKER-BRIDGE", "DOCKER-CT", "DOCKER-FORWARD", "DOCKER-ISOLATION-STAGE-1",
        "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"]
    assert chains["DOCKER-USER"]["rules"] == []   # Docker 28.5 writes no -j RETURN
    assert [r["target"] for r in chains["DOCKER-FORWARD"]["rules"]] == [
        "DOCKER-CT", "DOCKER-ISOLATION-STAGE-1", "DOCKER-BRIDGE", "ACCEPT"]


def test_counters_from_seed_listings():
    model = load("003-filter-docker.rules")
    assert chain(model, "filter", "INPUT")["counters"] == [385, 28200]
    assert chain(model, "filter", "OUTPUT")["counters"] == [304, 59638]
    assert all(r["counters"] == [0, 0] for _t, _c, r in all_rules(model))
    nginx = load("003-nat-nginx.rules")
    rules = chain(nginx, "nat", "DOCKER")["rules"]
    assert "counters" not in rules[0] and rules[1]["counters"] == [136, 7472]
    assert not rules[1]["rule"].startswith("[")


# ---------------------------------------------------------------------------
# Counters: iptables-save -c, iptables -S -v.

SAVE_C = """\
# Generated by iptables-save v1.8.9 (nf_tables)
*filter
:INPUT ACCEPT [1234:567890]
:FORWARD DROP [17:1020]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
[17:1020] -A FORWARD -j DOCKER-USER
[3:180] -A DOCKER-USER -s 10.0.0.0/8 -j RETURN
[14:840] -A DOCKER-USER -j DROP
COMMIT
"""


def test_save_with_counters():
    model = _iptables.parse_save(SAVE_C)
    chains = model["tables"]["filter"]["chains"]
    assert chains["INPUT"]["counters"] == [1234, 567890]
    assert chains["FORWARD"]["counters"] == [17, 1020] and chains["FORWARD"]["policy"] == "DROP"
    assert chains["DOCKER-USER"]["counters"] == [0, 0]
    assert [r["counters"] for r in chains["DOCKER-USER"]["rules"]] == [[3, 180], [14, 840]]
    assert chains["DOCKER-USER"]["rules"][0]["rule"] == "-A DOCKER-USER -s 10.0.0.0/8 -j RETURN"
    assert _iptables.render(model).splitlines() == meaningful_lines(SAVE_C)
    plain = _iptables.render(model, counters=False)
    assert "[" not in plain and ":INPUT ACCEPT\n" in plain and "-A DOCKER-USER -j DROP\n" in plain


SPEC = """\
-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -j DOCKER
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-USER -j RETURN
"""

# iptables -S -v: counters after the matches, before the target (print_rule4 in iptables).
SPEC_V = """\
-P INPUT ACCEPT -c 120 9000
-P FORWARD DROP -c 5 300
-P OUTPUT ACCEPT -c 0 0
-N DOCKER
-N DOCKER-USER
-A FORWARD -c 11 660 -j DOCKER-USER
-A FORWARD -o docker0 -c 7 420 -j DOCKER
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -c 3 180 -j ACCEPT
-A DOCKER-USER -c 11 660 -j RETURN
"""


def test_spec_input():
    model = _iptables.parse_spec(SPEC)
    chains = model["tables"]["filter"]["chains"]
    assert list(chains) == ["INPUT", "FORWARD", "OUTPUT", "DOCKER", "DOCKER-USER"]
    assert chains["FORWARD"] == {
        "builtin": True, "policy": "DROP", "counters": None,
        "rules": [{"rule": "-A FORWARD -j DOCKER-USER", "target": "DOCKER-USER"},
                  {"rule": "-A FORWARD -o docker0 -j DOCKER", "out_interface": "docker0",
                   "target": "DOCKER"}]}
    assert chains["DOCKER"]["builtin"] is False and chains["DOCKER"]["policy"] is None
    assert _iptables.parse(SPEC) == model          # parse() recognises -S text
    assert _iptables.parse(SPEC, table="nat")["tables"].keys() == {"nat"}


def test_spec_verbose_counters():
    model = _iptables.parse_spec(SPEC_V)
    chains = model["tables"]["filter"]["chains"]
    assert chains["INPUT"]["counters"] == [120, 9000] and chains["INPUT"]["policy"] == "ACCEPT"
    assert chains["FORWARD"]["counters"] == [5, 300]
    assert [r["counters"] for r in chains["FORWARD"]["rules"]] == [[11, 660], [7, 420]]
    docker = chains["DOCKER"]["rules"][0]
    assert docker["counters"] == [3, 180]
    assert docker["target"] == "ACCEPT" and docker["matches"] == [
        {"name": "tcp", "options": {"dport": "80"}}]
    # the rule text is the one -S without -v prints
    plain = _iptables.parse_spec(SPEC)["tables"]["filter"]["chains"]
    for name in chains:
        assert [r["rule"] for r in chains[name]["rules"]] == [r["rule"] for r in plain[name]["rules"]]
    rendered = _iptables.render(model)
    assert "[3:180] -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT" in rendered
    assert ":FORWARD DROP [5:300]" in rendered


def test_spec_merges_tables_into_one_model():
    model = _iptables.parse_spec(seed("004-filter-baseline.spec.txt"), table="filter")
    same = _iptables.parse_spec(seed("004-nat-baseline.spec.txt"), table="nat", model=model)
    assert same is model and list(model["tables"]) == ["filter", "nat"]
    assert _iptables.count_rules(model) == 11 + 4


# ---------------------------------------------------------------------------
# Edge cases of the rule syntax.

def one_rule(body, family="ipv4", chain_name="INPUT"):
    text = "*filter\n:%s ACCEPT [0:0]\n-A %s %s\nCOMMIT\n" % (chain_name, chain_name, body)
    model = _iptables.parse_save(text, family=family)
    rules = model["tables"]["filter"]["chains"][chain_name]["rules"]
    assert len(rules) == 1
    return rules[0]


@pytest.mark.parametrize("quoted, value", [
    ('"allow ssh from office"', "allow ssh from office"),
    ('"a \\"b\\" c"', 'a "b" c'),
    ('"back\\\\slash"', "back\\slash"),
    ('"it\\\'s"', "it's"),                     # iptables-save escapes ' too
    ('""', ""),
    ("plain-word_1", "plain-word_1"),
    ('"-- not an option --"', "-- not an option --"),
    ('"-j DROP"', "-j DROP"),
    ('"!"', "!"),
])
def test_quoted_comments(quoted, value):
    rule = one_rule("-p tcp -m tcp --dport 22 -m comment --comment %s -j ACCEPT" % quoted)
    assert rule["matches"][1] == {"name": "comment", "options": {"comment": value}}
    assert rule["target"] == "ACCEPT"
    assert _iptables.rule_text(rule) == "-p tcp -m tcp --dport 22 -m comment --comment %s -j ACCEPT" % quoted
    assert _iptables.quote(value) == quoted


@pytest.mark.parametrize("body, fields, match_negated", [
    ("! -s 10.0.0.0/8 -j DROP", {"source": "10.0.0.0/8", "negated": ["source"]}, None),
    ("-s ! 10.0.0.0/8 -j DROP", {"source": "10.0.0.0/8", "negated": ["source"]}, None),
    ("! -d 127.0.0.0/8 -j DROP", {"destination": "127.0.0.0/8", "negated": ["destination"]}, None),
    ("-d ! 127.0.0.0/8 -j DROP", {"destination": "127.0.0.0/8", "negated": ["destination"]}, None),
    ("! -i docker0 -o docker0 -j DROP",
     {"in_interface": "docker0", "out_interface": "docker0", "negated": ["in_interface"]}, None),
    ("-i docker0 ! -o docker0 -j DROP",
     {"in_interface": "docker0", "out_interface": "docker0", "negated": ["out_interface"]}, None),
    ("! -p tcp -j DROP", {"protocol": "tcp", "negated": ["protocol"]}, None),
    ("! -f -j DROP", {"fragment": True, "negated": ["fragment"]}, None),
    ("-p tcp -m tcp ! --dport 80 -j DROP", {"protocol": "tcp"}, ["dport"]),
    ("-p tcp -m tcp --dport ! 80 -j DROP", {"protocol": "tcp"}, ["dport"]),
    ("-m conntrack ! --ctstate NEW -j DROP", {}, ["ctstate"]),
    ("! -s 10.0.0.0/8 ! -d 10.1.0.0/16 -j DROP",
     {"source": "10.0.0.0/8", "destination": "10.1.0.0/16", "negated": ["source", "destination"]},
     None),
])
def test_negations(body, fields, match_negated):
    rule = one_rule(body)
    for key, value in fields.items():
        assert rule[key] == value, key
    if "negated" not in fields:
        assert "negated" not in rule
    if match_negated is None:
        assert all("negated" not in m for m in rule.get("matches", ()))
    else:
        assert rule["matches"][-1]["negated"] == match_negated
        assert list(rule["matches"][-1]["options"].values()) in (["80"], ["NEW"])
    assert rule["target"] == "DROP"


def test_old_and_new_negation_give_the_same_model():
    old = one_rule("-s ! 10.0.0.0/8 -p tcp -m tcp --dport ! 80 -j DROP")
    new = one_rule("! -s 10.0.0.0/8 -p tcp -m tcp ! --dport 80 -j DROP")
    for rule in (old, new):
        del rule["rule"]
    assert old == new
    assert tokens(_iptables.rule_text(old)) == "! -s 10.0.0.0/8 -p tcp -m tcp ! --dport 80 -j DROP".split()


def test_empty_tables():
    text = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*filter\nCOMMIT\n"
    model = _iptables.parse_save(text)
    assert model == {"family": "ipv4", "tables": {
        "raw": {"chains": {
            "PREROUTING": {"builtin": True, "policy": "ACCEPT", "counters": [0, 0], "rules": []},
            "OUTPUT": {"builtin": True, "policy": "ACCEPT", "counters": [0, 0], "rules": []}}},
        "filter": {"chains": {}}}}
    assert _iptables.render(model) == text
    assert _iptables.count_rules(model) == 0


@pytest.mark.parametrize("text", ["", "\n\n", "# Generated by iptables-save v1.8.9\n# Completed\n"])
def test_empty_input(text):
    model = _iptables.parse_save(text)
    assert model == {"family": "ipv4", "tables": {}}
    assert _iptables.render(model) == ""
    assert _iptables.parse(text) == {"family": "ipv4", "tables": {"filter": {"chains": {}}}}


IP6 = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -s ::/0 -d fe80::/64 -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A INPUT ! -s 2001:db8::/32 -i eth0 -p tcp -m tcp --dport 22 -j REJECT --reject-with icmp6-port-unreachable
-A FORWARD -d 2001:db8:1::2/128 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
"""


def test_ipv6():
    model = _iptables.parse_save(IP6, family="ipv6")
    assert model["family"] == "ipv6"
    inp = chain(model, "filter", "INPUT")
    assert inp["policy"] == "DROP"
    icmp = inp["rules"][0]
    assert icmp["source"] == "::/0" and icmp["destination"] == "fe80::/64"
    assert icmp["protocol"] == "ipv6-icmp"
    assert icmp["matches"] == [{"name": "icmp6", "options": {"icmpv6-type": "135"}}]
    assert "unknown" not in icmp
    ssh = inp["rules"][1]
    assert ssh["source"] == "2001:db8::/32" and ssh["negated"] == ["source"]
    assert ssh["target_options"] == {"reject-with": "icmp6-port-unreachable"}
    fwd = chain(model, "filter", "FORWARD")["rules"][0]
    assert fwd["destination"] == "2001:db8:1::2/128"
    assert _iptables.render(model) == IP6
    with pytest.raises(ValueError, match="family"):
        _iptables.parse_save(IP6, family="ipv5")


def test_unknown_match_is_kept():
    rule = one_rule("-p tcp -m frobnicate --level 3 --fast -m tcp --dport 80 -j ACCEPT")
    assert rule["matches"][0] == {"name": "frobnicate", "options": {"level": "3", "fast": True},
                                  "known": False}
    assert rule["unknown"] == ["frobnicate"]
    assert "known" not in rule["matches"][1]
    assert _iptables.rule_text(rule) == "-p tcp -m frobnicate --level 3 --fast -m tcp --dport 80 -j ACCEPT"
    assert tokens(_iptables.rule_text(rule)) == body_of(rule["rule"])


def test_unknown_option_of_a_known_match():
    rule = one_rule("-p tcp -m tcp --dport 80 --frobnicate yes -j ACCEPT")
    match = rule["matches"][0]
    assert match["known"] is False
    assert match["options"] == {"dport": "80", "frobnicate": "yes"}
    assert rule["unknown"] == ["tcp --frobnicate"]
    assert _iptables.rule_text(rule) == "-p tcp -m tcp --dport 80 --frobnicate yes -j ACCEPT"


@pytest.mark.parametrize("body, match, options", [
    ("-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j DROP", "tcp",
     {"tcp-flags": ["FIN,SYN,RST,ACK", "SYN"]}),
    ("-m set --match-set docker-ext-bridges-v4 dst -j DROP", "set",
     {"match-set": ["docker-ext-bridges-v4", "dst"]}),
    ("-m set --match-set blocklist src,dst --return-nomatch -j DROP", "set",
     {"match-set": ["blocklist", "src,dst"], "return-nomatch": True}),
    ("-p tcp -m multiport --dports 80,443,8000:8080 -j DROP", "multiport",
     {"dports": "80,443,8000:8080"}),
    ("-m conntrack --ctstate NEW --ctorigdst 203.0.113.7 --ctorigdstport 8080 --ctdir ORIGINAL -j DROP",
     "conntrack", {"ctstate": "NEW", "ctorigdst": "203.0.113.7", "ctorigdstport": "8080",
                   "ctdir": "ORIGINAL"}),
    ("-m mark --mark 0x1/0xffffffff -j DROP", "mark", {"mark": "0x1/0xffffffff"}),
])
def test_match_options(body, match, options):
    rule = one_rule(body)
    found = [m for m in rule["matches"] if m["name"] == match]
    assert found and found[0]["options"] == options
    assert "unknown" not in rule
    assert tokens(_iptables.rule_text(rule)) == tokens(body)


def test_negated_set_match():
    rule = one_rule("-m set ! --match-set allow src -j DROP")
    assert rule["matches"] == [{"name": "set", "options": {"match-set": ["allow", "src"]},
                                "negated": ["match-set"]}]


def test_implicit_protocol_match():
    rule = one_rule("-p tcp --dport 80 -j ACCEPT")
    assert rule["protocol"] == "tcp"
    assert rule["matches"] == [{"name": "tcp", "options": {"dport": "80"}}]
    assert rule["rule"] == "-A INPUT -p tcp --dport 80 -j ACCEPT"      # text kept as given
    assert _iptables.rule_text(rule) == "-p tcp -m tcp --dport 80 -j ACCEPT"
    udp = one_rule("-p udp --sport 53 --dport 1024:65535 -j ACCEPT")
    assert udp["matches"] == [{"name": "udp", "options": {"sport": "53", "dport": "1024:65535"}}]
    odd = one_rule("-p gre --key 5 -j ACCEPT")
    assert odd["matches"] == [{"name": "gre", "options": {"key": "5"}, "known": False}]
    assert odd["unknown"] == ["gre"]


@pytest.mark.parametrize("body, target, target_options, goto", [
    ("-j REJECT --reject-with icmp-port-unreachable", "REJECT",
     {"reject-with": "icmp-port-unreachable"}, False),
    ('-j LOG --log-prefix "DOCKER DROP: " --log-level 4', "LOG",
     {"log-prefix": "DOCKER DROP: ", "log-level": "4"}, False),
    ("-g DOCKER-USER", "DOCKER-USER", None, True),
    ("-j MARK --set-xmark 0x1/0xffffffff", "MARK", {"set-xmark": "0x1/0xffffffff"}, False),
    ("-j CT --notrack", "CT", {"notrack": True}, False),
])
def test_targets(body, target, target_options, goto):
    rule = one_rule(body)
    assert rule["target"] == target
    assert rule.get("target_options") == target_options
    assert rule.get("goto", False) is goto
    assert tokens(_iptables.rule_text(rule)) == tokens(body)


def test_rule_without_target_and_repeated_option():
    rule = one_rule("-m comment --comment first --comment second")
    assert "target" not in rule
    assert rule["matches"][0]["options"] == {"comment": "first", "comment#2": "second"}
    assert _iptables.rule_text(rule) == "-m comment --comment first --comment second"


def test_parse_recognises_save_text():
    model = _iptables.parse(seed("000-nat.rules"))       # starts with comment lines
    assert model == _iptables.parse_save(seed("000-nat.rules"))
    assert list(model["tables"]) == ["nat"]
    ip6 = _iptables.parse(IP6, family="ipv6")
    assert ip6["family"] == "ipv6" and ip6 == _iptables.parse_save(IP6, family="ipv6")


# ---------------------------------------------------------------------------
# Garbage: a clear error naming the line.

@pytest.mark.parametrize("text, lineno, words", [
    ("*filter\n:INPUT ACCEPT [0:0]\n-A DOCKER -j RETURN\nCOMMIT\n", 3, "undeclared chain 'DOCKER'"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n", 1, "not closed by COMMIT"),
    ("*filter\n:INPUT ACCEPT [0:0]\n*nat\nCOMMIT\n", 3, "not closed by COMMIT"),
    ("# header\n-A INPUT -j ACCEPT\n*filter\nCOMMIT\n", 2, "not inside a table"),
    ("*filter\nCOMMIT\n:INPUT ACCEPT [0:0]\n", 3, "not inside a table"),
    ("*filter\nCOMMIT\nCOMMIT\n", 3, "COMMIT outside a table"),
    ('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "open -j ACCEPT\nCOMMIT\n', 3,
     "unbalanced quote"),
    ("*filter\nCOMMIT\n*firewall\nCOMMIT\n", 3, "unknown table 'firewall'"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j\nCOMMIT\n", 3, "-j needs a target"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp !\nCOMMIT\n", 3, "'!' with nothing after it"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s\nCOMMIT\n", 3, "-s needs a value"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m\nCOMMIT\n", 3, "-m needs a match name"),
    # one case per token handler of parse_rule (_RuleParser)
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s !\nCOMMIT\n", 3, "-s ! needs a value"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -g\nCOMMIT\n", 3, "-g needs a target"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -c 1\nCOMMIT\n", 3, "-c needs two numbers"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT -m tcp\nCOMMIT\n", 3, "unexpected '-m'"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT x\nCOMMIT\n", 3, "unexpected 'x'"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT --dport 80 -j ACCEPT\nCOMMIT\n", 3, "belongs to no match"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -x -j ACCEPT\nCOMMIT\n", 3, "unexpected '-x'"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j LOG ! --log-level 4\nCOMMIT\n", 3,
     "'!' before target option"),
    ("*filter\n:INPUT\nCOMMIT\n", 2, "chain line needs a name and a policy"),
    ("*filter\n:INPUT ACCEPT [0-0]\nCOMMIT\n", 2, "bad chain counters"),
    ("*filter\n:INPUT ACCEPT [0:0]\n[1:x] -A INPUT -j ACCEPT\nCOMMIT\n", 3, "bad rule counters"),
    ("*filter\n:INPUT ACCEPT [0:0]\nINSERT INPUT -j ACCEPT\nCOMMIT\n", 3, "expected '-A CHAIN"),
])
def test_garbage_save_names_the_line(text, lineno, words):
    with pytest.raises(IptablesParseError) as info:
        _iptables.parse_save(text)
    assert info.value.lineno == lineno
    assert str(info.value).startswith("line %d: " % lineno)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text, lineno, words", [
    ("-P INPUT ACCEPT\nhello world\n", 2, "expected -P, -N or -A"),
    ("-P INPUT\n", 1, "expected -P, -N or -A"),
    ("-N\n", 1, "expected -P, -N or -A"),
    ("-N DOCKER\n-A DOCKER -j\n", 2, "-j needs a target"),
    ('-A DOCKER -m comment --comment "x\n', 1, "unbalanced quote"),
    ("-P INPUT ACCEPT -c 1 x\n", 1, "-c"),
])
def test_garbage_spec_names_the_line(text, lineno, words):
    with pytest.raises(IptablesParseError) as info:
        _iptables.parse_spec(text)
    assert info.value.lineno == lineno
    assert str(info.value).startswith("line %d: " % lineno)
    assert words in str(info.value)


def test_garbage_other():
    with pytest.raises(IptablesParseError, match="unknown table 'firewall'"):
        _iptables.parse_spec("-N X\n", table="firewall")
    with pytest.raises(IptablesParseError, match="must be text"):
        _iptables.parse_save(b"*filter\nCOMMIT\n")
    with pytest.raises(IptablesParseError, match="line 1: expected -P, -N or -A"):
        _iptables.parse("garbage\n")


def test_model_is_json_data():
    import json
    for path in SAVE_FIXTURES:
        model = _iptables.parse_save(_read(path), family=family_of(path))
        assert json.loads(json.dumps(model)) == model
        assert copy.deepcopy(model) == model
