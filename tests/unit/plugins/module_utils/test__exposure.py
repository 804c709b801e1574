# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the exposure engine (plugins/module_utils/_exposure.py).

Real captures (tests/fixtures/real, what real traffic showed is in its README), the seed
articles' rule sets (tests/fixtures/seeds) and synthetic rulesets for each path Docker
builds: DNAT + FORWARD, DOCKER-USER fixes and mistakes, host networking (INPUT),
127.0.0.1 publishing, swarm ingress, docker-proxy for IPv6, REJECT vs DROP, rules the
engine cannot evaluate.
"""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure as ex
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import (
    parse_save, parse_spec)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "..", "fixtures"))
SEEDS = os.path.join(FIXTURES, "seeds")
REAL = os.path.join(FIXTURES, "real")

HOST_IP = "10.250.0.2"
HOST = {
    "interfaces": {"eth0": [HOST_IP + "/24", "fd00:250::2/64"], "docker0": ["172.18.0.1/16"],
                   "lo": ["127.0.0.1/8", "::1/128"]},
    "bridges": ["docker0"],
}


def _read(*parts):
    with open(os.path.join(*parts), encoding="utf-8") as f:
        return f.read()


def seed_model(*names):
    return parse_save("\n".join(_read(SEEDS, n) for n in names))


def real_model(name, family="ipv4"):
    return parse_save(_read(REAL, name), family)


def probe(source, dport=8080, destination=HOST_IP, iface="eth0", proto="tcp", **kw):
    return dict(source=source, in_interface=iface, protocol=proto, destination=destination,
                dport=dport, **kw)


def refs(result):
    return [s["ref"] for s in result["trace"]]


# --- real captures ------------------------------------------------------------------

class TestRealDocker2010AllowList(object):
    """DOCKER-USER: ! -s 10.99.0.0/16 --ctorigdstport 8080 DROP; measured: outside blocked."""

    engine = ex.Engine(real_model("docker-20.10-publish-8080-docker-user-only-10.99.iptables-save"),
                       HOST)

    def test_client_outside_is_filtered(self):
        r = self.engine.evaluate(probe("10.250.0.20"))
        assert r["verdict"] == "filtered"
        assert r["action"] == "DROP"
        assert r["decided_by"] == "filter/DOCKER-USER#1"
        assert r["dnat"] == "172.18.0.2:80"
        assert refs(r) == ["nat/PREROUTING#1", "nat/DOCKER#2", "routing", "filter/FORWARD#1",
                           "filter/DOCKER-USER#1"]

    def test_client_inside_is_exposed(self):
        r = self.engine.evaluate(probe("10.99.3.4"))
        assert r["verdict"] == "exposed"
        assert r["decided_by"] == "filter/DOCKER#1"
        assert r["path"] == "forward"
        assert r["out_interface"] == "docker0"

    def test_reachability(self):
        s = self.engine.reachability(probe(None))
        assert s["exposed"] == "10.99.0.0/16"
        assert s["filtered"] == "0.0.0.0/0 except 10.99.0.0/16"
        assert s["unknown"] == "nothing"
        assert s["exposed_cidrs"] == ["10.99.0.0/16"]

    def test_other_port_is_local_and_not_dnat(self):
        r = self.engine.evaluate(probe("10.250.0.20", dport=22))
        assert r["verdict"] == "exposed"
        assert r["path"] == "local"
        assert "dnat" not in r

    def test_explain_reads_as_a_path(self):
        text = ex.explain(self.engine.evaluate(probe("10.250.0.20")))
        lines = text.splitlines()
        assert lines[0] == "tcp 10.250.0.20 -> 10.250.0.2:8080 in eth0 (ipv4)"
        assert u"nat/DOCKER#2: -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT " \
               u"--to-destination 172.18.0.2:80 \u2192 DNAT to 172.18.0.2:80" in text
        assert lines[-1] == "  = filtered: dropped by filter/DOCKER-USER#1"


class TestRealDocker285(object):
    """Docker 28 layout (DOCKER-FORWARD, DOCKER-CT, raw drops); measured: reachable."""

    engine = ex.Engine({"ipv4": real_model("docker-28.5-bridge-publish-8080.iptables-save"),
                        "ipv6": real_model("docker-28.5-bridge-publish-8080.ip6tables-save",
                                           "ipv6")},
                       dict(HOST, listeners=[{"address": "0.0.0.0", "port": 8080},
                                             {"address": "::", "port": 8080}]))

    @pytest.mark.parametrize("source", ["10.250.0.20", "10.99.0.1", "198.51.100.7"])
    def test_reachable_from_anywhere(self, source):
        r = self.engine.evaluate(probe(source))
        assert r["verdict"] == "exposed"
        assert r["decided_by"] == "filter/DOCKER#1"
        assert "filter/DOCKER-FORWARD#3" in refs(r)
        assert "raw/PREROUTING" in refs(r)  # the raw policy: the DROP did not apply

    def test_reachability_everyone(self):
        assert self.engine.reachability(probe(None))["exposed"] == "0.0.0.0/0"

    def test_direct_routing_to_container_dropped_in_raw(self):
        r = self.engine.evaluate(probe("10.250.0.20", destination="172.18.0.2", dport=80))
        assert r["verdict"] == "filtered"
        assert r["decided_by"] == "raw/PREROUTING#1"

    def test_unpublished_container_port_dropped(self):
        # from a host on the docker0 segment? no: from outside, port 81 is not published
        r = self.engine.evaluate(probe("10.250.0.20", dport=81))
        assert r["verdict"] == "filtered"
        assert r["action"] == "closed"

    def test_ipv6_reaches_docker_proxy_through_input(self):
        r = self.engine.evaluate(probe("fd00:250::9", destination="fd00:250::2"))
        assert r["verdict"] == "exposed"
        assert r["path"] == "local"
        assert "where a socket listens" in r["reason"]
        packets = [st.get("packet") for st in r["trace"] if st["ref"] == "routing"]
        assert packets == [None, "syn-ack", "ack", "data", "server-data"]
        syn_ack = refs(r).index("routing", refs(r).index("filter/INPUT"))
        assert refs(r)[syn_ack - 1:syn_ack + 2] == ["filter/INPUT", "routing", "filter/OUTPUT"]


# --- seed 002: INPUT restricts 80, Docker forwards it anyway --------------------------

OFFICE_INPUT = """*filter
:INPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -s 192.168.10.0/24 -p tcp -m tcp --dport 80 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j DROP
COMMIT
"""
SEED2_HOST = {"interfaces": {"ens160": ["198.51.100.1/24"], "docker0": ["172.17.0.1/16"]},
              "bridges": {"docker0": ["172.17.0.0/16"]}}


def with_input(model):
    """Add the article's host firewall (port 80 for the office only) to INPUT."""
    office = parse_save(OFFICE_INPUT)["tables"]["filter"]["chains"]["INPUT"]["rules"]
    model["tables"]["filter"]["chains"]["INPUT"]["rules"] = office
    return model


