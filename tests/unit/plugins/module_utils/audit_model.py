# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small host for the audit and report tests: the real Docker 20.10 capture of `web`
published with -p 8080:80 (tests/fixtures/real), its DOCKER-USER allow-list taken out or
kept, and a Docker model written by hand to match it (eth0 10.250.9.11/24, docker0
172.18.0.1/16, `web` at 172.18.0.2, and optionally `metrics` on the host's network
listening on 9090)."""

from __future__ import absolute_import, division, print_function

import copy
import os

from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures"))
CAPTURE = os.path.join(FIXTURES, "real", "docker-20.10-publish-8080-docker-user-only-10.99.iptables-save")
ALLOW_LIST = "-A DOCKER-USER ! -s 10.99.0.0/16 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP\n"
HOST_ADDRESS = "10.250.9.11"


def ruleset(allow_list=True, input_rules=(), user_rules=()):
    """The iptables facts (ipv4 only)."""
    with open(CAPTURE) as fh:
        text = fh.read()
    if not allow_list:
        text = text.replace(ALLOW_LIST, "")
    text = text.replace("-A DOCKER-USER -j RETURN\n",
                        "".join("-A DOCKER-USER %s\n" % r for r in user_rules) + "-A DOCKER-USER -j RETURN\n")
    text = text.replace(":DOCKER-USER - [0:0]\n", ":DOCKER-USER - [0:0]\n" + "".join(
        "-A INPUT %s\n" % r for r in input_rules), 1)
    return {"ipv4": dict(parse_save(text), available=True),
            "ipv6": {"available": False, "reason": "ip6tables not gathered"},
            "version": "1.8.9", "backend": "nf_tables", "docker_backend": "nf_tables"}


def _iface(name, role, address=None, prefixlen=None):
    addrs = []
    if address:
        addrs.append({"family": "ipv4", "address": address, "prefixlen": prefixlen,
                      "scope": "global"})
    return {"name": name, "role": role, "addresses": addrs, "route_localnet": None}


def docker(host_network=False, container_name="web"):
    """The Docker model (the keys the exposure code reads)."""
    model = {
        "model_version": 1,
        "daemon": {"server_version": "20.10.24", "iptables": True, "ip6tables": False,
                   "userland_proxy": True},
        "networks": [{"name": "bridge", "bridge": "docker0",
                      "ipv4": [{"subnet": "172.18.0.0/16", "gateway": "172.18.0.1"}],
                      "ipv6": []}],
        "containers": [{
            "name": container_name, "running": True, "network_mode": "bridge",
            "ports": [{"protocol": "tcp", "family": "ipv4", "host_ip": "0.0.0.0",
                       "host_port": 8080, "container_port": 80, "dnat": True}]}],
        "interfaces": [_iface("lo", "loopback", "127.0.0.1", 8),
                       _iface("docker0", "docker_bridge", "172.18.0.1", 16),
                       _iface("eth0", "external", HOST_ADDRESS, 24)],
        "listeners": [{"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 8080,
                       "interface": None, "dual_stack": False, "owner": "docker-proxy",
                       "container": {"name": container_name},
                       "published": {"container_port": 80, "protocol": "tcp",
                                     "host_ip": "0.0.0.0"}}],
        "services": None,
        "default_routes": {"ipv4": {"interface": "eth0", "gateway": "10.250.9.1"}},
    }
    if host_network:
        model["containers"].append({"name": "metrics", "running": True, "network_mode": "host",
                                    "ports": []})
        model["listeners"].append({"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0",
                                   "port": 9090, "interface": None, "dual_stack": False,
                                   "owner": "container", "container": {"name": "metrics"}})
    return copy.deepcopy(model)


EXPECTED = [{"name": "web", "ports": [8080], "from": ["10.99.0.0/16"]}]
SOURCES = [{"name": "office", "address": "10.99.1.1", "interface": "eth0"},
           {"name": "denied", "address": "10.250.9.20"}]


def synthetic_fleet(hosts=50, ports=20):
    """``hosts`` host reports of ``ports`` published ports each, for the report's scale
    tests and bench: rows copied from real audits of this host (an unexpected, an expected
    and a filtered 8080, with their probes and paths), renumbered to ports 8000 + k, the
    verdicts mixed per host; every third host carries a drift (a new port, a removed one)."""
    from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
    from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure_drift import drift
    closed = ["-p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP"]
    templates = [
        audit.audit_host(ruleset(allow_list=False), docker(), EXPECTED, SOURCES, host="t")["rows"][0],
        audit.audit_host(ruleset(), docker(), EXPECTED, SOURCES, host="t")["rows"][0],
        audit.audit_host(ruleset(allow_list=False, user_rules=closed), docker(), EXPECTED, SOURCES,
                         host="t")["rows"][0],
    ]

    def row(k, template):
        r = copy.deepcopy(template)
        port = 8000 + k
        r["target"] = dict(r["target"], host_port=port, name="svc%02d" % k)
        r["container"] = "svc%02d" % k
        r["port"] = "%d/tcp" % port
        r["id"] = "published svc%02d 0.0.0.0:%d/tcp on eth0" % (k, port)
        return r

    reports = []
    for h in range(hosts):
        rows = [row(k, templates[(h + 2 * k) % len(templates)]) for k in range(ports)]
        counts = dict((v, sum(1 for r in rows if r["verdict"] == v))
                      for v in audit.ROW_VERDICTS)
        base = audit.audit_host(ruleset(), docker(), EXPECTED, SOURCES, host="node%02d" % h)
        rep = dict(base, rows=rows, findings=[], summary=dict(
            counts, ports=len(rows), status="fail" if counts["unexpected"] else "pass"))
        if h % 3 == 0:
            previous = dict(rep, rows=rows[1:] + [templates[1]])
            rep["drift"] = drift(previous, rep, previous_time="2026-11-28 00:00 UTC")
        else:
            rep["drift"] = drift(rep, rep)
        reports.append(rep)
    return reports
