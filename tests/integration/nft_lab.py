# -*- coding: utf-8 -*-
"""nftables lab helpers: load rulesets into network namespaces, run a firewalld node, and
capture what ``nft`` reports, for the fixtures in tests/fixtures/nft (see its README).

    python -m tests.integration.nft_lab capture [netns] [firewalld]   (from the repository root)

(re)writes the captures, as root and under the lab lock (``flock /tmp/dg-lab.lock``):
- ``netns``: the ``.nft`` files of docker29/ and debian/ loaded with ``nft -f`` into a
  namespace of their own, captured with ``nft -j list ruleset`` and ``nft -a list ruleset``;
- ``firewalld``: a node-forky-firewalld lab node (firewalld + Docker 28.5) in the
  situations of ``FIREWALLD_SITUATIONS``, captured with ``nft``, ``iptables-save``,
  ``ip6tables-save`` and ``docker info``.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import sys
import time

from tests.lab import node as lab_node
from tests.lab.engine import run, wait_for
from tests.lab.node import FIREWALLD_BOOT, FIREWALLD_IMAGE  # noqa: F401  (re-exported for the tests)
from tests.lab.netns import namespace, sh
from tests.lab.scenario import node_engine

HERE = os.path.dirname(os.path.abspath(__file__))

FIXTURES = os.path.normpath(os.path.join(HERE, "..", "fixtures", "nft"))
DOCKER29 = os.path.join(FIXTURES, "docker29")
DEBIAN = os.path.join(FIXTURES, "debian")
REAL_IPTABLES = os.path.normpath(os.path.join(HERE, "..", "fixtures", "real"))

# name of a capture -> the .nft files loaded, in order, and iptables-save files restored
# after them (family, path).
NETNS_CAPTURES = {
    "docker29/docker-bridges": [os.path.join(DOCKER29, "docker-bridges.nft")],
    "docker29/docker-bridges+user-restrict": [os.path.join(DOCKER29, "docker-bridges.nft"),
                                              os.path.join(DOCKER29, "user-restrict.nft")],
    "debian/nftables-conf": [os.path.join(DEBIAN, "nftables.conf")],
    "debian/nftables-conf+docker-iptables": [
        os.path.join(DEBIAN, "nftables.conf"),
        ("iptables", os.path.join(REAL_IPTABLES, "docker-28.5-bridge-publish-8080.iptables-save")),
        ("ip6tables", os.path.join(REAL_IPTABLES, "docker-28.5-bridge-publish-8080.ip6tables-save")),
    ],
}

FIREWALLD_NODE = "dg-it-nft-firewalld"
HOST_PORT = 6060           # a host-network service in the node
PUBLISHED = 8080           # web: -p 8080:80
DENIED_SOURCE = "10.250.40.20"


def load(ns, *items):
    """Load ``.nft`` files (``nft -f``) and ``(tool, iptables-save file)`` pairs into ``ns``."""
    for item in items:
        if isinstance(item, tuple):
            tool, path = item
            with open(path) as fh:
                sh(tool + "-restore", ns=ns, input=fh.read())
        else:
            sh("nft", "-f", item, ns=ns)


def ruleset(ns=None, prefix=()):
    """(``nft -j list ruleset`` JSON text, ``nft -a list ruleset`` text) of ``ns``."""
    if prefix:
        return (run(list(prefix) + ["nft", "-j", "list", "ruleset"]).stdout,
                run(list(prefix) + ["nft", "-a", "list", "ruleset"]).stdout)
    return sh("nft", "-j", "list", "ruleset", ns=ns), sh("nft", "-a", "list", "ruleset", ns=ns)


def _write(path, text):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory)
    with open(path, "w") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


def _pretty(json_text):
    return json.dumps(json.loads(json_text), indent=1) + "\n"


def capture_netns(outdir=FIXTURES):
    for name, items in sorted(NETNS_CAPTURES.items()):
        with namespace("dg-nft") as ns:
            load(ns, *items)
            data, text = ruleset(ns)
        _write(os.path.join(outdir, name + ".json"), _pretty(data))
        _write(os.path.join(outdir, name + ".nft-list.txt"), text)
        print("captured %s" % name)


def _scrub(info):
    """docker info without the registry settings (nothing to do with firewalls)."""
    for key in ("IndexServerAddress", "RegistryConfig"):
        info.pop(key, None)
    return info


class FirewalldNode(object):
    """A forky lab node running firewalld 2.x, then Docker 28.5 (``iptables+firewalld``)."""

    def __init__(self, name=FIREWALLD_NODE):
        self.name = name
        self.engine = None

    def start(self):
        self.engine = node_engine(self.name, FIREWALLD_IMAGE, boot=FIREWALLD_BOOT)
        self.engine.container("web", "-p", "%d:80" % PUBLISHED, "svc:local", "httpd", "-f",
                              "-p", "80", "-h", "/")
        self.engine.container("hostsvc", "--network", "host", "svc:local", "httpd", "-f",
                              "-p", str(HOST_PORT), "-h", "/")
        return self

    def sh(self, command, check=True):
        return lab_node.node_exec(self.name, "sh", "-c", command, check=check).stdout

    def firewall_cmd(self, *args):
        return lab_node.node_exec(self.name, "firewall-cmd", *args).stdout

    def reload(self):
        """firewall-cmd --reload, then wait until Docker has put its rules back."""
        self.firewall_cmd("--reload")
        wait_for(lambda: "DOCKER" in self.sh("iptables-save -t nat", check=False),
                 timeout=60, what="Docker's rules after firewalld reload")
        time.sleep(1)

    def strict_forward_ports(self, on=True):
        value = "yes" if on else "no"
        self.sh("sed -i -e '/^StrictForwardPorts=/d' /etc/firewalld/firewalld.conf && "
                "echo StrictForwardPorts=%s >> /etc/firewalld/firewalld.conf" % value)
        self.reload()

    def capture(self):
        prefix = ["docker", "exec", self.name]
        data, text = ruleset(prefix=prefix)
        return {
            "ruleset.json": _pretty(data),
            "ruleset.nft-list.txt": text,
            "iptables-save": self.sh("iptables-save"),
            "ip6tables-save": self.sh("ip6tables-save"),
            "docker-info.json": json.dumps(_scrub(json.loads(self.engine.docker(
                "info", "--format", "{{json .}}"))), indent=1, sort_keys=True) + "\n",
            "firewalld-version.txt": self.sh("firewall-cmd --version"),
        }

    def stop(self):
        lab_node.stop_node(self.name)


# situation -> what is done to the node (cumulative, in this order) before the capture
FIREWALLD_SITUATIONS = [
    ("default", lambda n: None),
    ("port-opened", lambda n: n.firewall_cmd("--add-port=%d/tcp" % HOST_PORT)),
    ("rich-rule", lambda n: n.firewall_cmd(
        "--add-rich-rule=rule family=ipv4 source address=%s reject" % DENIED_SOURCE)),
    ("strict-forward-ports", lambda n: n.strict_forward_ports(True)),
]


def capture_firewalld(outdir=FIXTURES):
    node = FirewalldNode()
    try:
        node.start()
        time.sleep(2)
        for situation, action in FIREWALLD_SITUATIONS:
            action(node)
            time.sleep(1)
            for fname, text in node.capture().items():
                _write(os.path.join(outdir, "firewalld", situation, fname), text)
            print("captured firewalld/%s" % situation)
    finally:
        node.stop()


def main(argv):
    if not argv or argv[0] != "capture":
        raise SystemExit(__doc__)
    what = argv[1:] or ["netns", "firewalld"]
    if "netns" in what:
        capture_netns()
    if "firewalld" in what:
        capture_firewalld()


if __name__ == "__main__":
    main(sys.argv[1:])