def seed2(*names):
    return ex.Engine(with_input(seed_model(*names)), SEED2_HOST)


class TestSeed002(object):
    def test_port_80_open_to_the_world_despite_input(self):
        e = seed2("002-filter.rules", "002-nat.rules")
        r = e.evaluate(probe("203.0.113.99", dport=80, destination="198.51.100.1", iface="ens160"))
        assert r["verdict"] == "exposed"
        assert "filter/INPUT#4" not in refs(r)
        assert r["decided_by"] == "filter/DOCKER#1"
        s = e.reachability(probe(None, dport=80, destination="198.51.100.1", iface="ens160"))
        assert s["exposed"] == "0.0.0.0/0"

    def test_docker_user_fix_allows_only_the_listed_sources(self):
        e = seed2("002-filter-docker-user.rules", "002-nat.rules")
        p = dict(dport=80, destination="198.51.100.1", iface="ens160")
        assert e.evaluate(probe("203.0.113.10", **p))["verdict"] == "exposed"
        assert e.evaluate(probe("198.51.100.20", **p))["verdict"] == "exposed"
        r = e.evaluate(probe("203.0.113.99", **p))
        assert r["verdict"] == "filtered"
        assert r["decided_by"] == "filter/DOCKER-USER#3"
        s = e.reachability(probe(None, **p))
        assert s["exposed"] == "198.51.100.20/32, 203.0.113.10/32"
        # the fix names -i ens160: another interface is not restricted
        s2 = e.reachability(probe(None, dport=80, destination="198.51.100.1", iface="eth1"))
        assert s2["exposed"] == "0.0.0.0/0"

    def test_net_host_input_applies(self):
        e = seed2("002-filter-net-host.rules", "002-nat-net-host.rules")
        p = dict(dport=80, destination="198.51.100.1", iface="ens160")
        office = e.evaluate(probe("192.168.10.5", **p))
        assert office["verdict"] == "exposed"
        assert office["decided_by"] == "filter/INPUT#3"
        other = e.evaluate(probe("203.0.113.99", **p))
        assert other["verdict"] == "filtered"
        assert other["decided_by"] == "filter/INPUT#4"
        assert other["path"] == "local"
        assert e.reachability(probe(None, **p))["exposed"] == "192.168.10.0/24"


