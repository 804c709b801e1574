# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ground truth: the exposure engine's verdict equals what real packets do.

Two lab nodes (docs/lab.md: Docker inside Docker, each with its own network
namespace, iptables and dockerd) - Debian bookworm's Docker 20.10 and forky's Docker 28.5
- sit on a lab network with three probe containers (allowed 10.250.44.10, denied .20,
other .30). On each node the same situations are set up, one port each:

  8080 no restriction                        8085 -p 127.0.0.1:8085:80
  8081 DOCKER-USER --ctorigdstport allow-list  8086 host network + an INPUT rule
  8082 DOCKER-USER --dport on the host port    8087 REJECT (tcp-reset) vs DROP
       (the classic mistake: ineffective)       8088 two allowed CIDRs
  8083 -i restriction on the arrival interface  8089 the same without --ctdir ORIGINAL
  8084 -i restriction on another interface       (the DROP catches the replies)
       (ineffective)

Then the node's facts are read (iptables-save, docker inspect, ip -j addr, ss: what the
modules read), the engine evaluates every (port, source), every probe sends a real TCP
connection, and the test asserts verdict == outcome: ``exposed`` iff an HTTP answer came
back; for ``filtered``, DROP iff the connection timed out (REJECT and "nothing listens"
are refused at once).

The module docker_exposure_info then runs on the Docker 28.5 node through Ansible (the
``community.docker.docker`` connection) and must give the same verdicts.

