# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scan of one host: what to probe, from where and on which interface, done once.

``Scan(iptables, docker, nftables=None)`` checks the Docker model, turns it into the
engine's host facts (``exposure_host``), builds the ``Engine`` once and walks
target x interface x destination for every caller:

- ``Scan.exposure(sources)``: the engine's verdict for each (port, source) - the
  ``exposure`` filter and ``docker_exposure_info``;
- ``Scan.reachability(interfaces)``: for each port and input interface, who reaches it
  (``0.0.0.0/0 except 10.0.0.0/8``) - the ``reachability`` filter;
- ``Scan.points(interfaces)``: (target, interface, destination) for callers that judge
  each point themselves - the fleet audit (``_exposure_audit.audit_host``).

Helpers: ``published_ports(docker_facts)`` (every port the Docker facts say something
serves: published container ports ``published``, host-network listeners
``host-network``, docker-proxy listeners no DNAT covers ``docker-proxy``, swarm ingress
``ingress``), ``default_sources(docker_facts)`` (one public address per family on each
external interface) and ``normalize_sources(sources, docker_facts)``, the one rule for
named sources.

``iptables`` is ``ansible_facts.iptables`` (or one ``_iptables`` model), ``docker``
``ansible_facts.docker_network`` (the ``_docker`` model). ``nftables`` is
``ansible_facts.nftables``: its native base chains are judged with the iptables tables
(``_hook_walk``); when it is missing and Docker reports an nftables or firewalld backend,
every verdict is ``unknown`` with the reason (``blind_reason``). Errors are
``ValueError`` with a message naming the bad value.

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as addr
from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure import Engine

# Stand-ins for "somebody on the internet" (documentation ranges, RFC 5737 / RFC 3849).
PUBLIC = {"ipv4": "203.0.113.7", "ipv6": "2001:db8::7"}
WILDCARDS = ("0.0.0.0", "::")
LOOPBACK = ("127.0.0.1", "::1")


def docker_model(docker_facts):
    """``docker_facts`` itself once it is the docker_network_facts model."""
    if not isinstance(docker_facts, dict) or "containers" not in docker_facts:
        raise ValueError("docker facts must be the docker_network_facts model "
                         "(ansible_facts.docker_network), got %s" % type(docker_facts).__name__)
    return docker_facts


def published_ports(docker_facts, include_stopped=False):
    """The ports to evaluate, as ``{kind, name, protocol, family, host_ip, host_port,
    container_port, dnat}`` (sorted)."""
    model = docker_model(docker_facts)
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
    ifaces = docker_model(docker_facts).get("interfaces")
    if ifaces is None:
        raise ValueError("the docker facts hold no interfaces (gather them, or name the "
                         "sources and interfaces yourself)")
    return [i["name"] for i in ifaces if i.get("role") == "external"]


def _global_addresses(iface, family):
    return [a["address"] for a in (iface or {}).get("addresses") or ()
            if a.get("family") == family and a.get("scope") != "link"]


def default_sources(docker_facts):
    """One public address per family on each external interface that has that family."""
    model = docker_model(docker_facts)
    ifaces = _interfaces(model)
    out = []
    for name in external_interfaces(model):
        for fam in ("ipv4", "ipv6"):
            if _global_addresses(ifaces[name], fam):
                out.append({"name": "public-%s@%s" % (fam, name), "address": PUBLIC[fam],
                            "interface": name})
    return out


def source_interface(address, docker_facts):
    """The interface a packet from ``address`` arrives on: the external interface whose
    connected network holds it, else the default route's, else the first external one."""
    fam = addr.family_of(address)
    value = addr.parse_address(address, fam)
    ifaces = docker_facts.get("interfaces") or []
    external = [i for i in ifaces if i.get("role") == "external"]
    for iface in external:
        for a in iface.get("addresses") or ():
            if a.get("family") != fam or a.get("prefixlen") is None or a.get("scope") == "link":
                continue
            lo, hi = addr.parse_cidr("%s/%s" % (a["address"], a["prefixlen"]), fam)
            if lo <= value <= hi:
                return iface["name"]
    route = ((docker_facts.get("default_routes") or {}).get(fam) or {})
    if route.get("interface"):
        return route["interface"]
    if external:
        return external[0]["name"]
    raise ValueError("cannot tell which interface %s arrives on: the host has no external "
                     "interface; give the source's interface" % address)