# --- seeds 000, 001, 003: what Docker 20.10/28 write for -p --------------------------

@pytest.mark.parametrize("names,dport", [
    (("000-filter.rules", "000-nat.rules"), 8888),
    (("003-filter-nginx.rules", "003-nat-nginx.rules"), 80),
])
def test_seed_publish_reaches_container_from_anywhere(names, dport):
    e = ex.Engine(seed_model(*names), {"interfaces": {"eth0": ["172.31.37.164/20"],
                                                      "docker0": ["172.17.0.1/16"]},
                                       "bridges": ["docker0"]})
    r = e.evaluate(probe("203.0.113.5", dport=dport, destination="172.31.37.164"))
    assert r["verdict"] == "exposed"
    assert r["dnat"] == "172.17.0.2:80"
    assert e.reachability(probe(None, dport=dport, destination="172.31.37.164"))["exposed"] \
        == "0.0.0.0/0"


def test_seed_001_without_published_port_is_local():
    e = ex.Engine(seed_model("001-filter.rules", "001-nat.rules"),
                  {"interfaces": {"eth0": ["192.0.2.10/24"], "docker0": ["172.17.0.1/16"]},
                   "bridges": ["docker0"], "listeners": []})
    r = e.evaluate(probe("203.0.113.5", dport=80, destination="192.0.2.10"))
    assert r["verdict"] == "filtered"
    assert r["action"] == "closed"


# --- seed 004: swarm ingress (iptables -S listings) ----------------------------------

def swarm_model():
    model = parse_spec(_read(SEEDS, "004-filter-baseline.spec.txt"))
    parse_spec(_read(SEEDS, "004-filter-swarm-added.spec.txt"), model=model)
    parse_spec(_read(SEEDS, "004-nat-baseline.spec.txt"), table="nat", model=model)
    parse_spec(_read(SEEDS, "004-nat-swarm-added.spec.txt"), table="nat", model=model)
    return model


SWARM_HOST = {"interfaces": {"eth0": ["192.168.61.6/24"], "docker0": ["172.17.0.1/16"],
                             "docker_gwbridge": ["172.18.0.1/16"]},
              "bridges": ["docker0", "docker_gwbridge"]}


class TestSwarmIngress(object):
    def test_spec_listing_without_policies_is_unknown_not_guessed(self):
        # iptables -S excerpts carry no -P line for FORWARD: its policy is not known
        e = ex.Engine(swarm_model(), SWARM_HOST)
        r = e.evaluate(probe("203.0.113.5", dport=80, destination="192.168.61.6"))
        # DOCKER-INGRESS (filter) accepts --dport 80 before the policy matters
        assert r["verdict"] == "exposed"
        assert r["dnat"] == "172.18.0.2:80"
        assert r["out_interface"] == "docker_gwbridge"
        assert r["decided_by"] == "filter/DOCKER-INGRESS#1"
        # not DNATed: local delivery, and the excerpts never show INPUT
        r2 = e.evaluate(probe("203.0.113.5", dport=81, destination="192.168.61.6"))
        assert r2["verdict"] == "unknown"
        assert r2["reason"] == "filter/INPUT: filter/INPUT is not in the listing"
        model = swarm_model()
        model["tables"]["filter"]["chains"]["INPUT"] = {
            "builtin": True, "policy": None, "rules": []}
        r3 = ex.Engine(model, SWARM_HOST).evaluate(
            probe("203.0.113.5", dport=81, destination="192.168.61.6"))
        assert r3["verdict"] == "unknown"
        assert "policy" in r3["reason"]

    def test_swarm_transcription_from_fixture(self):
        e = ex.Engine(seed_model("004-filter-swarm.rules", "004-nat-swarm.rules"), SWARM_HOST)
        r = e.evaluate(probe("203.0.113.5", dport=80, destination="192.168.61.6"))
        assert r["verdict"] == "exposed"
        assert refs(r)[:3] == ["nat/PREROUTING#1", "nat/DOCKER-INGRESS#1", "routing"]
        s = e.reachability(probe(None, dport=80, destination="192.168.61.6"))
        assert s["exposed"] == "0.0.0.0/0"

    def test_docker_user_restricts_ingress(self):
        model = seed_model("004-filter-swarm.rules", "004-nat-swarm.rules")
        rules = parse_save("*filter\n:DOCKER-USER - [0:0]\n"
                           "-A DOCKER-USER -i eth0 ! -s 10.0.0.0/8 -p tcp -m conntrack "
                           "--ctorigdstport 80 -j REJECT --reject-with tcp-reset\n"
                           "-A DOCKER-USER -j RETURN\nCOMMIT\n")
        model["tables"]["filter"]["chains"]["DOCKER-USER"] = \
            rules["tables"]["filter"]["chains"]["DOCKER-USER"]
        e = ex.Engine(model, SWARM_HOST)
        r = e.evaluate(probe("203.0.113.5", dport=80, destination="192.168.61.6"))
        assert (r["verdict"], r["action"], r["reject_with"]) == ("filtered", "REJECT", "tcp-reset")
        assert e.reachability(probe(None, dport=80, destination="192.168.61.6"))["exposed"] \
            == "10.0.0.0/8"


