# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exposure filters: published_ports, exposure, reachability, explain.

The Docker facts come from the docker-28.5 capture (tests/fixtures/docker), the iptables
facts from the real Docker 28.5 capture (tests/fixtures/real) plus synthetic DOCKER-USER
rules; published_ports also runs on the 20.10 and swarm captures.
"""

from __future__ import absolute_import, division, print_function

import copy
import json
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.filter.exposure import FilterModule
from ansible_collections.dockerguard.firewall.plugins.module_utils._docker import (
    build_model, dockerd_settings)
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                         "fixtures"))
F = FilterModule().filters()


def load(engine, name):
    path = os.path.join(FIXTURES, "docker", engine, name)
    with open(path) as fh:
        return json.load(fh) if name.endswith(".json") else fh.read()


def docker_facts(engine="docker-28.5"):
    info = load(engine, "info.json")
    services = None
    if os.path.exists(os.path.join(FIXTURES, "docker", engine, "services.json")):
        services = load(engine, "services.json")
    return build_model(
        containers=load(engine, "containers-inspect.json"),
        networks=load(engine, "networks-inspect.json"), info=info,
        version=load(engine, "version.json"), interfaces=load(engine, "ip-addr.json"),
        listeners=load(engine, "ss.txt"), services=services,
        settings=dockerd_settings(info["ServerVersion"], load(engine, "dockerd-args.json")),
        processes=dict((int(k), v) for k, v in load(engine, "processes.json").items()))


def iptables_facts(user_rules=()):
    with open(os.path.join(FIXTURES, "real", "docker-28.5-bridge-publish-8080.iptables-save")) as fh:
        text = fh.read()
    if user_rules:
        text = text.replace(":DOCKER-USER - [0:0]\n", ":DOCKER-USER - [0:0]\n", 1).replace(
            "-A FORWARD -j DOCKER-USER\n",
            "-A FORWARD -j DOCKER-USER\n" + "".join(r + "\n" for r in user_rules), 1)
    return {"ipv4": dict(parse_save(text), available=True),
            "ipv6": {"available": False, "reason": "not gathered"}}


DOCKER = docker_facts()
HOST = "172.17.0.2"  # eth0 of the captured node


def by_port(results, port, source=None):
    return [r for r in results if r["target"]["host_port"] == port
            and (source is None or r["source"]["name"] == source)]


def test_published_ports_kinds():
    ports = F["published_ports"](DOCKER)
    kinds = sorted(set(p["kind"] for p in ports))
    assert kinds == ["host-network", "published"]
    web = [p for p in ports if p["host_port"] == 8080][0]
    assert web == {"kind": "published", "name": "dg-it-docker-cap-web", "protocol": "tcp",
                   "family": "ipv4", "host_ip": "0.0.0.0", "host_port": 8080,
                   "container_port": 80, "dnat": True}
    host_net = [p for p in ports if p["kind"] == "host-network"]
    assert sorted(p["family"] for p in host_net) == ["ipv4", "ipv6"]  # a dual-stack socket
    swarm = F["published_ports"](docker_facts("docker-28.5-swarm"))
    assert [p["kind"] for p in swarm if p["host_port"] == 8080] == ["ingress"]


def test_exposure_default_sources_and_trace():
    results = F["exposure"](iptables_facts(), DOCKER)
    web = by_port(results, 8080)
    assert len(web) == 1
    r = web[0]
    assert r["source"] == {"name": "public-ipv4@eth0", "address": "203.0.113.7",
                           "interface": "eth0"}
    assert r["verdict"] == "exposed"
    assert r["dnat"] == "172.18.0.2:80"
    assert r["probe"]["destination"] == HOST
    assert r["decided_by"] == "filter/DOCKER#1"
    refs = [s["ref"] for s in r["trace"]]
    assert refs[refs.index("filter/DOCKER#1") + 1] == "routing"  # then the reply
    reply = refs.index("routing", refs.index("filter/DOCKER#1"))
    assert refs[reply + 1:].index("filter/DOCKER-FORWARD#4") >= 0  # -i docker0 -j ACCEPT
    assert r["trace"][reply]["packet"] == "syn-ack"
    assert r["id"] == "published dg-it-docker-cap-web 0.0.0.0:8080/tcp from public-ipv4@eth0"


def test_exposure_with_sources_and_docker_user_allow_list():
    rules = ["-A DOCKER-USER -s 10.99.0.0/16 -j RETURN",
             "-A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 8080 -j DROP"]
    sources = [{"name": "office", "address": "10.99.0.5", "interface": "eth0"},
               {"address": "198.51.100.4", "interface": "eth0"}]
    results = F["exposure"](iptables_facts(rules), DOCKER, sources=sources)
    office, other = by_port(results, 8080, "office")[0], by_port(results, 8080,
                                                                 "198.51.100.4@eth0")[0]
    assert office["verdict"] == "exposed"
    assert (other["verdict"], other["decided_by"]) == ("filtered", "filter/DOCKER-USER#2")
    text = F["explain"](other)
    assert text.splitlines()[0] == "published dg-it-docker-cap-web 0.0.0.0:8080/tcp"
    assert "filter/DOCKER-USER#2: -A DOCKER-USER -i eth0" in text
    assert text.splitlines()[-1] == "  = filtered: dropped by filter/DOCKER-USER#2"
    both = F["explain"]([office, other])
    assert both.count("published dg-it-docker-cap-web") == 2


def test_loopback_publish_from_the_l2_neighbour():
    # 127.0.0.1:8082 has no DNAT in this iptables capture: a neighbour's packet to
    # 127.0.0.1 arriving on eth0 is a martian
    r = by_port(F["exposure"](iptables_facts(), DOCKER), 8082)[0]
    assert (r["verdict"], r["action"]) == ("filtered", "martian")


def test_reachability():
    rules = ["-A DOCKER-USER -s 10.99.0.0/16 -j RETURN",
             "-A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 8080 -j DROP"]
    out = F["reachability"](iptables_facts(rules), DOCKER)
    web = [e for e in out if e["target"]["host_port"] == 8080]
    assert len(web) == 1
    assert web[0]["interface"] == "eth0"
    assert web[0]["exposed"] == "10.99.0.0/16"
    assert web[0]["filtered"] == "0.0.0.0/0 except 10.99.0.0/16"
    assert "regions" not in web[0]
    out = F["reachability"](iptables_facts(rules), DOCKER, interfaces=["eth0"], regions=True)
    web = [e for e in out if e["target"]["host_port"] == 8080][0]
    assert [(g["sources"], g["verdict"], g["decided_by"]) for g in web["regions"]] == [
        ("0.0.0.0/0 except 10.99.0.0/16", "filtered", "filter/DOCKER-USER#2"),
        ("10.99.0.0/16", "exposed", "filter/DOCKER#1")]


@pytest.mark.parametrize("call,message", [
    (lambda: F["exposure"]({"ipv4": {}}, {"nope": 1}), "exposure: docker facts must be"),
    (lambda: F["exposure"](iptables_facts(), DOCKER, sources=[{"address": "x",
                                                               "interface": "eth0"}]),
     "exposure: not an IP address: 'x'"),
    (lambda: F["exposure"](iptables_facts(), DOCKER, sources=[{"interface": "eth0"}]),
     "exposure: sources\\[1\\]: .* needs an address"),
    (lambda: F["explain"]({"foo": 1}), "explain expects a result"),
    (lambda: F["reachability"](iptables_facts(), dict(copy.deepcopy(DOCKER), interfaces=None)),
     "the docker facts hold no interfaces"),
])
def test_errors_are_filter_errors(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()
