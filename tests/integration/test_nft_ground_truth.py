# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ground truth for issue 11: the engine judges native nftables tables as real packets do.

Network namespaces wired like a Docker host::

    c1 (10.250.21.10) --ext0--  host  --bridge1 (bridge)-- container (10.250.20.2:80, :81)
    c2 (10.250.22.10) --ext1--   |    --docker0 (bridge, 10.250.17.1/24, empty)
    c3 (10.250.25.10) --ext2--   +-- a service of its own on 8086

Rulesets (tests/fixtures/nft):

- ``docker29``: Docker 29's ``firewall-backend: nftables`` layout (``docker-bridges.nft``,
  8080 -> 10.250.20.2:80), loaded with ``nft -f``;
- ``docker29+user-restrict``: and a user's own base chain (``user-restrict.nft``)
  restricting 8080 by ``ct original proto-dst`` to c1's address, and to c2's from ext1;
- ``nftables.conf``: Debian's ``table inet filter`` (forward policy drop, tcp 80 accepted)
  then Docker's iptables rules (iptables-nft) publishing 8080 -> :80 and 8081 -> :81.

Each client opens real TCP connections (request and answer) to the published ports, the
host's own service and the container directly; the engine reads ``iptables-save`` and
``nft -j list ruleset`` back from the namespace and must say ``exposed`` exactly when the
answer came back. Only 10.250.x.x inside the namespaces. Run under ``flock /tmp/dg-lab.lock``.
"""

from __future__ import absolute_import, division, print_function

import contextlib
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.lab.netns import can_use_netns, namespace, sh
from tests.integration.test_exposure_connection import CLIENT, TIMEOUT, _host_facts, _serve

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure, _nftables
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save

FIX = os.path.join(os.path.dirname(__file__), "..", "fixtures", "nft")
CLIENTS = {"c1": ("ext0", "10.250.21.10", "10.250.21.1"),
           "c2": ("ext1", "10.250.22.10", "10.250.22.1"),
           "c3": ("ext2", "10.250.25.10", "10.250.25.1")}
CONTAINER = "10.250.20.2"
BRIDGES = {"bridge1": ["10.250.20.0/24"], "docker0": ["10.250.17.0/24"]}

DOCKER_IPTABLES = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 10.250.20.0/24 ! -o bridge1 -j MASQUERADE
-A DOCKER -i bridge1 -j RETURN
-A DOCKER ! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.250.20.2:80
-A DOCKER ! -i bridge1 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.250.20.2:81
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o bridge1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o bridge1 -j DOCKER
-A FORWARD -i bridge1 ! -o bridge1 -j ACCEPT
-A DOCKER -d 10.250.20.2/32 ! -i bridge1 -o bridge1 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER -d 10.250.20.2/32 ! -i bridge1 -o bridge1 -p tcp -m tcp --dport 81 -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
"""

# name: (nft files, iptables-restore text or None, ports probed on the host address)
RULESETS = {
    "docker29": (("docker29/docker-bridges.nft",), None, (8080, 8086)),
    "docker29+user-restrict": (("docker29/docker-bridges.nft", "docker29/user-restrict.nft"),
                               None, (8080, 8086)),
    "nftables.conf": (("debian/nftables.conf",), DOCKER_IPTABLES, (8080, 8081, 8086)),
}


def _wire(host, container, clients):
    for name, ns in clients.items():
        iface, caddr, haddr = CLIENTS[name]
        sh("ip", "-n", host, "link", "add", iface, "type", "veth", "peer", "name", "eth0",
           "netns", ns)
        sh("ip", "-n", host, "addr", "add", haddr + "/24", "dev", iface)
        sh("ip", "-n", host, "link", "set", iface, "up")
        sh("ip", "-n", ns, "addr", "add", caddr + "/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "route", "add", "default", "via", haddr)
    for bridge, gw in (("bridge1", "10.250.20.1/24"), ("docker0", "10.250.17.1/24")):
        sh("ip", "-n", host, "link", "add", bridge, "type", "bridge")
        sh("ip", "-n", host, "addr", "add", gw, "dev", bridge)
        sh("ip", "-n", host, "link", "set", bridge, "up")
    sh("ip", "-n", host, "link", "add", "vethc", "type", "veth", "peer", "name", "eth0",
       "netns", container)
    sh("ip", "-n", host, "link", "set", "vethc", "master", "bridge1", "up")
    sh("ip", "-n", container, "addr", "add", CONTAINER + "/24", "dev", "eth0")
    sh("ip", "-n", container, "link", "set", "eth0", "up")
    sh("ip", "-n", container, "route", "add", "default", "via", "10.250.20.1")
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=host)


