# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From the two fact sets to the exposure list: what to probe, from where, and the verdicts.

- ``published_ports(docker_facts)``: every port the Docker facts say something serves:
  published container ports (``kind: published``), ports a host-network container
  listens on (``host-network``), docker-proxy listeners no DNAT covers (``docker-proxy``,
  e.g. IPv6 to an IPv4-only network) and swarm ingress ports (``ingress``).
- ``default_sources(docker_facts)``: one public address per family arriving on each
  external (non-Docker, non-loopback) interface.
- ``exposure(iptables_facts, docker_facts, sources)``: the engine's verdict for each
  (port, source), with the port and the source in each result.
- ``reachability(iptables_facts, docker_facts, interfaces)``: for each port and input
  interface, who reaches it (``0.0.0.0/0 except 10.0.0.0/8``).

``iptables_facts`` is ``ansible_facts.iptables`` (or one ``_iptables`` model),
``docker_facts`` ``ansible_facts.docker_network`` (the ``_docker`` model). Errors are
``ValueError`` with a message naming the bad value.

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as addr
from ansible_collections.dockerguard.firewall.plugins.module_utils._docker import exposure_host
from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure import Engine

# Stand-ins for "somebody on the internet" (documentation ranges, RFC 5737 / RFC 3849).
PUBLIC = {"ipv4": "203.0.113.7", "ipv6": "2001:db8::7"}
WILDCARDS = ("0.0.0.0", "::")


def _model(docker_facts):
    if not isinstance(docker_facts, dict) or "containers" not in docker_facts:
        raise ValueError("docker facts must be the docker_network_facts model "
                         "(ansible_facts.docker_network), got %s" % type(docker_facts).__name__)
    return docker_facts


def published_ports(docker_facts, include_stopped=False):
    """The ports to evaluate, as ``{kind, name, protocol, family, host_ip, host_port,
    container_port, dnat}`` (sorted)."""
    model = _model(docker_facts)
    targets = []
    for cont in model.get("containers") or ():
        if not include_stopped and not cont.get("running", True):
            continue
        for port in cont.get("ports") or ():
            targets.append({"kind": "published", "name": cont.get("name"),
                            "protocol": port["protocol"], "family": port["family"],
                            "host_ip": port["host_ip"], "host_port": port["host_port"],
                            "container_port": port["container_port"],
                            "dnat": port.get("dnat")})
    covered = set((t["protocol"], t["family"], t["host_port"]) for t in targets)
    for item in model.get("listeners") or ():
        owner = item.get("owner")
        if owner == "container":
            kind = "host-network"
        elif owner == "docker-proxy":
            kind = "docker-proxy"
        else:
            continue
        fams = [item["family"]]
        if item["family"] == "ipv6" and item["address"] == "::" and item.get("dual_stack"):
            fams = ["ipv4", "ipv6"]
        name = (item.get("container") or {}).get("name")
        for fam in fams:
            if kind == "docker-proxy" and (item["protocol"], fam, item["port"]) in covered:
                continue
            cport = item["port"]
            if kind == "docker-proxy":
                cport = (item.get("published") or {}).get("container_port")
            target = {"kind": kind, "name": name, "protocol": item["protocol"], "family": fam,
                      "host_ip": item["address"] if fam == item["family"] else "0.0.0.0",
                      "host_port": item["port"], "container_port": cport, "dnat": False}
            if item.get("interface"):
                target["interface"] = item["interface"]
            targets.append(target)
    for svc in model.get("services") or ():
        for port in svc.get("ports") or ():
            if port.get("publish_mode") == "ingress" and port.get("published_port"):
                targets.append({"kind": "ingress", "name": svc.get("name"),
                                "protocol": port["protocol"], "family": "ipv4",
                                "host_ip": "0.0.0.0", "host_port": port["published_port"],
                                "container_port": port.get("target_port"), "dnat": True})
    seen = set()
    unique = []
    for t in targets:
        key = tuple(sorted((k, str(v)) for k, v in t.items()))
        if key not in seen:
            seen.add(key)
            unique.append(t)
    unique.sort(key=lambda t: (t["host_port"], t["protocol"], t["family"], t["host_ip"],
                               t["kind"], t["name"] or ""))
    return unique


def _interfaces(model):
    ifaces = model.get("interfaces")
    if ifaces is None:
        return None
    return dict((i["name"], i) for i in ifaces)


def external_interfaces(docker_facts):
    """Names of the interfaces traffic from outside arrives on."""
    ifaces = _model(docker_facts).get("interfaces")
    if ifaces is None:
        raise ValueError("the docker facts hold no interfaces (gather them, or name the "
                         "sources and interfaces yourself)")
    return [i["name"] for i in ifaces if i.get("role") == "external"]


