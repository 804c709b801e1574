# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ground truth for issue 17: the engine's verdict equals real TCP connections.

Network namespaces of our own, wired like a Docker host::

    client1 (10.250.61.10) --eth0-- host --docker0 (bridge)-- container (10.250.63.2:80)
    client2 (10.250.62.20) --eth1--  |     (DNAT host:8080 -> container:80)
                                     +-- a service of its own on 8086 (local delivery)

Each ruleset (Docker's chains plus the variant's rules, loaded with iptables-restore in
the host namespace) is probed with real connections from both clients to both ports: a
python client connects, sends an HTTP request and waits for the answer (the whole
exchange: SYN, SYN-ACK, ACK, request, answer). The engine reads the ruleset back with
iptables-save and the host facts from the namespace, and must say ``exposed`` exactly
when the answer came back, on every probe. The engine limited to the handshake (the
engine before issue 17) is evaluated too, and its disagreements are printed.

Only 10.250.61-63.0/24 inside the namespaces; nothing touches the host's own firewall;
namespaces and servers are removed even on failure. Run under ``flock /tmp/dg-lab.lock``.
"""

from __future__ import absolute_import, division, print_function

import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.lab.netns import can_use_netns, namespace, sh

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables_host import save_ipsets

HOST_ADDR = {"eth0": "10.250.61.2", "eth1": "10.250.62.2"}
CLIENTS = {"client1": ("eth0", "10.250.61.10"), "client2": ("eth1", "10.250.62.20")}
CONTAINER = "10.250.63.2"
PORTS = (8080, 8086)   # published (DNAT to the container), served by the host itself
TIMEOUT = 3

DOCKER = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
%(raw)s
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
%(mangle)s
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.250.63.2:80
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
-A DOCKER -d 10.250.63.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
%(user)s
-A DOCKER-USER -j RETURN
%(input)s
COMMIT
"""

