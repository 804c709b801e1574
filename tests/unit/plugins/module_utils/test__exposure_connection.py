# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 17: the whole TCP connection, conntrack without a connection, targets that
change what happens next, and what the facts make known. Pure logic on rulesets written
out here; the same classes are proven with real packets in
tests/integration/test_exposure_connection.py."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure as ex
from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables_host import (
    parse_ipset_save, save_ipsets)

from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils.test__exposure import DOCKER_2010, HOST, docker2010, probe

RAW = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n%s\nCOMMIT\n"
MANGLE = ("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
          ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n%s\nCOMMIT\n")
LOCAL_8086 = dict(HOST, listeners=[{"address": "0.0.0.0", "port": 8086, "protocol": "tcp"}])


def host_input(rules, extra=""):
    text = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n%s\n"
            "COMMIT\n" % rules) + extra
    return ex.Engine(parse_save(text), LOCAL_8086)


# --- 1. the whole connection ------------------------------------------------------------

@pytest.mark.parametrize("user, packet", [
    # an allow-list for NEW connections that forgets RELATED,ESTABLISHED
    ("-A DOCKER-USER -m conntrack --ctstate NEW -j RETURN\n-A DOCKER-USER -j DROP",
     "syn-ack"),
    ("-A DOCKER-USER -m conntrack --ctstate NEW -j RETURN\n"
     "-A DOCKER-USER -m conntrack --ctdir REPLY -j RETURN\n-A DOCKER-USER -j DROP", "ack"),
    ("-A DOCKER-USER -p tcp -m tcp ! --syn -o docker0 -j DROP", "ack"),
    ("-A DOCKER-USER -p tcp -m tcp --tcp-flags PSH PSH -o docker0 -j DROP", "data"),
    ("-A DOCKER-USER -m conntrack --ctstatus ASSURED --ctdir ORIGINAL -j DROP", "ack"),
    ("-A DOCKER-USER -s 10.250.0.20/32 -m conntrack --ctstate ESTABLISHED -j DROP", "ack"),
    ("-A DOCKER-USER -i docker0 -p tcp -m tcp --tcp-flags PSH PSH -j DROP", "server-data"),
    ("-A DOCKER-USER -m conntrack --ctstatus ASSURED --ctdir REPLY -j DROP", "server-data"),
])
def test_a_later_packet_is_stopped(user, packet):
    e = docker2010(user)
    r = e.evaluate(probe("10.250.0.20"))
    assert (r["verdict"], r["packet"]) == ("filtered", packet), ex.explain(r)
    assert r["decided_by"].startswith("filter/DOCKER-USER#")
    # the trace shows the packet that was stopped, and so do the audit's path steps
    assert any(s.get("packet") == packet for s in r["trace"])
    steps = audit.path_steps(r)
    assert steps[-1]["ref"].startswith("filter/DOCKER-USER#")
    assert [s.get("packet") for s in steps if s.get("packet")] == [packet]
    # the handshake alone (the engine before issue 17) passes
    old = ex.Engine(e.models, HOST, exchange="handshake")
    assert old.evaluate(probe("10.250.0.20"))["verdict"] == (
        "filtered" if packet == "syn-ack" else "exposed")


def test_only_the_source_whose_established_packets_are_dropped_is_filtered():
    e = docker2010("-A DOCKER-USER -s 10.250.0.20/32 -m conntrack --ctstate ESTABLISHED "
                   "--ctdir ORIGINAL -j DROP")
    assert e.reachability(probe(None))["exposed"] == "0.0.0.0/0 except 10.250.0.20/32"


def test_established_accept_for_new_only_input():
    # host network: INPUT accepts NEW to 8086 and nothing else
    e = host_input("-A INPUT -p tcp -m tcp --dport 8086 -m conntrack --ctstate NEW -j ACCEPT\n"
                   "-A INPUT -j DROP")
    r = e.evaluate(probe("10.250.0.20", dport=8086))
    assert (r["verdict"], r["packet"], r["decided_by"]) == ("filtered", "ack", "filter/INPUT#2")
    e = host_input("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                   "-A INPUT -p tcp -m tcp --dport 8086 -m conntrack --ctstate NEW -j ACCEPT\n"
                   "-A INPUT -j DROP")
    assert e.evaluate(probe("10.250.0.20", dport=8086))["verdict"] == "exposed"