def _global_addresses(iface, family):
    return [a["address"] for a in (iface or {}).get("addresses") or ()
            if a.get("family") == family and a.get("scope") != "link"]


def default_sources(docker_facts):
    """One public address per family on each external interface that has that family."""
    model = _model(docker_facts)
    ifaces = _interfaces(model)
    out = []
    for name in external_interfaces(model):
        for fam in ("ipv4", "ipv6"):
            if _global_addresses(ifaces[name], fam):
                out.append({"name": "public-%s@%s" % (fam, name), "address": PUBLIC[fam],
                            "interface": name})
    return out


def normalize_sources(sources):
    """``[{name, address, interface}]``; ``name`` defaults to ``address@interface``."""
    if isinstance(sources, dict):
        sources = [sources]
    if not isinstance(sources, (list, tuple)):
        raise ValueError("sources must be a list of {name, address, interface}, got %r"
                         % (sources,))
    out = []
    for s in sources:
        if not isinstance(s, dict) or not s.get("address") or not s.get("interface"):
            raise ValueError("a source needs an address and an interface, got %r" % (s,))
        addr.parse_address(s["address"])
        out.append({"name": s.get("name") or "%s@%s" % (s["address"], s["interface"]),
                    "address": str(s["address"]), "interface": str(s["interface"])})
    return out


def host_facts(docker_facts):
    """What ``_exposure.Host`` takes, from the docker facts (model or module result)."""
    return exposure_host(_model(docker_facts))


def destination(target, family, interface, ifaces):
    """The address a probe of ``family`` arriving on ``interface`` sends to; None if none."""
    if target["family"] != family:
        return None
    if target.get("interface") and target["interface"] != interface:
        return None
    if target["host_ip"] in WILDCARDS:
        if ifaces is None:
            return None
        found = _global_addresses(ifaces.get(interface), family)
        return found[0] if found else None
    return target["host_ip"]


def describe_target(t):
    where = t["host_ip"] if t["family"] == "ipv4" else "[%s]" % t["host_ip"]
    return "%s %s %s:%s/%s" % (t["kind"], t["name"] or "?", where, t["host_port"],
                               t["protocol"])


def exposure(iptables_facts, docker_facts, sources=None, targets=None, trace=True,
             host=None):
    """The verdict for each (port, source): the engine's result plus ``target``,
    ``source`` and ``id``. A source whose interface has no address of the port's
    family (for a wildcard binding) is skipped for that port."""
    model = _model(docker_facts)
    sources = normalize_sources(sources) if sources is not None else default_sources(model)
    targets = targets if targets is not None else published_ports(model)
    engine = Engine(iptables_facts, host if host is not None else host_facts(model))
    ifaces = _interfaces(model)
    results = []
    for t in targets:
        for s in sources:
            fam = addr.family_of(s["address"])
            dst = destination(t, fam, s["interface"], ifaces)
            if dst is None:
                continue
            r = engine.evaluate(family=fam, source=s["address"], in_interface=s["interface"],
                                protocol=t["protocol"], destination=dst, dport=t["host_port"],
                                name=s["name"], trace=trace)
            r["target"] = t
            r["source"] = s
            r["id"] = "%s from %s" % (describe_target(t), s["name"])
            results.append(r)
    return results


def reachability(iptables_facts, docker_facts, interfaces=None, targets=None, regions=False,
                 host=None):
    """For each port and input interface: who reaches it (``exposed``, ``filtered``,
    ``unknown`` as compact CIDR text, ``exposed_cidrs``, ``exposed_groups``)."""
    model = _model(docker_facts)
    if interfaces is None:
        interfaces = external_interfaces(model)
    elif isinstance(interfaces, str):
        interfaces = [interfaces]
    targets = targets if targets is not None else published_ports(model)
    engine = Engine(iptables_facts, host if host is not None else host_facts(model))
    ifaces = _interfaces(model)
    out = []
    for t in targets:
        for iface in interfaces:
            dst = destination(t, t["family"], iface, ifaces)
            if dst is None:
                continue
            s = engine.reachability(family=t["family"], in_interface=iface,
                                    protocol=t["protocol"], destination=dst,
                                    dport=t["host_port"], regions=regions)
            entry = {"target": t, "interface": iface, "family": t["family"],
                     "destination": dst, "id": "%s on %s" % (describe_target(t), iface)}
            for key in ("exposed", "filtered", "unknown", "exposed_cidrs", "exposed_groups",
                        "regions"):
                if key in s:
                    entry[key] = s[key]
            out.append(entry)
    return out