Never touches the host's own firewall: rules are written inside the nodes only. Names
start with dg-gt-, addresses stay in 10.250.44.0/24; everything is removed at the end.
Needs a docker daemon and the lab images (scripts/lab/images.sh builds them).
"""

from __future__ import absolute_import, division, print_function

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.lab import playbook as lab_ansible
from tests.lab.engine import docker, docker_unavailable, missing_images, routes_to, wait_for
from tests.lab.node import install_sdk, node_exec, start_node

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure
from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_scan as scan
from ansible_collections.dockerguard.firewall.plugins.module_utils._docker import (
    build_model, dockerd_settings)
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save

PREFIX = "dg-gt-"
NETWORK = PREFIX + "lab"
SUBNET = "10.250.44.0/24"
NODES = {  # engine label: (image, node address)
    "docker-20.10": ("node-bookworm:local", "10.250.44.2"),
    "docker-28.5": ("node-forky:local", "10.250.44.3"),
}
PROBES = {"allowed": "10.250.44.10", "denied": "10.250.44.20", "other": "10.250.44.30"}
CIDR_A = "10.250.44.8/29"    # holds .10 (allowed)
CIDR_B = "10.250.44.28/30"   # holds .30 (other)
WEB = ["svc:local", "httpd", "-f", "-p", "80", "-h", "/"]
CONNECT_TIMEOUT = 5
DROP_AFTER = 4.0  # a connection that took this long was dropped, not refused

# port: (what, docker run arguments inside the node, iptables rules inserted in order)
SITUATIONS = {
    8080: ("no restriction", ["-p", "8080:80"] + WEB, []),
    8081: ("DOCKER-USER allow-list on --ctorigdstport", ["-p", "8081:80"] + WEB,
           ["-I DOCKER-USER ! -s 10.250.44.10/32 -p tcp -m conntrack --ctorigdstport 8081 "
            "--ctdir ORIGINAL -j DROP"]),
    8082: ("DOCKER-USER on the host port with --dport (ineffective)", ["-p", "8082:80"] + WEB,
           ["-I DOCKER-USER ! -s 10.250.44.10/32 -p tcp -m tcp --dport 8082 -j DROP"]),
    8083: ("-i restriction on the arrival interface", ["-p", "8083:80"] + WEB,
           ["-I DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 8083 -j DROP"]),
    8084: ("-i restriction on another interface (ineffective)", ["-p", "8084:80"] + WEB,
           ["-I DOCKER-USER -i eth9 -p tcp -m conntrack --ctorigdstport 8084 -j DROP"]),
    8085: ("published on 127.0.0.1", ["-p", "127.0.0.1:8085:80"] + WEB, []),
    8086: ("host network, INPUT allows one address", ["--network", "host", "svc:local",
                                                      "httpd", "-f", "-p", "8086", "-h", "/"],
           ["-I INPUT -p tcp -m tcp --dport 8086 ! -s 10.250.44.10/32 -j DROP"]),
    8087: ("REJECT for one address, DROP for another", ["-p", "8087:80"] + WEB,
           ["-I DOCKER-USER -s 10.250.44.20/32 -p tcp -m conntrack --ctorigdstport 8087 "
            "-j REJECT --reject-with tcp-reset",
            "-I DOCKER-USER -s 10.250.44.30/32 -p tcp -m conntrack --ctorigdstport 8087 -j DROP"]),
    8088: ("two allowed CIDRs", ["-p", "8088:80"] + WEB,
           # inserted at the top one after the other: listed last = evaluated first
           ["-I DOCKER-USER -p tcp -m conntrack --ctorigdstport 8088 --ctdir ORIGINAL -j DROP",
            "-I DOCKER-USER -s %s -p tcp -m conntrack --ctorigdstport 8088 -j RETURN" % CIDR_B,
            "-I DOCKER-USER -s %s -p tcp -m conntrack --ctorigdstport 8088 -j RETURN" % CIDR_A]),
    8089: ("two allowed CIDRs, DROP without --ctdir ORIGINAL (drops the replies)",
           ["-p", "8089:80"] + WEB,
           ["-I DOCKER-USER -p tcp -m conntrack --ctorigdstport 8089 -j DROP",
            "-I DOCKER-USER -s %s -p tcp -m conntrack --ctorigdstport 8089 -j RETURN" % CIDR_B,
            "-I DOCKER-USER -s %s -p tcp -m conntrack --ctorigdstport 8089 -j RETURN" % CIDR_A]),
}
# What the engine must say (the test checks it against the packets too): port -> source -> verdict
EXPECTED = {
    8080: {"allowed": "exposed", "denied": "exposed", "other": "exposed"},
    8081: {"allowed": "exposed", "denied": "filtered", "other": "filtered"},
    8082: {"allowed": "exposed", "denied": "exposed", "other": "exposed"},
    8083: {"allowed": "filtered", "denied": "filtered", "other": "filtered"},
    8084: {"allowed": "exposed", "denied": "exposed", "other": "exposed"},
    8085: {"allowed": "filtered", "denied": "filtered", "other": "filtered"},
    8086: {"allowed": "exposed", "denied": "filtered", "other": "filtered"},
    8087: {"allowed": "exposed", "denied": "filtered", "other": "filtered"},
    8088: {"allowed": "exposed", "denied": "filtered", "other": "exposed"},
    8089: {"allowed": "filtered", "denied": "filtered", "other": "filtered"},
}


def in_node(node, *cmd, **kw):
    return node_exec(node, *cmd, **kw).stdout


def _preflight():
    why = docker_unavailable() or missing_images(["svc:local"] + [img for img, _a in NODES.values()])
    if why:
        return why
    if routes_to(SUBNET.replace(".0/24", ".1")) and NETWORK not in docker("network", "ls").stdout:
        return "%s is in use on this machine" % SUBNET
    return None


def _cleanup():
    names = docker("ps", "-aq", "--filter", "name=^" + PREFIX, check=False).stdout.split()
    if names:
        docker("rm", "-f", *names, check=False)
    docker("network", "rm", NETWORK, check=False)


def _start_node(label):
    image, address = NODES[label]
    name = PREFIX + label.replace(".", "")
    start_node(name, image, "--network", NETWORK, "--ip", address)
    for port, (_what, args, _rules) in sorted(SITUATIONS.items()):
        in_node(name, "docker", "run", "-d", "--name", "web%d" % port, *args)
    # every service answers (from inside its container) before the rules go in
    for port in SITUATIONS:
        wait_for(lambda: _answers(name, port), 30, what="port %d in %s" % (port, name))
    for port, (_what, _args, rules) in sorted(SITUATIONS.items()):
        for rule in rules:
            in_node(name, "iptables", *rule.split())
    return name


def _answers(node, port):
    out = in_node(node, "docker", "exec", "web%d" % port, "sh", "-c",
                  "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 127.0.0.1 %d"
                  % (8086 if port == 8086 else 80), check=False)
    return "HTTP/" in out


def _facts(node):
    """Both fact sets, read the way the modules read them."""
    v4 = parse_save(in_node(node, "iptables-save"))
    v6_text = in_node(node, "ip6tables-save", check=False)
    iptables = {"ipv4": dict(v4, available=True),
                "ipv6": dict(parse_save(v6_text, "ipv6"), available=True) if v6_text.strip()
                else {"available": False}}
    ids = in_node(node, "docker", "ps", "-aq", "--no-trunc").split()
    nets = in_node(node, "docker", "network", "ls", "-q").split()
    info = json.loads(in_node(node, "docker", "info", "--format", "{{json .}}"))
    model = build_model(
        containers=json.loads(in_node(node, "docker", "inspect", *ids)),
        networks=json.loads(in_node(node, "docker", "network", "inspect", *nets)),
        info=info, version=in_node(node, "docker", "version", "--format", "{{json .}}"),
        interfaces=in_node(node, "ip", "-j", "addr", "show"),
        listeners=in_node(node, "ss", "-Hltnup"),
        routes={"ipv4": in_node(node, "ip", "-4", "-j", "route", "show", "default"),
                "ipv6": in_node(node, "ip", "-6", "-j", "route", "show", "default")},
        settings=dockerd_settings(info["ServerVersion"], ["dockerd"]))
    return iptables, model


def _probe(source, address, port):
    """(answered, seconds): one real TCP connection from a probe container."""
    t0 = time.monotonic()
    out = docker("exec", PREFIX + "probe-" + source, "sh", "-c",
                 "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w %d %s %d"
                 % (CONNECT_TIMEOUT, address, port), check=False, timeout=60).stdout
    return "HTTP/" in out, time.monotonic() - t0


@pytest.fixture(scope="module")
def lab():
    why = _preflight()
    if why:
        pytest.skip(why)
    _cleanup()
    try:
        docker("network", "create", "--subnet", SUBNET, NETWORK)
        for source, address in PROBES.items():
            docker("run", "-d", "--name", PREFIX + "probe-" + source, "--network",
                   NETWORK, "--ip", address, "svc:local", "sleep", "100000")
        with ThreadPoolExecutor(len(NODES)) as pool:
            names = dict(zip(NODES, pool.map(_start_node, NODES)))
        yield names
    finally:
        _cleanup()


@pytest.mark.parametrize("label", sorted(NODES))
def test_engine_verdict_equals_real_packets(lab, label):
    node = lab[label]
    node_ip = NODES[label][1]
    iptables, model = _facts(node)
    assert model["daemon"]["version"][0] == int(label.split("-")[1].split(".")[0])

    # the facts name every situation's port
    ports = scan.published_ports(model)
    assert set(SITUATIONS) <= set(p["host_port"] for p in ports), ports
    iface = [i["name"] for i in model["interfaces"]
             if any(a["address"] == node_ip for a in i["addresses"])][0]

    engine = scan.Scan(iptables, model).engine
    cases = [(port, source) for port in sorted(SITUATIONS) for source in sorted(PROBES)]
    verdicts = {}
    for port, source in cases:
        verdicts[port, source] = engine.evaluate(
            source=PROBES[source], in_interface=iface, protocol="tcp", destination=node_ip,
            dport=port, name=source)
    with ThreadPoolExecutor(10) as pool:
        outcomes = dict(zip(cases, pool.map(lambda c: _probe(c[1], node_ip, c[0]), cases)))

    mismatches = []
    for (port, source), r in sorted(verdicts.items()):
        answered, took = outcomes[port, source]
        real = "exposed" if answered else "filtered"
        line = "%s port %d (%s) from %s: engine %s/%s, packets %s in %.1fs" % (
            label, port, SITUATIONS[port][0], source, r["verdict"], r["action"], real, took)
        if r["verdict"] != real:
            mismatches.append(line + "\n" + _exposure.explain(r))
        elif real == "filtered":
            dropped = took >= DROP_AFTER
            if (r["action"] == "DROP") != dropped:
                mismatches.append(line + " (DROP vs refused differs)\n" + _exposure.explain(r))
        if EXPECTED[port][source] != r["verdict"]:
            mismatches.append(line + " (expected %s)" % EXPECTED[port][source])
    assert not mismatches, "\n\n".join(mismatches)

    # details the packets cannot show but the engine must get right
    r = verdicts[8082, "denied"]
    assert any(s["effect"].startswith("no match: --dport sees the port after DNAT (80)")
               for s in r["trace"]), _exposure.explain(r)
    assert verdicts[8087, "denied"]["action"] == "REJECT"
    assert verdicts[8087, "other"]["action"] == "DROP"
    assert verdicts[8086, "denied"]["path"] == "local"
    assert verdicts[8085, "denied"]["action"] == "closed"
    assert verdicts[8089, "allowed"]["direction"] == "reply"
    summary = dict((e["target"]["host_port"], e) for e in
                   scan.Scan(iptables, model).reachability(interfaces=[iface]))
    assert summary[8080]["exposed"] == "0.0.0.0/0"
    assert summary[8081]["exposed"] == "10.250.44.10/32"
    assert summary[8088]["exposed"] == "%s, %s" % (CIDR_A, CIDR_B)
    assert summary[8086]["exposed"] == "10.250.44.10/32"


def _ansible_module(node, module, args):
    """Run ``module`` on the lab node with ``ansible`` (docker connection); its result."""
    inventory = lab_ansible.write_inventory([node], PREFIX)
    try:
        return lab_ansible.run_module(inventory, node, module, args)
    finally:
        os.unlink(inventory)


@pytest.mark.smoke
def test_docker_exposure_info_module_agrees(lab):
    label = "docker-28.5"
    node = lab[label]
    # the node runs the module with the controller's SDK version (the one tested here)
    install_sdk(node)
    sources = [{"name": name, "address": address, "interface": "eth0"}
               for name, address in sorted(PROBES.items())]
    res = _ansible_module(node, "dockerguard.firewall.docker_exposure_info",
                          {"sources": sources, "trace": False, "families": ["ipv4"]})
    assert not res.get("failed"), res.get("msg")
    assert res["changed"] is False
    got = {}
    for r in res["exposure"]:
        if r["target"]["host_port"] in SITUATIONS:
            got[r["target"]["host_port"], r["source"]["name"]] = r["verdict"]
    want = dict(((port, source), verdict) for port, row in EXPECTED.items()
                for source, verdict in row.items())
    assert got == want
    assert "trace" not in res["exposure"][0]
    summary = dict((e["target"]["host_port"], e["exposed"]) for e in res["reachability"]
                   if e["interface"] == "eth0")
    assert summary[8081] == "10.250.44.10/32"
    assert summary[8088] == "%s, %s" % (CIDR_A, CIDR_B)
    assert summary[8089] == "nothing"
    assert res["summary"]["exposed"] == sum(v == "exposed" for v in got.values())