@contextlib.contextmanager
def docker29_lab(tag, container_ports):
    """Host, container and client namespaces wired as a Docker 29 host (no rules yet),
    serving ``container_ports`` in the container and 8086 on the host. ``tag`` keeps the
    namespace names of two test files apart."""
    why = can_use_netns()
    if why or not shutil.which("nft"):
        pytest.skip(why or "nft not installed")
    procs = []
    with namespace("dg-%s-h" % tag) as host, namespace("dg-%s-k" % tag) as container, \
            namespace("dg-%s-c1" % tag) as c1, namespace("dg-%s-c2" % tag) as c2, \
            namespace("dg-%s-c3" % tag) as c3:
        try:
            clients = {"c1": c1, "c2": c2, "c3": c3}
            _wire(host, container, clients)
            procs.extend(_serve(container, port, "0.0.0.0") for port in container_ports)
            procs.append(_serve(host, 8086, "0.0.0.0"))
            yield {"host": host, "clients": clients}
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def lab():
    with docker29_lab("nf", (80, 81)) as wired:
        yield wired


def _load(host, files, iptables):
    sh("iptables", "-F", ns=host, check=False)
    sh("nft", "flush", "ruleset", ns=host)
    for name in files:
        sh("nft", "-f", os.path.join(FIX, name), ns=host)
    if iptables:
        sh("iptables-restore", ns=host, input=iptables)
    sh("conntrack", "-F", ns=host, check=False)


def _probe(ns, address, port):
    out = sh("timeout", str(TIMEOUT + 5), sys.executable, "-c", CLIENT, address, str(port),
             ns=ns, check=False)
    return "HTTP/" in out


def test_engine_equals_packets_with_native_tables(lab):
    host = lab["host"]
    rows, mismatches = [], []
    for name, (files, iptables, ports) in RULESETS.items():
        _load(host, files, iptables)
        ipt = {"ipv4": dict(parse_save(sh("iptables-save", ns=host)), available=True)}
        nft = _nftables.parse(sh("nft", "-j", "list", "ruleset", ns=host))
        facts = dict(_host_facts(host), bridges=BRIDGES)
        engine = _exposure.Engine(ipt, facts, nftables=nft)
        blind = _exposure.Engine(ipt, facts)
        cases = [(c, CLIENTS[c][2], port) for c in sorted(CLIENTS) for port in ports]
        cases += [(c, CONTAINER, 80) for c in sorted(CLIENTS)]
        with ThreadPoolExecutor(len(cases)) as pool:
            answered = list(pool.map(lambda c: _probe(lab["clients"][c[0]], c[1], c[2]), cases))
        for (client, dst, port), got in zip(cases, answered):
            iface, source, _haddr = CLIENTS[client]
            probe = dict(source=source, in_interface=iface, destination=dst, dport=port)
            r = engine.evaluate(probe)
            real = "exposed" if got else "filtered"
            line = "%s: %s -> %s:%d: packets %s, engine %s (%s); iptables alone %s" % (
                name, client, dst, port, real, r["verdict"], r["decided_by"],
                blind.evaluate(probe)["verdict"])
            rows.append(line)
            if r["verdict"] != real:
                mismatches.append(line + "\n" + _exposure.explain(r))
    print("\n".join(rows))
    print("%d probes in %d rulesets; engine agrees on %d" % (
        len(rows), len(RULESETS), len(rows) - len(mismatches)))
    assert not mismatches, "\n\n".join(mismatches)
    assert any("packets filtered" in r for r in rows) and any("packets exposed" in r for r in rows)