# name: (issue 17 class, {raw, mangle, user (DOCKER-USER), input})
RULESETS = {
    "docker only": ("-", {}),
    "allow-list for NEW only": ("1", {
        "user": "-A DOCKER-USER -m conntrack --ctstate NEW -j RETURN\n"
                "-A DOCKER-USER -m conntrack --ctdir REPLY -j RETURN\n-A DOCKER-USER -j DROP",
        "input": "-A INPUT -p tcp -m tcp --dport 8086 -m conntrack --ctstate NEW -j ACCEPT\n"
                 "-A INPUT -p tcp -m tcp --dport 8086 -j DROP"}),
    "! --syn dropped": ("1", {
        "user": "-A DOCKER-USER -o docker0 -p tcp -m tcp ! --syn -j DROP",
        "input": "-A INPUT -p tcp -m tcp --dport 8086 ! --syn -j DROP"}),
    "client PSH dropped": ("1", {
        "user": "-A DOCKER-USER -o docker0 -p tcp -m tcp --tcp-flags PSH PSH -j DROP",
        "input": "-A INPUT -p tcp -m tcp --dport 8086 --tcp-flags PSH PSH -j DROP"}),
    "ASSURED dropped": ("1", {
        "user": "-A DOCKER-USER -m conntrack --ctstatus ASSURED --ctdir ORIGINAL -j DROP",
        "input": "-A INPUT -p tcp -m conntrack --ctstatus ASSURED -j DROP"}),
    "ESTABLISHED of client2 dropped": ("1", {
        "user": "-A DOCKER-USER -s 10.250.62.20/32 -m conntrack --ctstate ESTABLISHED "
                "--ctdir ORIGINAL -j DROP",
        "input": "-A INPUT -s 10.250.62.20/32 -m conntrack --ctstate ESTABLISHED -j DROP"}),
    "server's data dropped": ("1", {
        "user": "-A DOCKER-USER -i docker0 -p tcp -m tcp --tcp-flags PSH PSH -j DROP"}),
    "server's data dropped (host)": ("1", {
        "input": "-A INPUT -j ACCEPT", "user": "",
        "raw": "-A OUTPUT -p tcp -m tcp --sport 8086 --tcp-flags PSH PSH -j DROP"}),
    "raw: --ctstate INVALID with a tuple option": ("2", {
        "raw": "-A PREROUTING -p tcp -m tcp --dport 8080 -m conntrack --ctstate INVALID "
               "--ctorigsrc 10.99.0.0/16 -j DROP"}),
    "raw: a tuple option without --ctstate": ("2", {
        "raw": "-A PREROUTING -p tcp -m tcp --dport 8086 -m conntrack ! --ctorigsrc "
               "10.99.0.0/16 -j DROP"}),
    "raw: ! --ctstate NEW": ("2", {
        "raw": "-A PREROUTING -s 10.250.62.20/32 -m conntrack ! --ctstate NEW -j DROP"}),
    "NOTRACK of the reply": ("3", {"raw": "-A PREROUTING -i docker0 -j CT --notrack"}),
    "NOTRACK both ways (host service)": ("3", {
        "raw": "-A PREROUTING -p tcp -m tcp --dport 8086 -j CT --notrack\n"
               "-A OUTPUT -p tcp -m tcp --sport 8086 -j CT --notrack",
        "input": "-A INPUT -p tcp -m tcp --dport 8086 -m conntrack --ctstate UNTRACKED "
                 "-j ACCEPT\n-A INPUT -p tcp -m tcp --dport 8086 -j DROP"}),
    "NOTRACK both ways, only the SYN accepted": ("3", {
        "raw": "-A PREROUTING -p tcp -m tcp --dport 8086 -j CT --notrack\n"
               "-A OUTPUT -p tcp -m tcp --sport 8086 -j CT --notrack",
        "input": "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                 "-A INPUT -p tcp -m tcp --dport 8086 --syn -j ACCEPT\n"
                 "-A INPUT -p tcp -m tcp --dport 8086 -j DROP"}),
    "CT zone of the request only": ("3", {
        "raw": "-A PREROUTING -p tcp -m tcp --dport 8080 -j CT --zone 1"}),
    "CT zone both ways": ("3", {
        "raw": "-A PREROUTING -p tcp -m tcp --dport 8080 -j CT --zone 1\n"
               "-A PREROUTING -i docker0 -j CT --zone 1"}),
    "TTL set to 1": ("3", {"mangle": "-A PREROUTING -i eth+ -j TTL --ttl-set 1"}),
    "TTL decremented to 0": ("3", {"mangle": "-A PREROUTING -i eth1 -j TTL --ttl-dec 255"}),
    "TTL of the reply": ("3", {"mangle": "-A PREROUTING -i docker0 -j TTL --ttl-set 1"}),
    "HMARK then a mark rule": ("3", {
        "mangle": "-A PREROUTING -j HMARK --hmark-tuple src --hmark-mod 1 --hmark-offset 5 "
                  "--hmark-rnd 0x1",
        "user": "-A DOCKER-USER -m mark --mark 0x5 -j DROP",
        "input": "-A INPUT -p tcp -m tcp --dport 8086 -m mark --mark 0x5 -j DROP"}),
    "mark 0 from the wire": ("4", {
        "user": "-A DOCKER-USER -m mark ! --mark 0x0 -j DROP",
        "input": "-A INPUT -m mark ! --mark 0x0 -j DROP"}),
    "ipset allow-list (client1's network, client2 nomatch)": ("4", {
        "ipset": "create allow hash:net family inet\nadd allow 10.250.61.0/24\n"
                 "add allow 10.250.62.0/24\nadd allow 10.250.62.16/28 nomatch",
        "user": "-A DOCKER-USER -i eth+ -m set ! --match-set allow src -j DROP",
        "input": "-A INPUT -i eth+ -m set ! --match-set allow src -j DROP"}),
    "ipset of host addresses with a netmask": ("4", {
        "ipset": "create hosts hash:ip family inet netmask 28\nadd hosts 10.250.62.17",
        "user": "-A DOCKER-USER -m set --match-set hosts src -j DROP",
        "input": "-A INPUT -m set --match-set hosts src -j DROP"}),
    "non-contiguous source mask": ("4", {
        "user": "-A DOCKER-USER -s 10.250.0.10/255.255.0.255 -j DROP",
        "input": "-A INPUT -s 10.250.0.20/255.255.0.255 -j DROP"}),
    "client source ports below 32768 dropped": ("4", {
        "user": "-A DOCKER-USER -o docker0 -p tcp -m tcp --sport 1024:32767 -j DROP",
        "input": "-A INPUT -p tcp -m tcp --sport 1024:32767 -j DROP"}),
}