def normalize_sources(sources, docker_facts):
    """Named sources as ``[{name, address, interface}]``, the one rule for every caller.

    A source is an address, or ``{name, address, interface}`` (one such mapping alone is
    a list of one). Without ``interface``, the interface is the one the address arrives
    on (``source_interface``). ``name`` defaults to ``address@interface`` when the
    interface was given, else to the address."""
    if isinstance(sources, (str, dict)):
        sources = [sources]
    if sources is None:
        sources = []
    if not isinstance(sources, (list, tuple)):
        raise ValueError("sources must be a list of addresses or {name, address, interface}, "
                         "got %r" % (sources,))
    out = []
    for k, s in enumerate(sources, 1):
        if isinstance(s, str):
            s = {"address": s}
        if not isinstance(s, dict) or not s.get("address"):
            raise ValueError("sources[%d]: %r needs an address" % (k, s))
        address = str(s["address"])
        addr.parse_address(address)
        if s.get("interface"):
            interface = str(s["interface"])
            name = s.get("name") or "%s@%s" % (address, interface)
        else:
            interface = source_interface(address, docker_facts)
            name = s.get("name") or address
        out.append({"name": str(name), "address": address, "interface": interface})
    return out


def exposure_host(model):
    """The host facts the exposure engine (``_exposure.Host``) takes, from the Docker model.

    ``interfaces`` ``{name: ["addr/plen", ...]}``, ``bridges`` ``{bridge: [subnets]}``
    (bridge networks only), ``listeners`` (address, port, protocol, dual_stack,
    interface), ``default_interface`` per family, ``local_port_range``, ``route_localnet``
    (True when any non-loopback interface accepts 127.0.0.0/8 from outside ``lo``). Parts the model
    lacks are left out (``listeners`` not gathered stays unknown, not empty).
    """
    host = {}
    if model.get("interfaces") is not None:
        host["interfaces"] = dict(
            (i["name"], ["%s/%s" % (a["address"], a["prefixlen"]) if a.get("prefixlen")
                         is not None else a["address"] for a in i.get("addresses") or ()])
            for i in model["interfaces"])
        host["route_localnet"] = any(i.get("route_localnet") for i in model["interfaces"]
                                     if i.get("role") != "loopback")
    bridges = {}
    for net in model.get("networks") or ():
        if net.get("bridge"):
            bridges[net["bridge"]] = [s["subnet"] for s in (net.get("ipv4") or []) +
                                      (net.get("ipv6") or [])]
    host["bridges"] = bridges
    if model.get("listeners") is not None:
        keys = ("address", "port", "protocol", "dual_stack", "interface")
        host["listeners"] = [dict((k, x.get(k)) for k in keys) for x in model["listeners"]]
    if model.get("local_port_range"):
        host["local_port_range"] = list(model["local_port_range"])
    routes = model.get("default_routes")
    if routes:
        host["default_interface"] = dict((fam, (r or {}).get("interface"))
                                         for fam, r in routes.items())
    return host


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


def blind_reason(docker_facts, nftables):
    """Why native nftables tables may decide unseen, or None: Docker reports an nftables
    or firewalld backend and the nftables ruleset was not read."""
    if isinstance(nftables, dict) and nftables.get("available", True) and "tables" in nftables:
        return None
    backend = str((docker_facts.get("daemon") or {}).get("firewall_backend") or "")
    if "nftables" not in backend and "firewalld" not in backend:
        return None
    why = (nftables or {}).get("reason") if isinstance(nftables, dict) else None
    return ("Docker reports firewall backend %s, whose native nftables tables decide too, "
            "and the nftables ruleset was not read%s: pass nftables_facts (nftables=)"
            % (backend, " (%s)" % why if why else ""))


