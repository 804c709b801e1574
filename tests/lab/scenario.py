# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docker_network_facts lab: the containers of each kind issue 3 lists, and captures.

- ``Scenario``: started for real on one engine, and what the facts must say about them;
- ``capture`` / ``write_fixtures``: run ``docker_capture.py`` in a node and split the
  bundle into the files of tests/fixtures/docker (``python -m tests.lab capture``);
- ``free_ports``: consecutive free host ports for a scenario on the host's engine.

Names start with ``dg-it-docker-``; addresses stay in 10.250.0.0/16 and fd00:250::/48.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import socket
import time

from tests.lab.engine import Engine, LabError, run, wait_for
from tests.lab.node import start_node, stop_node

PREFIX = "dg-it-docker-"


def node_engine(name, image, **kwargs):
    """Start a lab node (``tests.lab.node.start_node``); the Engine of its own dockerd."""
    start_node(name, image, **kwargs)
    return Engine(name, ["docker", "exec", name, "docker"], node=name)


def free_ports(count, start=20000, end=60000, host="0.0.0.0"):
    """``count`` consecutive TCP+UDP ports free on this host right now."""
    port = start + (os.getpid() * 7) % 20000
    while port + count < end:
        if all(_free(p, host) for p in range(port, port + count)):
            return list(range(port, port + count))
        port += count
    raise LabError("no %d consecutive free ports" % count)


def _free(port, host):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