SERVER = "import http.server as h; h.test(HandlerClass=h.SimpleHTTPRequestHandler, port=%d, bind='%s')"
CLIENT = """
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=%d)
    s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')
    print(s.recv(64)[:12])
except Exception as exc:
    print('failed', exc)
""" % TIMEOUT


def _wire(host, container, clients):
    for iface, (ns, _c_iface, caddr) in clients.items():
        sh("ip", "-n", host, "link", "add", iface, "type", "veth", "peer", "name", "eth0",
           "netns", ns)
        sh("ip", "-n", host, "addr", "add", HOST_ADDR[iface] + "/24", "dev", iface)
        sh("ip", "-n", host, "link", "set", iface, "up")
        sh("ip", "-n", ns, "addr", "add", caddr + "/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "route", "add", "default", "via", HOST_ADDR[iface])
    sh("ip", "-n", host, "link", "add", "docker0", "type", "bridge")
    sh("ip", "-n", host, "addr", "add", "10.250.63.1/24", "dev", "docker0")
    sh("ip", "-n", host, "link", "set", "docker0", "up")
    sh("ip", "-n", host, "link", "add", "vethc", "type", "veth", "peer", "name", "eth0",
       "netns", container)
    sh("ip", "-n", host, "link", "set", "vethc", "master", "docker0", "up")
    sh("ip", "-n", container, "addr", "add", CONTAINER + "/24", "dev", "eth0")
    sh("ip", "-n", container, "link", "set", "eth0", "up")
    sh("ip", "-n", container, "route", "add", "default", "via", "10.250.63.1")
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=host)


def _serve(ns, port, bind):
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c",
                             SERVER % (port, bind)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 15
    while time.time() < deadline:
        if ":%d " % port in sh("ss", "-Hltn", ns=ns):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server on %s:%d did not start" % (ns, port))


def _host_facts(ns):
    interfaces = {}
    for link in json.loads(sh("ip", "-j", "addr", "show", ns=ns)):
        interfaces[link["ifname"]] = ["%s/%s" % (a["local"], a["prefixlen"])
                                      for a in link.get("addr_info", ()) if a["family"] == "inet"]
    listeners = []
    for line in sh("ss", "-Hltn", ns=ns).splitlines():
        local = line.split()[3]
        address, _sep, port = local.rpartition(":")
        listeners.append({"address": address.strip("[]").replace("*", "0.0.0.0"),
                          "port": int(port), "protocol": "tcp"})
    return {"interfaces": interfaces, "bridges": {"docker0": ["10.250.63.0/24"]},
            "listeners": listeners,
            "local_port_range": sh("cat", "/proc/sys/net/ipv4/ip_local_port_range", ns=ns)}