class Scan(object):
    """One host's facts, checked once, with the engine built once.

    ``host`` overrides the host facts ``exposure_host`` derives from the Docker model.
    ``nftables`` (``ansible_facts.nftables``) is judged with the iptables tables, hook by
    hook in priority order; without it, when Docker says native tables decide, every
    verdict is ``unknown`` (``blind_reason``)."""

    def __init__(self, iptables, docker, nftables=None, host=None):
        self.docker = docker_model(docker)
        self.iptables = iptables
        self.nftables = nftables
        self.engine = Engine(iptables, host if host is not None else exposure_host(self.docker),
                             nftables=nftables, blind=blind_reason(self.docker, nftables))
        self.ifaces = _interfaces(self.docker)

    def targets(self, targets=None, include_loopback=True):
        """The published ports to probe (``published_ports`` unless given)."""
        found = targets if targets is not None else published_ports(self.docker)
        if include_loopback:
            return found
        return [t for t in found if t["host_ip"] not in LOOPBACK]

    def interfaces(self, interfaces=None):
        """Input interfaces: the given ones (a name or a list), else the external ones."""
        if interfaces is None:
            return external_interfaces(self.docker)
        if isinstance(interfaces, str):
            return [interfaces]
        return list(interfaces)

    def destination(self, target, family, interface):
        return destination(target, family, interface, self.ifaces)

    def points(self, interfaces=None, targets=None, include_loopback=True):
        """(target, interface, destination) for each target and input interface where a
        probe of the target's family has somewhere to go."""
        interfaces = self.interfaces(interfaces)
        for t in self.targets(targets, include_loopback):
            for iface in interfaces:
                dst = self.destination(t, t["family"], iface)
                if dst is not None:
                    yield t, iface, dst

    def exposure(self, sources=None, targets=None, trace=True):
        """The verdict for each (port, source): the engine's result plus ``target``,
        ``source`` and ``id``. A source whose interface has no address of the port's
        family (for a wildcard binding) is skipped for that port."""
        sources = (normalize_sources(sources, self.docker) if sources is not None
                   else default_sources(self.docker))
        families = [addr.family_of(s["address"]) for s in sources]
        results = []
        for t in self.targets(targets):
            for s, fam in zip(sources, families):
                dst = self.destination(t, fam, s["interface"])
                if dst is None:
                    continue
                r = self.engine.evaluate(family=fam, source=s["address"],
                                         in_interface=s["interface"], protocol=t["protocol"],
                                         destination=dst, dport=t["host_port"],
                                         name=s["name"], trace=trace)
                r["target"] = t
                r["source"] = s
                r["id"] = "%s from %s" % (describe_target(t), s["name"])
                results.append(r)
        return results

    def reachability(self, interfaces=None, targets=None, regions=False):
        """For each port and input interface: who reaches it (``exposed``, ``filtered``,
        ``unknown`` as compact CIDR text, ``exposed_cidrs``, ``exposed_groups``)."""
        out = []
        for t, iface, dst in self.points(interfaces, targets):
            s = self.reach(t, iface, dst, regions=regions)
            entry = {"target": t, "interface": iface, "family": t["family"],
                     "destination": dst, "id": "%s on %s" % (describe_target(t), iface)}
            for key in ("exposed", "filtered", "unknown", "exposed_cidrs", "exposed_groups",
                        "regions"):
                if key in s:
                    entry[key] = s[key]
            out.append(entry)
        return out

    def reach(self, target, iface, dst, regions=False, sources=None):
        """The engine's reachability of one point, from ``sources`` (CIDRs; all if None)."""
        return self.engine.reachability(family=target["family"], in_interface=iface,
                                        protocol=target["protocol"], destination=dst,
                                        dport=target["host_port"], sources=sources,
                                        regions=regions)

    def probe(self, target, iface, dst, source, trace=True):
        """The engine's verdict for one source ``{name, address}`` at one point."""
        return self.engine.evaluate(family=target["family"], source=source["address"],
                                    in_interface=iface, protocol=target["protocol"],
                                    destination=dst, dport=target["host_port"],
                                    name=source["name"], trace=trace)