class Scenario(object):
    """One container of each kind from issue 3, and what the facts must show.

    ``ports``: 8 host ports (web, v6, local, range x3, udp, stopped); ``subnet4`` /
    ``subnet6``: the user-defined IPv6 network (its bridge interface is ``bridge``).
    """

    def __init__(self, engine, ports, tag, subnet4, subnet6):
        self.engine = engine
        self.ports = ports
        self.tag = tag
        self.subnet4 = subnet4        # "10.250.N.0/24"
        self.subnet6 = subnet6        # "fd00:250:N::/64"
        base4 = subnet4.rsplit(".", 1)[0]
        base6 = subnet6.split("/")[0]
        self.ip4 = base4 + ".10"
        self.ip6 = base6 + "10"
        self.gw4 = base4 + ".1"
        self.gw6 = base6 + "1"
        self.bridge = ("dg-br-" + tag)[:15]
        self.names = dict((k, PREFIX + tag + "-" + k) for k in (
            "net", "web", "v6", "host", "none", "local", "range", "udp", "side", "stopped"))
        self.host_port = ports[8]      # a host-network container's httpd

    def start(self):
        e, n, p = self.engine, self.names, self.ports
        e.network(n["net"], "--driver", "bridge", "--ipv6",
                  "--subnet", self.subnet4, "--subnet", self.subnet6,
                  "-o", "com.docker.network.bridge.name=" + self.bridge)
        httpd = ["svc:local", "httpd", "-f", "-p", "80", "-h", "/"]
        sleep = ["svc:local", "sleep", "100000"]
        e.container(n["web"], "-p", "%d:80" % p[0], *httpd)
        e.container(n["v6"], "--network", n["net"], "--ip", self.ip4, "--ip6", self.ip6,
                    "-p", "%d:80" % p[1], *httpd)
        e.container(n["host"], "--network", "host", "svc:local", "httpd", "-f", "-p",
                    str(self.host_port), "-h", "/")
        e.container(n["none"], "--network", "none", *sleep)
        e.container(n["local"], "-p", "127.0.0.1:%d:80" % p[2], *httpd)
        e.container(n["range"], "-p", "%d-%d:8000-8002" % (p[3], p[5]), *sleep)
        e.container(n["udp"], "-p", "%d:53/udp" % p[6], *sleep)
        self.side_error = None
        try:
            e.container(n["side"], "--network", "container:" + n["web"], *sleep)
        except LabError as exc:
            # runc 1.3 (Docker 28.5) must open the other container's mount namespace,
            # which needs CAP_SYS_PTRACE: the lab node flags (docs/lab.md) do not grant it.
            if "ns/mnt: permission denied" not in str(exc):
                raise
            e.docker("rm", "-f", n["side"], check=False)
            self.side_error = "container: network mode cannot start in this node " \
                "(runc needs CAP_SYS_PTRACE to join another container's namespaces)"
        e.create(n["stopped"], "-p", "%d:80" % p[7], *httpd)
        wait_for(self._host_listening, timeout=30, what="host-network httpd")

    def _host_listening(self):
        out = self.engine.docker("exec", self.names["host"], "cat", "/proc/net/tcp",
                                 "/proc/net/tcp6", check=False)
        return (":%04X " % self.host_port) in out

    def check(self, facts, ip6tables_default):
        """Assert ``facts`` (ansible_facts.docker_network) match what was started."""
        n, p = self.names, self.ports
        errors = []

        def expect(cond, msg):
            if not cond:
                errors.append(msg)

        conts = dict((c["name"], c) for c in facts["containers"])
        nets = dict((x["name"], x) for x in facts["networks"])
        for key, name in n.items():
            if key != "net" and not (key == "side" and self.side_error):
                expect(name in conts, "container %s missing" % name)
        if errors:
            raise AssertionError("\n".join(errors))

        def ports(name):
            return sorted((x["protocol"], x["host_ip"], x["host_port"], x["container_port"])
                          for x in conts[name]["ports"])

        # user-defined bridge, custom bridge name, IPv6
        net = nets.get(n["net"])
        expect(net is not None, "network %s missing" % n["net"])
        if net:
            expect(net["driver"] == "bridge" and net["bridge"] == self.bridge,
                   "net bridge: %r" % net["bridge"])
            expect(net["enable_ipv6"] is True, "net enable_ipv6")
            expect([s["subnet"] for s in net["ipv4"]] == [self.subnet4], "net ipv4 %r"
                   % net["ipv4"])
            expect([s["subnet"] for s in net["ipv6"]] == [self.subnet6], "net ipv6 %r"
                   % net["ipv6"])
            expect(net["ipv4"][0]["gateway"] == self.gw4, "gw4 %r" % net["ipv4"])
            expect(net["ipv6"][0]["gateway"] == self.gw6, "gw6 %r" % net["ipv6"])
            expect(net["containers"] == [n["v6"]], "net containers %r" % net["containers"])
        default = nets["bridge"]
        expect(default["default"] and default["bridge"] == "docker0", "default bridge")
        expect(n["web"] in default["containers"], "web on bridge")

        web = conts[n["web"]]
        expect(web["network_mode"] == "bridge" and web["network_kind"] == "bridge",
               "web mode %r/%r" % (web["network_mode"], web["network_kind"]))
        expect(web["running"] and web["state"] == "running", "web running")
        expect(("tcp", "0.0.0.0", p[0], 80) in ports(n["web"]), "web ports %r"
               % ports(n["web"]))
        expect(web["networks"][0]["name"] == "bridge" and web["networks"][0]["ipv4"],
               "web address %r" % web["networks"])

        v6 = conts[n["v6"]]
        expect(v6["network_mode"] == n["net"], "v6 mode %r" % v6["network_mode"])
        ep = v6["networks"][0]
        expect(ep["ipv4"] == self.ip4 and ep["ipv6"] == self.ip6,
               "v6 addresses %r" % ep)
        expect(ep["ipv4_prefixlen"] == 24 and ep["ipv6_prefixlen"] == 64, "prefixlens")
        expect(("tcp", "0.0.0.0", p[1], 80) in ports(n["v6"]), "v6 ports %r"
               % ports(n["v6"]))
        for port in v6["ports"]:
            if port["family"] == "ipv6":
                expect(port["dnat"] is ip6tables_default, "v6 dnat %r" % port)

        host = conts[n["host"]]
        expect(host["network_mode"] == "host" and host["network_kind"] == "host",
               "host mode")
        expect(host["ports"] == [], "host-network container publishes nothing")
        none = conts[n["none"]]
        expect(none["network_mode"] == "none" and none["network_kind"] == "none"
               and none["ports"] == [], "none mode")

        expect(ports(n["local"]) == [("tcp", "127.0.0.1", p[2], 80)], "local ports %r"
               % ports(n["local"]))
        rng = [x for x in ports(n["range"]) if x[1] == "0.0.0.0"]
        expect(rng == [("tcp", "0.0.0.0", p[3] + i, 8000 + i) for i in range(3)],
               "range ports %r" % rng)
        expect(("udp", "0.0.0.0", p[6], 53) in ports(n["udp"]), "udp ports %r"
               % ports(n["udp"]))
        if not self.side_error:
            side = conts[n["side"]]
            expect(side["network_kind"] == "container"
                   and side["network_container"]["name"] == n["web"]
                   and side["network_container"]["id"] == web["id"],
                   "side %r" % side["network_container"])
        stopped = conts[n["stopped"]]
        expect(not stopped["running"] and stopped["state"] == "created"
               and stopped["ports"] == [], "stopped %r" % stopped["state"])

        # interfaces
        ifaces = dict((i["name"], i) for i in facts["interfaces"])
        expect(self.bridge in ifaces and ifaces[self.bridge]["role"] == "docker_bridge"
               and ifaces[self.bridge]["network"] == n["net"], "bridge interface")
        if self.bridge in ifaces:
            addrs = [a["address"] for a in ifaces[self.bridge]["addresses"]]
            expect(self.gw4 in addrs and self.gw6 in addrs, "bridge addrs %r" % addrs)
        expect(ifaces.get("lo", {}).get("role") == "loopback", "lo")
        expect(any(i["role"] == "docker_port" for i in facts["interfaces"]), "veths")

        # listeners
        lsn = facts["listeners"]
        mine = [x for x in lsn if x["port"] == self.host_port and x["protocol"] == "tcp"]
        expect(mine and all(x["owner"] == "container"
                            and x["container"]["name"] == n["host"] for x in mine),
               "host-network listener %r" % mine)
        if facts["daemon"]["userland_proxy"]:
            proxy = [x for x in lsn if x["port"] == p[0] and x["owner"] == "docker-proxy"]
            expect(proxy and proxy[0]["container"]["name"] == n["web"]
                   and proxy[0]["published"]["container_port"] == 80,
                   "docker-proxy listener for web %r" % proxy)
            udp = [x for x in lsn if x["port"] == p[6] and x["protocol"] == "udp"]
            expect(udp and udp[0]["owner"] == "docker-proxy"
                   and udp[0]["container"]["name"] == n["udp"], "udp proxy %r" % udp)
        if errors:
            raise AssertionError("facts differ from what was started:\n  "
                                 + "\n  ".join(errors))