def _run_in(ns, argv):
    proc = subprocess.run(["ip", "netns", "exec", ns] + list(argv), capture_output=True,
                          text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _probe(ns, port):
    out = sh("timeout", str(TIMEOUT + 5), sys.executable, "-c", CLIENT,
             HOST_ADDR[CLIENTS_BY_NS[ns][0]], str(port), ns=ns, check=False)
    return "HTTP/" in out


CLIENTS_BY_NS = {}


@pytest.fixture(scope="module")
def lab():
    why = can_use_netns()
    if why:
        pytest.skip(why)
    procs = []
    with namespace("dg-ec-h") as host, namespace("dg-ec-k") as container, \
            namespace("dg-ec-c1") as c1, namespace("dg-ec-c2") as c2:
        try:
            clients = {"eth0": (c1, "eth0", CLIENTS["client1"][1]),
                       "eth1": (c2, "eth0", CLIENTS["client2"][1])}
            CLIENTS_BY_NS.update({c1: ("eth0", "client1"), c2: ("eth1", "client2")})
            _wire(host, container, clients)
            procs.append(_serve(container, 80, "0.0.0.0"))
            procs.append(_serve(host, 8086, "0.0.0.0"))
            yield {"host": host, "clients": {"client1": c1, "client2": c2}}
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()


def _restore(host, command, *args):
    text = args[-1]
    proc = subprocess.run(["ip", "netns", "exec", host, command] + list(args[:-1]), input=text,
                          capture_output=True, text=True, check=False)
    return (proc.stderr.strip() or "%s failed" % command) if proc.returncode else None


def _load(host, parts):
    text = DOCKER % dict((k, parts.get(k, "")) for k in ("raw", "mangle", "user", "input"))
    _restore(host, "iptables-restore", DOCKER % dict.fromkeys(("raw", "mangle", "user", "input"),
                                                              ""))
    if shutil.which("ipset"):
        sh("ipset", "destroy", ns=host, check=False)  # the sets of an earlier ruleset
    if parts.get("ipset"):
        if not shutil.which("ipset"):
            return "ipset not installed"
        why = _restore(host, "ipset", "restore", parts["ipset"] + "\n")
        if why:
            return why
    why = _restore(host, "iptables-restore", text)
    if why:
        return why
    sh("conntrack", "-F", ns=host, check=False)  # no connection of an earlier ruleset
    return None


def test_engine_equals_the_whole_connection(lab):
    host = lab["host"]
    rows, mismatches, old_wrong, skipped = [], [], [], []
    for name, (klass, parts) in RULESETS.items():
        why = _load(host, parts)
        if why:
            skipped.append("%s: %s" % (name, why))
            continue
        # the facts as iptables_facts reads them: the ruleset and the ipsets
        iptables = {"ipv4": dict(parse_save(sh("iptables-save", ns=host)), available=True),
                    "ipsets": save_ipsets(lambda argv: _run_in(host, argv), shutil.which)[0]}
        facts = _host_facts(host)
        engine = _exposure.Engine(iptables, facts)
        old = _exposure.Engine(iptables, facts, exchange="handshake")
        cases = [(client, port) for client in sorted(CLIENTS) for port in PORTS]
        with ThreadPoolExecutor(len(cases)) as pool:
            answered = list(pool.map(lambda c: _probe(lab["clients"][c[0]], c[1]), cases))
        for (client, port), got in zip(cases, answered):
            iface, source = CLIENTS[client]
            probe = dict(source=source, in_interface=iface, protocol="tcp",
                         destination=HOST_ADDR[iface], dport=port)
            r = engine.evaluate(probe)
            real = "exposed" if got else "filtered"
            line = "[%s] %s: %s -> %d: packets %s, engine %s%s (%s)" % (
                klass, name, client, port, real, r["verdict"],
                "/" + r["packet"] if r.get("packet") else "", r["decided_by"])
            rows.append(line)
            if r["verdict"] != real:
                mismatches.append(line + "\n" + _exposure.explain(r))
            if r["verdict"] == "unknown" and not r["decided_by"]:
                mismatches.append(line + ": unknown without a rule")
            if old.evaluate(probe)["verdict"] != real:
                old_wrong.append(line)
    print("\n".join(rows))
    print("%d probes in %d rulesets; engine agrees on %d; the handshake-only engine was "
          "wrong on %d:\n  %s" % (len(rows), len(RULESETS) - len(skipped),
                                  len(rows) - len(mismatches), len(old_wrong),
                                  "\n  ".join(old_wrong)))
    if skipped:
        print("rulesets this kernel refused:\n  " + "\n  ".join(skipped))
    assert not mismatches, "\n\n".join(mismatches)
    assert not skipped, skipped
    assert old_wrong, "the variants should catch the handshake-only engine"