def test_data_and_answer_share_the_walk_when_no_rule_tells_them_apart():
    e = docker2010()
    r = e.evaluate(probe("10.250.0.20"))
    assert r["verdict"] == "exposed"
    shared = [s["effect"] for s in r["trace"] if s.get("packet") in ("data", "server-data")]
    assert len(shared) == 2 and all("passes the same way" in x for x in shared)
    e = docker2010("-A DOCKER-USER -p tcp -m tcp --tcp-flags PSH PSH -j RETURN")
    r = e.evaluate(probe("10.250.0.20"))
    assert not any("passes the same way" in s["effect"] for s in r["trace"])


def test_udp_walks_the_request_and_its_reply_only():
    e = docker2010("-A DOCKER-USER -m conntrack --ctstatus ASSURED -j DROP")
    r = e.evaluate(probe("10.250.0.20", proto="udp"))
    assert "packet" not in r  # no later packet walked for UDP


# --- 2. conntrack without a connection (raw table) -------------------------------------

@pytest.mark.parametrize("rule, verdict", [
    # no connection in raw: state INVALID; --ctstate decides alone, tuple options ignored
    ("-A PREROUTING -m conntrack --ctstate INVALID --ctorigsrc 10.99.0.0/16 -j DROP", "filtered"),
    ("-A PREROUTING -m conntrack --ctstate INVALID --ctorigdstport 9999 -j DROP", "filtered"),
    ("-A PREROUTING -m conntrack --ctstate NEW --ctorigsrc 10.250.0.0/24 -j DROP", "exposed"),
    ("-A PREROUTING -m conntrack ! --ctstate INVALID -j DROP", "exposed"),
    # no --ctstate: without a connection the match fails whatever the options
    ("-A PREROUTING -m conntrack ! --ctorigsrc 10.99.0.0/16 -j DROP", "exposed"),
    ("-A PREROUTING -m conntrack --ctdir ORIGINAL -j DROP", "exposed"),
])
def test_conntrack_match_in_raw_follows_xt_conntrack(rule, verdict):
    r = docker2010(extra=RAW % rule).evaluate(probe("10.250.0.20"))
    assert r["verdict"] == verdict, ex.explain(r)


def test_conntrack_tuple_after_raw_still_applies():
    e = docker2010("-A DOCKER-USER -m conntrack --ctstate NEW --ctorigsrc 10.250.0.0/24 -j DROP")
    assert e.evaluate(probe("10.250.0.20"))["verdict"] == "filtered"
    assert e.evaluate(probe("10.99.0.20"))["verdict"] == "exposed"


# --- 3. targets that change what happens next ------------------------------------------

def test_notrack_on_the_reply_of_a_dnat_connection_fails_it():
    r = docker2010(extra=RAW % "-A PREROUTING -i docker0 -j CT --notrack").evaluate(
        probe("10.250.0.20"))
    assert (r["verdict"], r["action"], r["packet"]) == ("filtered", "not-translated", "syn-ack")
    assert r["decided_by"] == "raw/PREROUTING#1 (reply)"
    assert "does not translate it" in r["reason"]


def test_notrack_on_the_syn_is_unknown_naming_the_rule():
    r = docker2010(extra=RAW % "-A PREROUTING -p tcp -m tcp --dport 8080 -j CT --notrack"
                   ).evaluate(probe("10.250.0.20", destination="10.250.0.2"))
    assert (r["verdict"], r["decided_by"]) == ("unknown", "raw/PREROUTING#1")
    assert r["unknown_rule"]["ref"] == "raw/PREROUTING#1"