# Fixed host ports inside a lab node (its own network namespace: nothing else uses them).
NODE_PORTS = [8080, 8081, 8082, 8090, 8091, 8092, 5353, 8083, 9090]
NODE_IMAGES = {"20.10": "node-bookworm:local", "28.5": "node-forky:local"}
CAPTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker_capture.py")


def capture(node):
    """Run docker_capture.py in a node; the bundle it prints, decoded."""
    with open(CAPTURE, "rb") as fh:
        proc = run(["docker", "exec", "-i", node, "python3", "-"], input=fh.read(), text=False)
    return json.loads(proc.stdout.decode("utf-8"))


def write_fixtures(bundle, outdir):
    """Split a capture bundle into the files a user would save from the CLI."""
    if not os.path.isdir(outdir):
        os.makedirs(outdir)
    files = {"version.json": bundle["version"], "info.json": bundle["info"],
             "containers-list.json": bundle["containers_list"],
             "containers-inspect.json": bundle["containers_inspect"],
             "networks-list.json": bundle["networks_list"],
             "networks-inspect.json": bundle["networks_inspect"],
             "ip-addr.json": bundle["ip_addr"], "processes.json": bundle["processes"],
             "dockerd-args.json": bundle["dockerd_args"]}
    if bundle.get("services") is not None:
        files["services.json"] = bundle["services"]
    for name, data in files.items():
        with open(os.path.join(outdir, name), "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
    with open(os.path.join(outdir, "ss.txt"), "w") as fh:
        fh.write(bundle["ss"])
    for name, text in bundle.get("proc_net", {}).items():
        with open(os.path.join(outdir, "proc-net-" + name), "w") as fh:
            fh.write(text)


def capture_fixtures(outdir, labels=()):
    """Real fixtures: each engine of ``labels`` (default all) with the Scenario, captured."""
    for label in labels or sorted(NODE_IMAGES):
        name = PREFIX + "capture-" + label.replace(".", "")
        engine = node_engine(name, NODE_IMAGES[label])
        try:
            scenario = Scenario(engine, NODE_PORTS, "cap", "10.250.10.0/24",
                                "fd00:250:10::/64")
            scenario.start()
            time.sleep(1)
            write_fixtures(capture(name), os.path.join(outdir, "docker-" + label))
            print("captured docker %s into %s" % (label, outdir))
        finally:
            stop_node(name)
