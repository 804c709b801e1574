# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine judges native nftables tables (issue 11, item 2): the Docker-29-layout and
Debian nftables.conf captures (tests/fixtures/nft, real ``nft -j`` output), hooks in
priority order across iptables and nft, nft rule names in traces, no silent blindness."""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure, _nftables
from ansible_collections.dockerguard.firewall.plugins.module_utils._hook_walk import plan

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "nft")
HOST = {"interfaces": {"ext0": ["10.250.21.1/24"], "ext1": ["10.250.22.1/24"],
                       "bridge1": ["10.250.20.1/24"], "docker0": ["10.250.17.1/24"]},
        "bridges": ["bridge1", "docker0"]}
EMPTY = {"ipv4": {"family": "ipv4", "tables": {}}}


def nft(name):
    with open(os.path.join(FIX, name)) as fh:
        return _nftables.parse(fh.read())


def verdict(engine, source, iface, dst="10.250.21.1", port=8080):
    return engine.evaluate(dict(source=source, in_interface=iface, destination=dst, dport=port))


def test_docker29_layout_publishes_and_drops_direct_access():
    e = _exposure.Engine(EMPTY, HOST, nftables=nft("docker29/docker-bridges.json"))
    r = verdict(e, "10.250.21.99", "ext0")
    assert r["verdict"] == "exposed", _exposure.explain(r)
    refs = [s["ref"] for s in r["trace"]]
    assert "ip docker-bridges nat-prerouting-and-output#1" in refs
    assert "ip docker-bridges filter-forward-in__bridge1#3" in refs
    direct = verdict(e, "10.250.21.99", "ext0", dst="10.250.20.2", port=80)
    assert direct["verdict"] == "filtered"
    assert direct["decided_by"] == "ip docker-bridges raw-PREROUTING#1"
    # a port Docker did not publish: UNPUBLISHED PORT DROP (not DNATed: not local either)
    assert verdict(e, "10.250.21.99", "ext0", dst="10.250.20.2", port=81)["verdict"] == "filtered"


def test_user_base_chain_restricts_by_ct_original_proto_dst():
    e = _exposure.Engine(EMPTY, HOST, nftables=nft("docker29/docker-bridges+user-restrict.json"))
    assert verdict(e, "10.250.21.10", "ext0")["verdict"] == "exposed"
    denied = verdict(e, "10.250.21.11", "ext0")
    assert denied["verdict"] == "filtered"
    assert denied["decided_by"] == "inet dg-user-restrict restrict-8080#4"
    text = _exposure.explain(denied)
    assert "inet dg-user-restrict forward#2: meta l4proto tcp ct original proto-dst vmap " \
           "@published_tcp" in text
    # the concatenation: 10.250.22.10 only from ext1
    assert verdict(e, "10.250.22.10", "ext1")["verdict"] == "exposed"
    assert verdict(e, "10.250.22.10", "ext0")["verdict"] == "filtered"
    reach = e.reachability(dict(in_interface="ext0", destination="10.250.21.1", dport=8080),
                           regions=False)
    assert reach["exposed_cidrs"] == ["10.250.21.10/32", "10.250.23.0/24", "10.250.24.1/32",
                                      "10.250.24.2/31", "10.250.24.4/30", "10.250.24.8/31"]
    assert reach["unknown"] == "nothing"


def test_debian_forward_drop_beside_iptables_nft_counted_once():
    model = nft("debian/nftables-conf+docker-iptables.json")
    assert "inet filter" not in model["iptables_nft_tables"]
    assert [c["table"] for c in plan(model, "ipv4", "FORWARD")["filter"][1]] == ["inet filter"]
    with open(os.path.join(FIX, "..", "real", "docker-28.5-bridge-publish-8080.iptables-save")) as fh:
        from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save
        ipt = {"ipv4": parse_save(fh.read())}
    host = {"interfaces": {"eth0": ["10.250.30.2/24"], "docker0": ["172.18.0.1/16"]},
            "bridges": ["docker0"]}
    alone = _exposure.Engine(ipt, host)
    both = _exposure.Engine(ipt, host, nftables=model)
    probe = dict(source="10.250.30.9", in_interface="eth0", destination="10.250.30.2", dport=8080)
    a, b = alone.evaluate(probe), both.evaluate(probe)
    assert a["verdict"] == "exposed"
    dnat_port = int(a["dnat"].rsplit(":", 1)[1])
    assert b["verdict"] == ("exposed" if dnat_port == 80 else "filtered"), _exposure.explain(b)


def test_priority_plan_cuts():
    model = nft("docker29/docker-bridges+user-restrict.json")
    pre = plan(model, "ipv4", "PREROUTING")
    assert [c["chain"] for c in pre["raw"][1]] == ["raw-PREROUTING"]
    assert [c["chain"] for c in pre["nat"][1]] == ["nat-PREROUTING"]
    fwd = plan(model, "ipv4", "FORWARD")
    assert [c["chain"] for c in fwd["filter"][0]] == ["forward"]           # filter - 10
    assert [c["chain"] for c in fwd["filter"][1]] == ["filter-FORWARD"]    # filter
    assert plan(model, "ipv6", "FORWARD")["filter"][0][0]["table"] == "inet dg-user-restrict"


def test_unknown_expression_tried_both_ways():
    model = nft("docker29/docker-bridges.json")
    chain = model["tables"]["ip docker-bridges"]["chains"]["filter-forward-in__bridge1"]
    limit = {"match": {"op": "==", "left": {"meta": {"key": "cpu"}}, "right": 1}}
    chain["rules"].insert(0, {"text": "meta cpu 1 accept", "expr": [limit, {"accept": None}]})
    e = _exposure.Engine(EMPTY, HOST, nftables=model)
    r = verdict(e, "10.250.21.99", "ext0")   # accepted either way
    assert r["verdict"] == "exposed"
    assert r["regardless_of"][0]["ref"] == "ip docker-bridges filter-forward-in__bridge1#1"
    chain["rules"][0]["expr"][1] = {"drop": None}
    r = verdict(e.__class__(EMPTY, HOST, nftables=model), "10.250.21.99", "ext0")
    assert r["verdict"] == "unknown"
    assert r["decided_by"] == "ip docker-bridges filter-forward-in__bridge1#1"


@pytest.mark.parametrize("given", [None, {"available": False, "reason": "nft not found"}])
def test_no_silent_blindness(given):
    e = _exposure.Engine(EMPTY, HOST, nftables=given,
                         blind="Docker reports firewall backend nftables and the nftables "
                               "ruleset was not read")
    r = verdict(e, "10.250.21.99", "ext0", dst="10.250.21.1", port=22)
    assert r["verdict"] == "unknown"
    assert "nftables ruleset was not read" in r["reason"]
    assert r["verdict_without_nftables"] == "exposed"
    read = _exposure.Engine(EMPTY, HOST, nftables=nft("docker29/docker-bridges.json"),
                            blind="not used once the ruleset is given")
    assert verdict(read, "10.250.21.99", "ext0")["verdict"] == "exposed"


def test_debian_forward_policy_drop_decides_without_its_accept():
    model = nft("debian/nftables-conf+docker-iptables.json")
    rules = model["tables"]["inet filter"]["chains"]["forward"]["rules"]
    del rules[1]   # tcp dport 80 accept
    with open(os.path.join(FIX, "..", "real", "docker-28.5-bridge-publish-8080.iptables-save")) as fh:
        from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save
        ipt = {"ipv4": parse_save(fh.read())}
    host = {"interfaces": {"eth0": ["10.250.30.2/24"], "docker0": ["172.18.0.1/16"]},
            "bridges": ["docker0"]}
    r = _exposure.Engine(ipt, host, nftables=model).evaluate(
        dict(source="10.250.30.9", in_interface="eth0", destination="10.250.30.2", dport=8080))
    assert r["verdict"] == "filtered"
    assert r["decided_by"] == "inet filter forward policy"


def test_nft_steps_render_like_iptables_steps():
    """Text, Markdown and HTML draw the path from the same boxes: an nft base chain opens
    a box titled with its table and chain; the decisive nft rule is marked."""
    from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_render as render
    e = _exposure.Engine(EMPTY, HOST, nftables=nft("docker29/docker-bridges+user-restrict.json"))
    r = verdict(e, "10.250.21.11", "ext0")
    r["source"] = {"address": "10.250.21.11", "name": "lab client", "interface": "ext0"}
    boxes = render.diagram(r)
    titles = [b["title"] for b in boxes]
    assert "ip docker-bridges nat-PREROUTING" in titles
    assert "inet dg-user-restrict forward" in titles
    assert "ip docker-bridges raw-PREROUTING" not in titles   # policy accept only: quiet
    assert titles[-1] == "dropped by inet dg-user-restrict restrict-8080#4"
    drop = [ln for b in boxes for ln in b["lines"] if ln["decisive"]]
    assert [(ln["label"], ln["kind"]) for ln in drop] == [("restrict-8080#4", "drop")]
    nat = [ln for b in boxes for ln in b["lines"] if ln["kind"] == "nat"]
    assert nat and nat[0]["ref"] == "ip docker-bridges nat-prerouting-and-output#1"
    text = render.diagram_text(r)
    html = render.diagram_html(r)
    for out in (text, html):
        assert "inet dg-user-restrict forward" in out and "restrict-8080#4" in out


@pytest.mark.parametrize("situation, source, port, expect, by", [
    # the three wrong verdicts, on the real captures of the firewalld lab node
    ("default", "10.250.40.10", 6060, "filtered", "inet firewalld filter_IN_public_to_HOST#3"),
    ("port-opened", "10.250.40.10", 6060, "exposed", "inet firewalld filter_IN_public_allow#3"),
    ("rich-rule", "10.250.40.20", 6060, "filtered", "inet firewalld filter_IN_public_deny#1"),
    ("rich-rule", "10.250.40.10", 6060, "exposed", "inet firewalld filter_IN_public_allow#3"),
    ("default", "10.250.40.10", 8080, "exposed", "filter/DOCKER#1"),
    ("strict-forward-ports", "10.250.40.10", 8080, "filtered",
     "inet firewalld filter_FORWARD_dnat#1"),
])
def test_firewalld_captures(situation, source, port, expect, by):
    from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save
    base = os.path.join(FIX, "firewalld", situation)
    with open(os.path.join(base, "iptables-save")) as fh:
        ipt = {"ipv4": parse_save(fh.read())}
    host = {"interfaces": {"eth0": ["10.250.40.2/24"], "docker0": ["172.18.0.1/16"]},
            "bridges": ["docker0"],
            "listeners": [{"address": "0.0.0.0", "port": 6060}, {"address": "0.0.0.0", "port": 8080}]}
    e = _exposure.Engine(ipt, host, nftables=nft("firewalld/%s/ruleset.json" % situation))
    r = e.evaluate(dict(source=source, in_interface="eth0", destination="10.250.40.2", dport=port))
    assert (r["verdict"], r["decided_by"]) == (expect, by), _exposure.explain(r)
    blind = _exposure.Engine(ipt, host, blind="Docker reports iptables+firewalld").evaluate(
        dict(source=source, in_interface="eth0", destination="10.250.40.2", dport=port))
    assert blind["verdict"] == "unknown"


def test_firewalld_ipv6_rpfilter_by_route_back():
    """firewalld's IPv6 reverse path filter (``fib saddr . mark . iif oif missing drop``):
    a source routed back through the interface it came in on passes, another is dropped;
    without the default route it cannot be told (tried both ways: unknown)."""
    model = nft("firewalld/port-opened/ruleset.json")
    v6 = {"ipv6": {"family": "ipv6", "tables": {}}}
    host = {"interfaces": {"eth0": ["fd00:250:40::2/64"], "eth1": ["fd00:250:41::2/64"]},
            "listeners": [{"address": "::", "port": 6060}], "default_interface": "eth1"}
    e = _exposure.Engine(v6, host, nftables=model)
    probe = dict(in_interface="eth0", destination="fd00:250:40::2", dport=6060)
    assert e.evaluate(dict(probe, source="fd00:250:40::9"))["verdict"] == "exposed"
    r = e.evaluate(dict(probe, source="fd00:250:99::9"))   # its route back leaves by eth1
    assert r["verdict"] == "filtered" and r["decided_by"] == "inet firewalld filter_PREROUTING#2"
    del host["default_interface"]
    r = _exposure.Engine(v6, host, nftables=model).evaluate(dict(probe, source="fd00:250:40::9"))
    assert r["verdict"] == "unknown" and "default route" in r["reason"]


def test_port_comparisons():
    """``tcp dport < 1024`` and friends on the server's port; on the client's, unknown."""
    from ansible_collections.dockerguard.firewall.plugins.module_utils import _nft_match as nm
    pkt = _exposure._packet(_exposure.make_probe(source="10.250.21.9", in_interface="ext0",
                                                 destination="10.250.21.1", dport=8080))
    ctx = _exposure.Host(HOST).families["ipv4"]["ctx"]
    dport = {"payload": {"protocol": "tcp", "field": "dport"}}
    sport = {"payload": {"protocol": "tcp", "field": "sport"}}
    assert nm.match({"op": "<", "left": dport, "right": 1024}, pkt, ctx, {}) is False
    assert nm.match({"op": ">=", "left": dport, "right": 8080}, pkt, ctx, {}) is True
    assert isinstance(nm.match({"op": "<", "left": sport, "right": 1024}, pkt, ctx, {}), str)
