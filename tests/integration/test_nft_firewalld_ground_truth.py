# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ground truth for issue 11 on a real firewalld node: the engine equals real packets.

A node-forky-firewalld lab node (firewalld 2.5, Docker 28.5 reporting
``iptables+firewalld``) on a lab network 10.250.41.0/24 with a container publishing
8080 (``-p 8080:80``) and a host-network service on 6060, probed from an "allowed"
(10.250.41.10) and a "denied" (10.250.41.20) client container. Situations, in order:

- ``default``: zone ``public`` as firewalld ships it;
- ``port-opened``: ``firewall-cmd --add-port=6060/tcp``;
- ``rich-rule``: and a rich rule rejecting the denied client;
- ``policy-into-docker``: (after a reload) a firewalld policy from ``public`` into the
  ``docker`` zone rejecting the denied client;
- ``strict-forward-ports``: ``StrictForwardPorts=yes`` and a reload.

In each, the facts are read from the node as the modules read them (``iptables-save``,
``nft -j list ruleset``, Docker's API through the ``_docker`` model) and judged by
``Scan`` (what ``docker_exposure_info`` and the filters run); every verdict must equal
what real connections do. Without the nftables facts, Scan must answer ``unknown``
(Docker reports firewalld). Run under ``flock /tmp/dg-lab.lock``.
"""

from __future__ import absolute_import, division, print_function

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from nft_lab import FIREWALLD_BOOT, FIREWALLD_IMAGE, HOST_PORT, PUBLISHED, FirewalldNode
from test_exposure_ground_truth import _facts
from tests.lab.engine import docker, docker_unavailable, missing_images, routes_to, wait_for
from tests.lab.node import node_exec, start_node

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure, _nftables
from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_scan as scan

PREFIX = "dg-nftfw-"
NETWORK = PREFIX + "lab"
SUBNET = "10.250.41.0/24"
NODE_IP = "10.250.41.2"
CLIENTS = {"allowed": "10.250.41.10", "denied": "10.250.41.20"}
PORTS = (HOST_PORT, PUBLISHED)
TIMEOUT = 3


def _policy(node):
    node.sh("firewall-cmd --permanent --new-policy dgin && "
            "firewall-cmd --permanent --policy dgin --add-ingress-zone public && "
            "firewall-cmd --permanent --policy dgin --add-egress-zone docker && "
            "firewall-cmd --permanent --policy dgin --add-rich-rule="
            "'rule family=ipv4 source address=%s reject'" % CLIENTS["denied"])
    node.reload()


SITUATIONS = [
    ("default", lambda n: None),
    ("port-opened", lambda n: n.firewall_cmd("--add-port=%d/tcp" % HOST_PORT)),
    ("rich-rule", lambda n: n.firewall_cmd(
        "--add-rich-rule=rule family=ipv4 source address=%s reject" % CLIENTS["denied"])),
    ("policy-into-docker", _policy),
    ("strict-forward-ports", lambda n: n.strict_forward_ports(True)),
]
# what the issue reports of real packets (the rest: whatever the packets say)
ANCHORS = {("default", HOST_PORT, "allowed"): "filtered",
           ("port-opened", HOST_PORT, "allowed"): "exposed",
           ("rich-rule", HOST_PORT, "denied"): "filtered",
           ("strict-forward-ports", PUBLISHED, "allowed"): "filtered"}


def _cleanup():
    names = docker("ps", "-aq", "--filter", "name=^" + PREFIX, check=False).stdout.split()
    if names:
        docker("rm", "-f", *names, check=False)
    docker("network", "rm", NETWORK, check=False)


@pytest.fixture(scope="module")
def lab():
    why = docker_unavailable() or missing_images([FIREWALLD_IMAGE, "svc:local"])
    if not why and routes_to(NODE_IP) and NETWORK not in docker("network", "ls").stdout:
        why = "%s is in use on this machine" % SUBNET
    if why:
        pytest.skip(why)
    _cleanup()
    try:
        docker("network", "create", "--subnet", SUBNET, NETWORK)
        for name, address in CLIENTS.items():
            docker("run", "-d", "--name", PREFIX + name, "--network", NETWORK, "--ip", address,
                   "svc:local", "sleep", "100000")
        name = PREFIX + "node"
        start_node(name, FIREWALLD_IMAGE, "--network", NETWORK, "--ip", NODE_IP,
                   boot=FIREWALLD_BOOT)
        node_exec(name, "docker", "run", "-d", "--name", "web", "-p", "%d:80" % PUBLISHED,
                  "svc:local", "httpd", "-f", "-p", "80", "-h", "/")
        node_exec(name, "docker", "run", "-d", "--name", "hostsvc", "--network", "host",
                  "svc:local", "httpd", "-f", "-p", str(HOST_PORT), "-h", "/")
        wait_for(lambda: "8080" in node_exec(name, "iptables-save", "-t", "nat").stdout,
                 timeout=60, what="Docker's DNAT")
        time.sleep(2)
        yield FirewalldNode(name)
    finally:
        _cleanup()


def _probe(client, port):
    out = docker("exec", PREFIX + client, "sh", "-c",
                 "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w %d %s %d" % (TIMEOUT, NODE_IP, port),
                 check=False, timeout=60).stdout
    return "HTTP/" in out


def test_engine_equals_packets_on_firewalld(lab):
    rows, mismatches = [], []
    for situation, action in SITUATIONS:
        action(lab)
        time.sleep(1)
        iptables, model = _facts(lab.name)
        assert "firewalld" in model["daemon"]["firewall_backend"]
        nft = _nftables.parse(lab.sh("nft -j list ruleset"))
        iface = [i["name"] for i in model["interfaces"]
                 if any(a["address"] == NODE_IP for a in i["addresses"])][0]
        engine = scan.Scan(iptables, model, nftables=nft).engine
        blind = scan.Scan(iptables, model).engine
        cases = [(port, client) for port in PORTS for client in sorted(CLIENTS)]
        with ThreadPoolExecutor(len(cases)) as pool:
            answered = list(pool.map(lambda c: _probe(c[1], c[0]), cases))
        for (port, client), got in zip(cases, answered):
            probe = dict(source=CLIENTS[client], in_interface=iface, destination=NODE_IP,
                         dport=port)
            r = engine.evaluate(probe)
            real = "exposed" if got else "filtered"
            b = blind.evaluate(probe)
            line = "%s: %s -> %d: packets %s, engine %s (%s); without nft facts %s (was %s)" % (
                situation, client, port, real, r["verdict"], r["decided_by"], b["verdict"],
                b.get("verdict_without_nftables"))
            rows.append(line)
            if r["verdict"] != real:
                mismatches.append(line + "\n" + _exposure.explain(r))
            if b["verdict"] != "unknown":
                mismatches.append(line + ": without the nftables facts it must be unknown")
            anchor = ANCHORS.get((situation, port, client))
            if anchor and anchor != real:
                mismatches.append(line + ": the issue saw %s" % anchor)
    print("\n".join(rows))
    print("%d probes in %d firewalld situations; engine agrees on %d" % (
        len(rows), len(SITUATIONS), len(rows) - sum(1 for m in mismatches if "\n" in m)))
    assert not mismatches, "\n\n".join(mismatches)