# --- synthetic rulesets --------------------------------------------------------------

DOCKER_2010 = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80
-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 9090 -j DNAT --to-destination 172.18.0.3:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.18.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER -d 172.18.0.3/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
%(user)s
-A DOCKER-USER -j RETURN
COMMIT
"""


def docker2010(user="", host=None, extra=""):
    text = DOCKER_2010 % {"user": user}
    if extra:
        text += extra
    return ex.Engine(parse_save(text), host or HOST)


class TestDockerUser(object):
    def test_matching_the_host_port_with_dport_is_ineffective(self):
        e = docker2010("-A DOCKER-USER ! -s 10.99.0.0/16 -p tcp -m tcp --dport 8080 -j DROP")
        r = e.evaluate(probe("10.250.0.20"))
        assert r["verdict"] == "exposed"
        miss = [s for s in r["trace"] if s["ref"] == "filter/DOCKER-USER#1"]
        assert miss and miss[0]["effect"].startswith("no match: --dport sees the port after DNAT (80)")
        assert "--ctorigdstport 8080" in miss[0]["effect"]
        assert e.reachability(probe(None))["exposed"] == "0.0.0.0/0"

    def test_matching_the_container_port_works(self):
        e = docker2010("-A DOCKER-USER ! -s 10.99.0.0/16 -p tcp -m tcp --dport 80 -j DROP")
        assert e.evaluate(probe("10.250.0.20"))["verdict"] == "filtered"
        assert e.reachability(probe(None))["exposed"] == "10.99.0.0/16"

    def test_matching_the_host_address_with_d_is_ineffective(self):
        e = docker2010("-A DOCKER-USER -d %s/32 -j DROP" % HOST_IP)
        r = e.evaluate(probe("10.250.0.20"))
        assert r["verdict"] == "exposed"
        assert any("-d sees the address after DNAT" in s["effect"] for s in r["trace"])

    def test_ctorigdst_sees_the_original_address(self):
        e = docker2010("-A DOCKER-USER -m conntrack --ctorigdst %s/32 --ctorigdstport 8080 "
                       "-j DROP" % HOST_IP)
        assert e.evaluate(probe("10.250.0.20"))["verdict"] == "filtered"

    def test_two_allowed_cidrs_and_reject(self):
        e = docker2010("-A DOCKER-USER -s 10.1.0.0/16 -j RETURN\n"
                       "-A DOCKER-USER -s 192.168.0.0/24 -j RETURN\n"
                       "-A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 8080 "
                       "--ctdir ORIGINAL -j REJECT --reject-with icmp-port-unreachable")
        r = e.evaluate(probe("10.250.0.20"))
        assert (r["verdict"], r["action"]) == ("filtered", "REJECT")
        assert r["reject_with"] == "icmp-port-unreachable"
        assert e.evaluate(probe("10.1.2.3"))["verdict"] == "exposed"
        s = e.reachability(probe(None))
        assert s["exposed"] == "10.1.0.0/16, 192.168.0.0/24"
        assert s["filtered"] == "0.0.0.0/0 except (10.1.0.0/16, 192.168.0.0/24)"

    def test_interface_restriction_and_wildcard(self):
        e = docker2010("-A DOCKER-USER -i eth+ -p tcp -m conntrack --ctorigdstport 8080 -j DROP")
        assert e.evaluate(probe("10.250.0.20", iface="eth0"))["verdict"] == "filtered"
        assert e.evaluate(probe("10.250.0.20", iface="wg0"))["verdict"] == "exposed"

    def test_negated_interface_and_multiport_and_range(self):
        e = docker2010("-A DOCKER-USER ! -i wg0 -p tcp -m multiport --dports 22,80:90 -j DROP")
        assert e.evaluate(probe("10.250.0.20"))["verdict"] == "filtered"
        assert e.evaluate(probe("10.250.0.20", iface="wg0"))["verdict"] == "exposed"
        e2 = docker2010("-A DOCKER-USER -p tcp -m tcp --dport 81:90 -j DROP")
        assert e2.evaluate(probe("10.250.0.20"))["verdict"] == "exposed"

    def test_goto_returns_to_the_caller_of_the_caller(self):
        text = (DOCKER_2010 % {"user": "-A DOCKER-USER -g ALLOW"}).replace(
            ":DOCKER-USER - [0:0]", ":DOCKER-USER - [0:0]\n:ALLOW - [0:0]").replace(
            "-A DOCKER-USER -j RETURN", "-A DOCKER-USER -j RETURN\n"
            "-A ALLOW -s 10.99.0.0/16 -j ACCEPT\n"
            "-A ALLOW -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP")
        e = ex.Engine(parse_save(text), HOST)
        assert e.evaluate(probe("10.99.1.1"))["verdict"] == "exposed"
        r = e.evaluate(probe("10.250.0.20"))
        assert r["decided_by"] == "filter/ALLOW#2"
        # port 9090 (other container): ALLOW falls off its end -> back to FORWARD, not DOCKER-USER
        r = e.evaluate(probe("10.250.0.20", destination="127.0.0.1", dport=9090))
        assert "filter/DOCKER-USER#2" not in refs(r)
        path = refs(r)
        assert path[path.index("filter/DOCKER#2") - 1] == "filter/FORWARD#3"
        assert r["verdict"] == "exposed"


class TestLocalhostPublish(object):
    host = dict(HOST, listeners=[{"address": "127.0.0.1", "port": 9090, "protocol": "tcp"}])

    def test_not_reachable_on_the_public_address(self):
        r = docker2010(host=self.host).evaluate(probe("10.250.0.20", dport=9090))
        assert r["verdict"] == "filtered"
        assert r["action"] == "closed"
        assert r["path"] == "local"

    def test_before_28_a_neighbour_reaches_it_through_127_0_0_1(self):
        r = docker2010(host=self.host).evaluate(
            probe("10.250.0.20", destination="127.0.0.1", dport=9090))
        assert r["verdict"] == "exposed"
        assert r["dnat"] == "172.18.0.3:80"

    def test_docker_28_raw_rule_drops_it(self):
        raw = ("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
               "-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 9090 -j DROP\nCOMMIT\n")
        e = docker2010(host=self.host, extra=raw)
        r = e.evaluate(probe("10.250.0.20", destination="127.0.0.1", dport=9090))
        assert (r["verdict"], r["decided_by"]) == ("filtered", "raw/PREROUTING#1")
        with pytest.raises(ValueError, match="comes from the host itself"):
            e.evaluate(probe("127.0.0.1", destination="127.0.0.1", dport=9090, iface="lo"))

    def test_loopback_without_dnat_is_martian(self):
        r = docker2010(host=self.host).evaluate(
            probe("10.250.0.20", destination="127.0.0.1", dport=22))
        assert (r["verdict"], r["action"]) == ("filtered", "martian")


class TestHostNetworkAndProxy(object):
    def test_host_network_container_input_decides(self):
        text = ("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                "-A INPUT -s 10.250.0.10/32 -p tcp -m tcp --dport 8081 -j ACCEPT\nCOMMIT\n")
        host = dict(HOST, listeners=[{"address": "0.0.0.0", "port": 8081, "protocol": "tcp"}])
        e = ex.Engine(parse_save(text), host)
        assert e.evaluate(probe("10.250.0.10", dport=8081))["verdict"] == "exposed"
        r = e.evaluate(probe("10.250.0.20", dport=8081))
        assert (r["verdict"], r["decided_by"]) == ("filtered", "filter/INPUT policy")
        assert e.reachability(probe(None, dport=8081))["exposed"] == "10.250.0.10/32"

    def test_iptables_false_docker_proxy_input_decides(self):
        # --iptables=false: no Docker rules at all; docker-proxy listens on 0.0.0.0:8080
        text = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                "-A INPUT -p udp -m udp --dport 8080 -j DROP\nCOMMIT\n")
        host = dict(HOST, listeners=[{"address": "0.0.0.0", "port": 8080, "protocol": "tcp"}])
        e = ex.Engine(parse_save(text), host)
        assert e.evaluate(probe("10.250.0.20"))["verdict"] == "exposed"
        assert e.evaluate(probe("10.250.0.20", proto="udp"))["verdict"] == "filtered"

    def test_ipv6_without_ruleset_is_unknown(self):
        e = docker2010()
        r = e.evaluate(probe("fd00:250::9", destination="fd00:250::2"))
        assert r["verdict"] == "unknown"
        assert "no ipv6 ruleset" in r["reason"]

    def test_ipv6_dnat_in_brackets(self):
        text = ("*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n"
                "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n"
                "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT "
                "--to-destination [fd00:d0c::2]:80\nCOMMIT\n"
                "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:DOCKER - [0:0]\n"
                "-A FORWARD -o docker0 -j DOCKER\n"
                "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT\n"
                "-A DOCKER -d fd00:d0c::2/128 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 "
                "-j ACCEPT\nCOMMIT\n")
        host = dict(HOST, bridges={"docker0": ["172.18.0.0/16", "fd00:d0c::/64"]})
        e = ex.Engine(parse_save(text, "ipv6"), host)
        r = e.evaluate(probe("2001:db8::1", destination="fd00:250::2"))
        assert r["verdict"] == "exposed"
        assert r["dnat"] == "[fd00:d0c::2]:80"
        assert e.reachability(probe(None, destination="fd00:250::2"))["exposed"] == "::/0"


class TestUnknown(object):
    def test_unknown_match_before_accept_names_the_rule(self):
        e = docker2010("-A DOCKER-USER -p tcp -m recent --name bad --rcheck -j DROP")
        r = e.evaluate(probe("10.250.0.20"))
        assert r["verdict"] == "unknown"
        assert r["unknown_rule"]["ref"] == "filter/DOCKER-USER#1"
        assert "recent" in r["reason"]
        s = e.reachability(probe(None))
        assert s["unknown"] == "0.0.0.0/0"

    def test_unknown_rule_limited_by_source_only_affects_those_sources(self):
        e = docker2010("-A DOCKER-USER -s 10.0.0.0/8 -m limit --limit 5/min -j DROP")
        s = e.reachability(probe(None))
        assert s["unknown"] == "10.0.0.0/8"
        assert s["exposed"] == "0.0.0.0/0 except 10.0.0.0/8"

    def test_unknown_rule_that_cannot_change_the_verdict(self):
        e = docker2010("-A DOCKER-USER -m limit --limit 5/min -j LOG\n"
                       "-A DOCKER-USER -p tcp -m hashlimit --hashlimit-above 10/sec "
                       "--hashlimit-name x -j RETURN")
        r = e.evaluate(probe("10.250.0.20"))
        assert r["verdict"] == "exposed"
        assert r["regardless_of"][0]["ref"] == "filter/DOCKER-USER#2"
        assert "whether it matches or not" in ex.explain(r)

    def test_ipset_unknown_unless_members_given(self):
        user = "-A DOCKER-USER -m set ! --match-set allow src -p tcp -m conntrack " \
               "--ctorigdstport 8080 --ctdir ORIGINAL -j DROP"
        r = docker2010(user).evaluate(probe("10.250.0.20"))
        assert r["verdict"] == "unknown"
        assert "ipset allow" in r["reason"]
        e = docker2010(user, host=dict(HOST, ipsets={"allow": ["10.250.0.0/28", "192.0.2.7"]}))
        assert e.evaluate(probe("10.250.0.9"))["verdict"] == "exposed"
        assert e.evaluate(probe("10.250.0.20"))["verdict"] == "filtered"
        assert e.reachability(probe(None))["exposed"] == "10.250.0.0/28, 192.0.2.7/32"

    def test_mark_unknown_unless_set_by_walked_rules(self):
        user = "-A DOCKER-USER -m mark --mark 0x1/0x1 -j DROP"
        # a packet from the wire carries mark 0 (issue 17): known, not unknown
        assert docker2010(user).evaluate(probe("10.250.0.20"))["verdict"] == "exposed"
        mangle = ("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
                  ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
                  "-A PREROUTING -s 10.66.0.0/16 -j MARK --set-xmark 0x1/0xffffffff\n"
                  "-A PREROUTING ! -s 10.66.0.0/16 -j MARK --set-xmark 0x0/0x1\nCOMMIT\n")
        e = docker2010(user, extra=mangle)
        assert e.evaluate(probe("10.66.1.1"))["verdict"] == "filtered"
        assert e.evaluate(probe("10.250.0.20"))["verdict"] == "exposed"
        assert e.reachability(probe(None))["filtered"] == "10.66.0.0/16"

    def test_nfqueue_is_unknown(self):
        r = docker2010("-A DOCKER-USER -j NFQUEUE --queue-num 1").evaluate(probe("10.250.0.20"))
        assert r["verdict"] == "unknown"
        assert "NFQUEUE" in r["reason"]

    def test_notrack_skips_nat(self):
        raw = ("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
               "-A PREROUTING -p tcp -m tcp --dport 8080 -j CT --notrack\nCOMMIT\n")
        r = docker2010(extra=raw).evaluate(probe("10.250.0.20"))
        assert r["path"] == "local"
        assert "dnat" not in r


class TestMatches(object):
    @pytest.mark.parametrize("user,verdict", [
        ("-A DOCKER-USER -m conntrack --ctstate NEW -j DROP", "filtered"),
        # the reply (SYN-ACK) is ESTABLISHED: dropping it kills the connection
        ("-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j DROP", "filtered"),
        ("-A DOCKER-USER -m conntrack --ctstate NEW,DNAT -j ACCEPT", "exposed"),
        ("-A DOCKER-USER -m conntrack --ctstate DNAT -j DROP", "filtered"),
        ("-A DOCKER-USER -m conntrack ! --ctstate DNAT -j DROP", "exposed"),
        ("-A DOCKER-USER -m state --state NEW -j DROP", "filtered"),
        ("-A DOCKER-USER -m conntrack --ctdir REPLY -j DROP", "filtered"),
        ("-A DOCKER-USER -m conntrack --ctdir REPLY -j RETURN", "exposed"),
        ("-A DOCKER-USER -m conntrack --ctstatus SEEN_REPLY -j DROP", "filtered"),
        # issue 17: the client's ACK and data are ASSURED, ACK without SYN, PSH
        ("-A DOCKER-USER -m conntrack --ctstatus ASSURED -j DROP", "filtered"),
        ("-A DOCKER-USER -m conntrack --ctstatus ASSURED --ctdir REPLY -j DROP", "filtered"),
        ("-A DOCKER-USER -p tcp -m tcp ! --syn -j DROP", "filtered"),
        ("-A DOCKER-USER -p tcp -m tcp --tcp-flags PSH PSH -j DROP", "filtered"),
        ("-A DOCKER-USER -p tcp -m tcp --tcp-flags ALL SYN,ACK -j DROP", "filtered"),
        ("-A DOCKER-USER -p tcp -m tcp --tcp-flags ALL ACK,PSH -j DROP", "filtered"),
        ("-A DOCKER-USER -p tcp -m tcp --tcp-flags ALL FIN -j DROP", "exposed"),
        ("-A DOCKER-USER -m conntrack --ctstate ESTABLISHED --ctdir ORIGINAL -j DROP",
         "filtered"),
        ("-A DOCKER-USER -m conntrack --ctorigsrc 10.250.0.0/24 -j DROP", "filtered"),
        ("-A DOCKER-USER -m conntrack --ctreplsrc 172.18.0.2 -j DROP", "filtered"),
        ("-A DOCKER-USER -m conntrack --ctorigdstport 8000:8100 -j DROP", "filtered"),
        ("-A DOCKER-USER -m conntrack --ctproto udp -j DROP", "exposed"),
        ("-A DOCKER-USER -m addrtype --dst-type LOCAL -j DROP", "exposed"),
        ("-A DOCKER-USER -m addrtype --src-type LOCAL -j DROP", "exposed"),
        ("-A DOCKER-USER -m addrtype --src-type UNICAST -j DROP", "filtered"),
        ("-A DOCKER-USER -m iprange --src-range 10.250.0.10-10.250.0.30 -j DROP", "filtered"),
        ("-A DOCKER-USER -m iprange --dst-range 172.18.0.1-172.18.0.9 -j DROP", "filtered"),
        ("-A DOCKER-USER -p tcp -m tcp --syn -j DROP", "filtered"),
        ("-A DOCKER-USER -p tcp -m tcp --tcp-flags SYN,ACK ACK -j DROP", "filtered"),
        # the reply comes from the container's port 80
        ("-A DOCKER-USER -p tcp -m tcp --sport 0:1023 -j DROP", "filtered"),
        ("-A DOCKER-USER -p tcp -m tcp --sport 0:1023 -m conntrack --ctdir ORIGINAL -j DROP",
         "exposed"),
        ("-A DOCKER-USER -p tcp -m tcp --sport 1024:65535 -j DROP", "filtered"),
        ("-A DOCKER-USER -p udp -j DROP", "exposed"),
        ("-A DOCKER-USER ! -p udp -j DROP", "filtered"),
        ("-A DOCKER-USER -p tcp -m comment --comment \"block all\" -j DROP", "filtered"),
        ("-A DOCKER-USER -f -j DROP", "exposed"),
        # the reply arrives on docker0, a bridge: bridge-netfilter data not known
        ("-A DOCKER-USER -m physdev --physdev-is-bridged -j DROP", "unknown"),
        ("-A DOCKER-USER -i eth0 -m physdev --physdev-is-bridged -j DROP", "exposed"),
        ("-A DOCKER-USER -m pkttype --pkt-type unicast -j DROP", "filtered"),
        ("-A DOCKER-USER -m connmark --mark 0x0 -j DROP", "filtered"),
        ("-A DOCKER-USER -o docker0 -d 172.18.0.0/16 -j DROP", "filtered"),
        ("-A DOCKER-USER ! -o docker0 -j DROP", "filtered"),  # the reply leaves on eth0
        ("-A DOCKER-USER ! -o docker0 ! -i docker0 -j DROP", "exposed"),
        ("-A DOCKER-USER -s 10.250.0.0/24 -d 172.18.0.2 -j ACCEPT\n"
         "-A DOCKER-USER -j DROP", "filtered"),   # no rule lets the reply out
        ("-A DOCKER-USER -s 10.250.0.0/24 -d 172.18.0.2 -j ACCEPT\n"
         "-A DOCKER-USER -d 10.250.0.0/24 -s 172.18.0.2 -j ACCEPT\n"
         "-A DOCKER-USER -j DROP", "exposed"),
    ])
    def test_match(self, user, verdict):
        assert docker2010(user).evaluate(probe("10.250.0.20"))["verdict"] == verdict

    def test_sport_partly_covering_the_ephemeral_range_is_unknown(self):
        r = docker2010("-A DOCKER-USER -p tcp -m tcp --sport 40000:50000 -j DROP").evaluate(
            probe("10.250.0.20"))
        assert r["verdict"] == "unknown"
        r = docker2010("-A DOCKER-USER -p tcp -m tcp --sport 40000:50000 -j DROP").evaluate(
            probe("10.250.0.20", sport=45000))
        assert r["verdict"] == "filtered"


def test_bad_probe_values_are_rejected_with_the_value():
    e = docker2010()
    with pytest.raises(ValueError, match="not an IP address: 'nope'"):
        e.evaluate(probe("nope"))
    with pytest.raises(ValueError, match="destination port"):
        e.evaluate(probe("10.0.0.1", dport="http"))
    with pytest.raises(ValueError, match="protocol"):
        e.evaluate(probe("10.0.0.1", proto="foo"))
    with pytest.raises(ValueError, match="input interface"):
        e.evaluate(probe("10.0.0.1", iface=""))


def test_facts_shape_accepted():
    facts = {"ipv4": dict(real_model("docker-28.5-bridge-publish-8080.iptables-save"),
                          available=True),
             "ipv6": {"available": False, "reason": "no ip6tables"}, "backend": "nf_tables"}
    e = ex.Engine(facts, HOST)
    assert e.evaluate(probe("10.1.1.1"))["verdict"] == "exposed"
    assert e.evaluate(probe("fd00::1", destination="fd00:250::2"))["verdict"] == "unknown"