def test_notrack_of_the_clients_later_packets_on_local_delivery_goes_on_untracked():
    raw = RAW % "-A PREROUTING -p tcp -m tcp --dport 8086 --tcp-flags SYN NONE -j CT --notrack"
    e = host_input("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                   "-A INPUT -p tcp -m tcp --dport 8086 --syn -j ACCEPT\n-A INPUT -j DROP", raw)
    r = e.evaluate(probe("10.250.0.20", dport=8086))
    assert (r["verdict"], r["packet"], r["decided_by"]) == ("filtered", "ack", "filter/INPUT#3")
    e = host_input("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED,UNTRACKED -j ACCEPT\n"
                   "-A INPUT -p tcp -m tcp --dport 8086 --syn -j ACCEPT\n-A INPUT -j DROP", raw)
    assert e.evaluate(probe("10.250.0.20", dport=8086))["verdict"] == "exposed"


def test_ct_zone_of_the_request_only():
    raw = RAW % "-A PREROUTING -i eth0 -j CT --zone 1"
    r = docker2010(extra=raw).evaluate(probe("10.250.0.20"))
    assert (r["verdict"], r["packet"], r["decided_by"]) == ("filtered", "syn-ack",
                                                            "raw/PREROUTING#1")
    # both directions in the same zone: the reply finds its connection
    raw = RAW % "-A PREROUTING -i eth0 -j CT --zone 1\n-A PREROUTING -i docker0 -j CT --zone 1"
    assert docker2010(extra=raw).evaluate(probe("10.250.0.20"))["verdict"] == "exposed"
    raw = RAW % "-A PREROUTING -i eth0 -j CT --zone-orig 1"
    r = docker2010(extra=raw).evaluate(probe("10.250.0.20"))
    assert (r["verdict"], r["decided_by"]) == ("unknown", "raw/PREROUTING#1")


@pytest.mark.parametrize("target, forwarded, local", [
    ("TTL --ttl-set 1", "filtered", "exposed"),
    ("TTL --ttl-dec 255", "filtered", "exposed"),
    ("TTL --ttl-set 2", "exposed", "exposed"),
    ("TTL --ttl-inc 1", "exposed", "exposed"),
    ("TTL --ttl-dec 1", "unknown", "exposed"),
])
def test_ttl_drops_forwarded_packets_only(target, forwarded, local):
    mangle = MANGLE % ("-A PREROUTING -i eth0 -j " + target)
    r = docker2010(extra=mangle).evaluate(probe("10.250.0.20"))
    assert r["verdict"] == forwarded, ex.explain(r)
    if forwarded != "exposed":
        assert r["decided_by"] == "mangle/PREROUTING#1"
    e = host_input("-A INPUT -p tcp -j ACCEPT", mangle)
    assert e.evaluate(probe("10.250.0.20", dport=8086))["verdict"] == local


def test_ttl_of_the_reply_from_the_container():
    mangle = MANGLE % "-A PREROUTING -i docker0 -j TTL --ttl-set 1"
    r = docker2010(extra=mangle).evaluate(probe("10.250.0.20"))
    assert (r["verdict"], r["packet"]) == ("filtered", "syn-ack")


def test_ttl_after_routing_changes_nothing_here():
    mangle = MANGLE % "-A FORWARD -j TTL --ttl-set 1"
    assert docker2010(extra=mangle).evaluate(probe("10.250.0.20"))["verdict"] == "exposed"


def test_hmark_sets_the_mark():
    user = "-A DOCKER-USER -m mark --mark 0x5 -j DROP"
    one = MANGLE % "-A PREROUTING -j HMARK --hmark-tuple src --hmark-mod 1 --hmark-offset 5"
    assert docker2010(user, extra=one).evaluate(probe("10.250.0.20"))["verdict"] == "filtered"
    many = MANGLE % "-A PREROUTING -j HMARK --hmark-tuple src --hmark-mod 4 --hmark-offset 5"
    r = docker2010(user, extra=many).evaluate(probe("10.250.0.20"))
    assert (r["verdict"], r["decided_by"]) == ("unknown", "filter/DOCKER-USER#1")
    assert docker2010(user).evaluate(probe("10.250.0.20"))["verdict"] == "exposed"  # mark 0


def test_set_target_is_unknown_only_when_the_set_is_matched():
    assert docker2010("-A DOCKER-USER -j SET --add-set seen src").evaluate(
        probe("10.250.0.20"))["verdict"] == "exposed"
    r = docker2010("-A DOCKER-USER -j SET --add-set seen src\n"
                   "-A DOCKER-USER -m set --match-set seen src -m conntrack --ctstate "
                   "ESTABLISHED -j DROP").evaluate(probe("10.250.0.20"))
    assert (r["verdict"], r["decided_by"]) == ("unknown", "filter/DOCKER-USER#1")


def test_secmark_is_opaque():
    r = docker2010(extra=MANGLE % "-A PREROUTING -j SECMARK --selctx system_u:object_r:x:s0"
                   ).evaluate(probe("10.250.0.20"))
    assert (r["verdict"], r["decided_by"]) == ("unknown", "mangle/PREROUTING#1")


# --- 4. knowable things -----------------------------------------------------------------

def test_source_port_range_from_the_facts():
    user = "-A DOCKER-USER -p tcp -m tcp --sport 1024:32767 -j DROP"
    assert docker2010(user).evaluate(probe("10.250.0.20"))["verdict"] == "exposed"
    wide = dict(HOST, local_port_range="1024 65535")
    r = docker2010(user, host=wide).evaluate(probe("10.250.0.20"))
    assert (r["verdict"], r["decided_by"]) == ("unknown", "filter/DOCKER-USER#1")
    assert "1024-65535" in r["reason"]
    low = dict(HOST, local_port_range=[2000, 3000])
    assert docker2010(user, host=low).evaluate(probe("10.250.0.20"))["verdict"] == "filtered"
    with pytest.raises(ValueError, match="local_port_range"):
        ex.Engine({}, dict(HOST, local_port_range="60999 32768"))


@pytest.mark.parametrize("user", [
    "-A DOCKER-USER -p tcp -m limit --limit 1/s -j DROP",
    "-A DOCKER-USER -p tcp -m recent --name x --rcheck -j DROP",
    "-A DOCKER-USER -p tcp -m hashlimit --hashlimit-above 1/s --hashlimit-name x -j DROP",
])
def test_rates_and_recent_lists_stay_unknown_naming_the_rule(user):
    r = docker2010(user).evaluate(probe("10.250.0.20"))
    assert (r["verdict"], r["decided_by"]) == ("unknown", "filter/DOCKER-USER#1")


IPSET_SAVE = """create allow hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1
add allow 10.250.0.0/24
add allow 10.250.0.16/28 nomatch
add allow 10.250.0.20
create hosts hash:ip family inet netmask 30 hashsize 1024 maxelem 65536
add hosts 10.66.0.4
create pairs hash:ip,port family inet hashsize 1024 maxelem 65536
add pairs 10.250.0.9,tcp:80
create six hash:net family inet6 hashsize 1024 maxelem 65536
add six fd00:250::/64
"""


def test_ipsets_read_from_ipset_save_are_evaluated():
    sets = parse_ipset_save(IPSET_SAVE)
    assert sets["allow"]["members"] == ["10.250.0.0/24", "10.250.0.20"]
    assert sets["allow"]["nomatch"] == ["10.250.0.16/28"]
    assert sets["hosts"]["netmask"] == "30"
    user = ("-A DOCKER-USER -m set ! --match-set %s src -p tcp -m conntrack "
            "--ctorigdstport 8080 --ctdir ORIGINAL -j DROP")
    facts = {"ipv4": parse_save(DOCKER_2010 % {"user": user % "allow"}), "ipsets": sets}
    e = ex.Engine(facts, HOST)  # the sets come with the iptables facts
    reach = e.reachability(probe(None))["exposed"]
    # the most specific entry decides: .16/28 is nomatch, .20 in it matches again
    assert reach == "10.250.0.0/28, 10.250.0.20/32, 10.250.0.32/27, 10.250.0.64/26, " \
                    "10.250.0.128/25", reach
    facts["ipv4"] = parse_save(DOCKER_2010 % {"user": user % "hosts"})
    assert ex.Engine(facts, HOST).reachability(probe(None))["exposed"] == "10.66.0.4/30"
    facts["ipv4"] = parse_save(DOCKER_2010 % {"user": user % "pairs"})
    r = ex.Engine(facts, HOST).evaluate(probe("10.250.0.9"))
    assert (r["verdict"], r["decided_by"]) == ("unknown", "filter/DOCKER-USER#1")
    facts["ipsets"] = None  # not read: unknown
    facts["ipv4"] = parse_save(DOCKER_2010 % {"user": user % "allow"})
    assert ex.Engine(facts, HOST).evaluate(probe("10.250.0.9"))["verdict"] == "unknown"


def test_save_ipsets_runs_ipset_save():
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, IPSET_SAVE, ""
    sets, warning = save_ipsets(run, lambda name: "/usr/sbin/" + name)
    assert calls == [["/usr/sbin/ipset", "save"]] and warning is None
    assert sorted(sets) == ["allow", "hosts", "pairs", "six"]
    assert save_ipsets(run, lambda name: None) == (None, None)
    sets, warning = save_ipsets(lambda argv: (1, "", "Operation not permitted"),
                                lambda name: "/usr/sbin/" + name)
    assert sets is None and "Operation not permitted" in warning


def test_ipset_list_members_with_a_bad_value_are_refused():
    with pytest.raises(ValueError, match="ipset allow: member 'x,tcp:80'"):
        ex.Engine({}, dict(HOST, ipsets={"allow": ["x,tcp:80"]}))


def test_non_contiguous_mask_matches_as_the_kernel_does():
    e = docker2010("-A DOCKER-USER -s 10.250.0.10/255.255.0.255 -j DROP")
    assert e.evaluate(probe("10.250.0.10"))["verdict"] == "filtered"
    assert e.evaluate(probe("10.250.77.10"))["verdict"] == "filtered"
    assert e.evaluate(probe("10.250.77.11"))["verdict"] == "exposed"
    e = docker2010("-A DOCKER-USER -i eth0 ! -s 10.250.0.0/255.255.0.252 -j DROP")
    reach = e.reachability(probe(None))["exposed"]
    assert reach.startswith("10.250.0.0/30, 10.250.1.0/30, "), reach
    assert docker2010("-A DOCKER-USER -d 172.18.0.2/255.255.0.255 -j DROP").evaluate(
        probe("10.250.0.10"))["verdict"] == "filtered"


def test_a_client_packet_in_another_zone_is_not_modelled():
    raw = RAW % "-A PREROUTING -p tcp -m tcp ! --syn -j CT --zone 2"
    r = docker2010(extra=raw).evaluate(probe("10.250.0.20"))
    # the SYN-ACK in zone 2 finds no connection: not un-DNATed, the connection fails
    assert (r["verdict"], r["packet"], r["decided_by"]) == ("filtered", "syn-ack",
                                                            "raw/PREROUTING#1 (reply)")
    raw = RAW % "-A PREROUTING -i eth0 -p tcp -m tcp ! --syn -j CT --zone 2"
    r = docker2010(extra=raw).evaluate(probe("10.250.0.20"))
    assert (r["verdict"], r["packet"], r["decided_by"]) == ("unknown", "ack",
                                                            "raw/PREROUTING#1")


def test_a_service_not_tracked_both_ways_is_walked_untracked():
    raw = RAW % ("-A PREROUTING -p tcp -m tcp --dport 8086 -j CT --notrack\n"
                 "-A OUTPUT -p tcp -m tcp --sport 8086 -j CT --notrack")
    e = host_input("-A INPUT -p tcp -m tcp --dport 8086 -m conntrack --ctstate UNTRACKED "
                   "-j ACCEPT\n-A INPUT -p tcp -m tcp --dport 8086 -j DROP", raw)
    assert e.evaluate(probe("10.250.0.20", dport=8086))["verdict"] == "exposed"
    e = host_input("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                   "-A INPUT -p tcp -m tcp --dport 8086 --syn -j ACCEPT\n"
                   "-A INPUT -p tcp -m tcp --dport 8086 -j DROP", raw)
    r = e.evaluate(probe("10.250.0.20", dport=8086))
    assert (r["verdict"], r["packet"], r["decided_by"]) == ("filtered", "ack", "filter/INPUT#3")
