# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Normalise Docker API objects into the docker model (``ansible_facts.docker_network``).

Input is what the Engine API (or the ``docker`` CLI) returns: ``/info``, ``/version``,
``/networks`` (list or inspect), ``/containers/json`` (list summaries) or
``/containers/{id}/json`` (``docker inspect``), ``/services``; plus the host side parsed by
``_docker_host`` (interfaces, listeners). The output is plain JSON-able data::

    {"model_version": 1,
     "daemon": {"server_version", "version": [28, 5, 2], "api_version", "min_api_version",
                "name", "operating_system", "kernel_version", "os_type", "rootless",
                "iptables", "ip6tables", "userland_proxy", "default_bind_ip",
                "settings_source": {"iptables": "cmdline|config|default|assumed|observed", ...},
                "firewall_backend": "iptables|iptables+firewalld|nftables|nftables+firewalld|none",
                "firewall_backend_source": "reported|inferred",
                "ipv4_forwarding", "swarm": {"state", "node_id", "node_address", "manager",
                                             "cluster_id"}},
     "networks": [{"name", "id", "driver", "scope", "bridge", "parent", "default",
                   "internal", "attachable", "ingress", "enable_ipv4", "enable_ipv6",
                   "ipv4": [{"subnet", "gateway", "ip_range"}], "ipv6": [...],
                   "icc", "masquerade", "gateway_mode_ipv4", "gateway_mode_ipv6",
                   "host_binding_ipv4", "mtu", "options", "labels", "containers": [names]}],
     "containers": [{"name", "id", "image", "image_id", "state", "running", "pid",
                     "network_mode", "network_kind", "network_container",
                     "networks": [{"name", "id", "ipv4", "ipv4_prefixlen", "gateway",
                                   "ipv6", "ipv6_prefixlen", "ipv6_gateway", "mac",
                                   "aliases"}],
                     "ports": [{"protocol", "container_port", "host_ip", "host_port",
                                "family", "dnat"}],
                     "exposed_ports": [{"protocol", "container_port"}],
                     "port_bindings": None | [{"protocol", "container_port", "host_ip",
                                               "host_port", "host_port_end"}],
                     "publish_all": None | bool, "labels": {...}}],
     "interfaces": None | [{"name", "index", "state", "mtu", "mac", "link_type", "master",
                            "role", "network", "addresses": [...]}],
     "listeners": None | [{"protocol", "family", "address", "port", "interface",
                           "dual_stack", "processes", "owner", "container", "published"}],
     "services": None | [{"name", "id", "mode", "replicas", "image", "ports", "networks",
                          "virtual_ips"}],
     "ingress_network": None | "ingress",
     "default_routes": None | {"ipv4": {"interface", "gateway", "metric"} | None,
                               "ipv6": ...},
     "forwarding": None | {"ipv4": bool, "ipv6": bool},
     "warnings": [...]}

Interfaces also carry ``route_localnet`` (the kernel's effective value, None when not
read). ``_exposure_scan.exposure_host(model)`` turns the model into the host facts the
exposure engine takes (the scan side, not this normaliser).

``None`` for a section means "not gathered", ``[]`` means "gathered, nothing there".

Published ports are one entry per host port, as Docker itself reports them (a range
``-p 8000-8002:80-82`` is three entries), in both the list and the inspect shape.

Pure Python, no Ansible import, Python 2.7/3.8+ syntax (runs on managed hosts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

from ansible_collections.dockerguard.firewall.plugins.module_utils._docker_host import (
    HostParseError,
    _canonical_ip,
    classify_interfaces,
    container_id_from_cgroup,
    parse_ip_addr_json,
    parse_ip_route_json,
    parse_ss,
)

MODEL_VERSION = 1
DEFAULT_BRIDGE_INTERFACE = "docker0"
BRIDGE_OPT = "com.docker.network.bridge."
GATEWAY_MODES = ("nat", "nat-unprotected", "routed", "isolated")
_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_TRUE = ("1", "t", "true", "yes", "on")
_FALSE = ("0", "f", "false", "no", "off")


class DockerModelError(ValueError):
    """Input that is not Docker API / inspect JSON; says which object and why."""


# ---------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------

def loads(data, what):
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        try:
            return json.loads(data) if data.strip() else None
        except ValueError as exc:
            raise DockerModelError("%s: not JSON (%s)" % (what, exc))
    return data


def _as_list(data, what):
    data = loads(data, what)
    if data is None:
        return None
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, (list, tuple)):
        raise DockerModelError("%s: expected a list of objects, got %s"
                               % (what, type(data).__name__))
    for item in data:
        if not isinstance(item, dict):
            raise DockerModelError("%s: expected objects, got %r" % (what, item))
    return list(data)


def parse_bool(value, default=None):
    """Docker option / Go flag booleans ('true', 'false', '1', '0', ...)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return default


def parse_version(text):
    """``'28.5.2+dfsg4'`` -> ``[28, 5, 2]``; None when it has no leading number."""
    m = _VERSION.match(str(text or ""))
    if not m:
        return None
    return [int(g) if g is not None else 0 for g in m.groups()]


def _none_if_empty(value):
    return value if value not in ("", None, 0) else None


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _family(address):
    return "ipv6" if ":" in address else "ipv4"


def _split_port_key(key, what):
    """``'80/tcp'`` -> (80, 'tcp'); ``'8000-8002/udp'`` -> ((8000, 8002), 'udp')."""
    port, _sep, proto = str(key).partition("/")
    proto = (proto or "tcp").lower()
    try:
        if "-" in port:
            start, end = port.split("-", 1)
            return (int(start), int(end)), proto
        return int(port), proto
    except ValueError:
        raise DockerModelError("%s: bad port %r" % (what, key))


# ---------------------------------------------------------------------------------------
# daemon
# ---------------------------------------------------------------------------------------

_DOCKERD_BOOL_FLAGS = {"iptables": "iptables", "ip6tables": "ip6tables",
                       "userland-proxy": "userland_proxy", "experimental": "experimental",
                       "ipv6": "ipv6"}
_DOCKERD_VALUE_FLAGS = {"ip": "default_bind_ip", "config-file": "config_file",
                        "host": "host", "H": "host", "bridge": "bridge", "b": "bridge"}
_DAEMON_JSON_KEYS = {"iptables": "iptables", "ip6tables": "ip6tables",
                     "userland-proxy": "userland_proxy", "ip": "default_bind_ip",
                     "experimental": "experimental", "ipv6": "ipv6", "bridge": "bridge"}


def parse_dockerd_args(argv):
    """The settings that matter here from a dockerd command line (Go flag syntax).

    ``['dockerd', '--iptables=false', '--ip', '10.0.0.1']`` ->
    ``{'iptables': False, 'default_bind_ip': '10.0.0.1'}``. Unknown flags are ignored.
    """
    settings = {}
    args = list(argv or ())
    if args and not args[0].startswith("-"):
        args = args[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name in _DOCKERD_BOOL_FLAGS:
            parsed = parse_bool(value, None) if eq else True
            if parsed is not None:
                settings[_DOCKERD_BOOL_FLAGS[name]] = parsed
        elif name in _DOCKERD_VALUE_FLAGS:
            if not eq:
                if i >= len(args):
                    continue
                value = args[i]
                i += 1
            key = _DOCKERD_VALUE_FLAGS[name]
            if key == "host":
                settings.setdefault("hosts", []).append(value)
            else:
                settings[key] = value
    return settings


def dockerd_settings(server_version=None, args=None, config=None, firewalld=None):
    """Effective iptables / ip6tables / userland-proxy / default bind IP, with their source.

    ``args``: the dockerd command line (None: it could not be read); ``config``: the parsed
    daemon.json (``{}`` when there is none; None: it could not be read). A value neither
    sets is Docker's default for ``server_version`` (ip6tables defaults to on from 27.0):
    its source is ``default`` when both could be read, ``assumed`` otherwise.
    """
    version = parse_version(server_version) or [0, 0, 0]
    defaults = {"iptables": True, "ip6tables": version >= [27, 0, 0],
                "userland_proxy": True, "default_bind_ip": "0.0.0.0"}
    from_args = parse_dockerd_args(args) if args is not None else {}
    from_config = {}
    if isinstance(config, dict):
        for key, target in _DAEMON_JSON_KEYS.items():
            if key in config:
                value = config[key]
                from_config[target] = (parse_bool(value) if target != "default_bind_ip"
                                       and target != "bridge" else value)
    certain = args is not None and config is not None
    result = {"sources": {}}
    for key, default in defaults.items():
        if key in from_args:
            result[key], source = from_args[key], "cmdline"
        elif key in from_config and from_config[key] is not None:
            result[key], source = from_config[key], "config"
        else:
            result[key], source = default, ("default" if certain else "assumed")
        result["sources"][key] = source
    result["firewalld"] = firewalld
    return result


def normalize_daemon(info=None, version=None, settings=None):
    info = loads(info, "docker info") or {}
    version = loads(version, "docker version") or {}
    if not isinstance(info, dict) or not isinstance(version, dict):
        raise DockerModelError("docker info / version: expected JSON objects")
    if "Server" in version and isinstance(version["Server"], dict):
        version = version["Server"]  # `docker version --format json` wraps it
    server_version = info.get("ServerVersion") or version.get("Version")
    settings = settings or dockerd_settings(server_version)
    swarm = info.get("Swarm") or {}
    security = info.get("SecurityOptions") or []
    backend = info.get("FirewallBackend")
    if isinstance(backend, dict) and backend.get("Driver"):
        firewall_backend, backend_source = backend["Driver"], "reported"
    else:
        backend_source = "inferred"
        if settings.get("iptables") is False and settings.get("ip6tables") is False:
            firewall_backend = "none"
        elif settings.get("firewalld"):
            firewall_backend = "iptables+firewalld"
        else:
            firewall_backend = "iptables"
    return {
        "server_version": server_version,
        "version": parse_version(server_version),
        "api_version": version.get("ApiVersion"),
        "min_api_version": version.get("MinAPIVersion"),
        "name": info.get("Name"),
        "operating_system": info.get("OperatingSystem"),
        "os_type": info.get("OSType") or version.get("Os"),
        "kernel_version": info.get("KernelVersion") or version.get("KernelVersion"),
        "rootless": any("rootless" in str(opt) for opt in security),
        "iptables": settings.get("iptables"),
        "ip6tables": settings.get("ip6tables"),
        "userland_proxy": settings.get("userland_proxy"),
        "default_bind_ip": settings.get("default_bind_ip"),
        "settings_source": dict(settings.get("sources") or {}),
        "firewall_backend": firewall_backend,
        "firewall_backend_source": backend_source,
        "ipv4_forwarding": info.get("IPv4Forwarding"),
        "swarm": {
            "state": swarm.get("LocalNodeState") or None,
            "node_id": swarm.get("NodeID") or None,
            "node_address": swarm.get("NodeAddr") or None,
            "manager": bool(swarm.get("ControlAvailable")),
            "cluster_id": (swarm.get("Cluster") or {}).get("ID") or None,
        },
    }


# ---------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------

def bridge_interface(raw):
    """The Linux bridge a bridge network uses: option, ``docker0`` for the default, else
    ``br-<first 12 of id>``; None for other drivers."""
    if raw.get("Driver") != "bridge":
        return None
    options = raw.get("Options") or {}
    name = options.get(BRIDGE_OPT + "name")
    if name:
        return name
    if parse_bool(options.get(BRIDGE_OPT + "default_bridge"), False):
        return DEFAULT_BRIDGE_INTERFACE
    return "br-" + str(raw.get("Id", ""))[:12]


def normalize_network(raw):
    if not isinstance(raw, dict) or "Name" not in raw:
        raise DockerModelError("network: expected a `docker network inspect` object with "
                               "Name, got %r" % (raw,))
    options = raw.get("Options") or {}
    driver = raw.get("Driver")
    is_bridge = driver == "bridge"
    subnets = {"ipv4": [], "ipv6": []}
    for conf in ((raw.get("IPAM") or {}).get("Config") or ()):
        subnet = conf.get("Subnet")
        if not subnet:
            continue
        subnets[_family(subnet)].append({
            "subnet": subnet if ":" not in subnet else _canonical_cidr(subnet),
            "gateway": _canonical_ip(conf["Gateway"]) if conf.get("Gateway") else None,
            "ip_range": conf.get("IPRange") or None,
        })
    default = is_bridge and parse_bool(options.get(BRIDGE_OPT + "default_bridge"), False)

    def bridge_opt(name, default_value):
        if not is_bridge:
            return None
        return parse_bool(options.get(BRIDGE_OPT + name), default_value)

    def gateway_mode(family):
        if not is_bridge:
            return None
        return options.get(BRIDGE_OPT + "gateway_mode_" + family) or "nat"

    return {
        "name": raw["Name"],
        "id": raw.get("Id"),
        "driver": driver,
        "scope": raw.get("Scope"),
        "bridge": bridge_interface(raw),
        "parent": options.get("parent") if driver in ("macvlan", "ipvlan") else None,
        "default": bool(default),
        "internal": bool(raw.get("Internal")),
        "attachable": bool(raw.get("Attachable")),
        "ingress": bool(raw.get("Ingress")),
        "enable_ipv4": raw.get("EnableIPv4", True) is not False,
        "enable_ipv6": bool(raw.get("EnableIPv6")),
        "ipv4": subnets["ipv4"],
        "ipv6": subnets["ipv6"],
        "icc": bridge_opt("enable_icc", True),
        "masquerade": bridge_opt("enable_ip_masquerade", True),
        "gateway_mode_ipv4": gateway_mode("ipv4"),
        "gateway_mode_ipv6": gateway_mode("ipv6"),
        "host_binding_ipv4": (options.get(BRIDGE_OPT + "host_binding_ipv4") or None)
        if is_bridge else None,
        "mtu": _int_or_none(options.get("com.docker.network.driver.mtu")),
        "options": dict(options),
        "labels": dict(raw.get("Labels") or {}),
        "containers": [],
    }


def _canonical_cidr(cidr):
    address, _sep, plen = cidr.partition("/")
    return _canonical_ip(address) + ("/" + plen if plen else "")


# ---------------------------------------------------------------------------------------
# containers
# ---------------------------------------------------------------------------------------

def _container_name(raw):
    if "Name" in raw and isinstance(raw["Name"], str):
        return raw["Name"].lstrip("/")
    names = [n.lstrip("/") for n in raw.get("Names") or ()]
    for name in names:  # linked containers add 'other/alias' names
        if "/" not in name:
            return name
    return names[0] if names else None


def _port_entry(protocol, container_port, host_ip, host_port):
    host_ip = _canonical_ip(host_ip or "0.0.0.0")
    return {"protocol": protocol, "container_port": int(container_port),
            "host_ip": host_ip, "host_port": int(host_port), "family": _family(host_ip),
            "dnat": None}


def _port_sort_key(port):
    return (port["protocol"], port["container_port"], port.get("host_port") or 0,
            port.get("family") or "", port.get("host_ip") or "")


def _ports_from_inspect(ports_map, what):
    """``NetworkSettings.Ports`` -> (published, exposed)."""
    published, exposed = [], []
    for key, bindings in (ports_map or {}).items():
        cport, proto = _split_port_key(key, what)
        if isinstance(cport, tuple):
            raise DockerModelError("%s: a range %r in NetworkSettings.Ports" % (what, key))
        exposed.append({"protocol": proto, "container_port": cport})
        for binding in bindings or ():
            host_port = binding.get("HostPort")
            if host_port in (None, ""):
                continue
            published.append(_port_entry(proto, cport, binding.get("HostIp"), host_port))
    return published, exposed


def _ports_from_summary(ports_list):
    """``/containers/json`` ``Ports`` -> (published, exposed)."""
    published, exposed = [], []
    for item in ports_list or ():
        proto = (item.get("Type") or "tcp").lower()
        cport = item.get("PrivatePort")
        if cport is None:
            continue
        exposed.append({"protocol": proto, "container_port": int(cport)})
        if item.get("PublicPort"):
            published.append(_port_entry(proto, cport, item.get("IP"), item["PublicPort"]))
    return published, exposed


def _port_bindings(bindings_map, what):
    """``HostConfig.PortBindings`` (the configuration) -> bindings; host_port None means
    'Docker picks one', a host range keeps ``host_port``..``host_port_end``."""
    result = []
    for key, bindings in (bindings_map or {}).items():
        cport, proto = _split_port_key(key, what)
        if isinstance(cport, tuple):
            cport = cport[0]
        for binding in bindings or ():
            text = str(binding.get("HostPort") or "")
            start = end = None
            if text:
                try:
                    if "-" in text:
                        start, end = [int(x) for x in text.split("-", 1)]
                    else:
                        start = end = int(text)
                except ValueError:
                    raise DockerModelError("%s: bad HostPort %r" % (what, text))
            host_ip = binding.get("HostIp") or None
            result.append({"protocol": proto, "container_port": cport,
                           "host_ip": _canonical_ip(host_ip) if host_ip else None,
                           "host_port": start, "host_port_end": end})
    result.sort(key=lambda b: (b["protocol"], b["container_port"], b["host_port"] or 0,
                               b["host_ip"] or ""))
    return result


def _unique_sorted(items, key):
    seen = {}
    for item in items:
        seen.setdefault(tuple(sorted(item.items())), item)
    return sorted(seen.values(), key=key)


def normalize_container(raw):
    """A container from ``docker inspect`` or from the ``/containers/json`` list."""
    if not isinstance(raw, dict) or ("Id" not in raw and "ID" not in raw):
        raise DockerModelError("container: expected a `docker inspect` or /containers/json "
                               "object with Id, got %r" % (raw,))
    cid = raw.get("Id") or raw.get("ID")
    name = _container_name(raw)
    what = "container %s" % (name or cid)
    inspect = isinstance(raw.get("State"), dict)
    settings = raw.get("NetworkSettings") or {}
    host_config = raw.get("HostConfig") or {}
    config = raw.get("Config") or {}
    if inspect:
        state = raw["State"].get("Status") or (
            "running" if raw["State"].get("Running") else None)
        pid = _none_if_empty(raw["State"].get("Pid"))
        image = config.get("Image") or raw.get("Image")
        image_id = raw.get("Image")
        published, exposed = _ports_from_inspect(settings.get("Ports"), what)
        for key in config.get("ExposedPorts") or {}:
            cport, proto = _split_port_key(key, what)
            if not isinstance(cport, tuple):
                exposed.append({"protocol": proto, "container_port": cport})
        port_bindings = _port_bindings(host_config.get("PortBindings"), what)
        publish_all = bool(host_config.get("PublishAllPorts"))
        labels = config.get("Labels") or {}
    else:
        state = raw.get("State")
        pid = None
        image = raw.get("Image")
        image_id = raw.get("ImageID")
        published, exposed = _ports_from_summary(raw.get("Ports"))
        port_bindings = None
        publish_all = None
        labels = raw.get("Labels") or {}
    network_mode = host_config.get("NetworkMode") or None
    if network_mode == "default":
        network_mode = "bridge"
    networks = []
    # Only the per-network endpoints: API 1.52 (Docker 29) dropped the top-level
    # NetworkSettings.IPAddress / Gateway / MacAddress ..., and they only ever held the
    # default bridge's values.
    for net_name, ep in (settings.get("Networks") or {}).items():
        ep = ep or {}
        networks.append({
            "name": net_name,
            "id": ep.get("NetworkID") or None,
            "ipv4": ep.get("IPAddress") or None,
            "ipv4_prefixlen": _none_if_empty(ep.get("IPPrefixLen")),
            "gateway": ep.get("Gateway") or None,
            "ipv6": _canonical_ip(ep["GlobalIPv6Address"])
            if ep.get("GlobalIPv6Address") else None,
            "ipv6_prefixlen": _none_if_empty(ep.get("GlobalIPv6PrefixLen")),
            "ipv6_gateway": _canonical_ip(ep["IPv6Gateway"]) if ep.get("IPv6Gateway") else None,
            "mac": ep.get("MacAddress") or None,
            "aliases": list(ep.get("Aliases") or ()),
        })
    networks.sort(key=lambda n: n["name"])
    return {
        "name": name,
        "id": cid,
        "image": image,
        "image_id": image_id,
        "state": state,
        "running": state in ("running", "paused"),
        "pid": pid,
        "network_mode": network_mode,
        "network_kind": None,
        "network_container": None,
        "networks": networks,
        "ports": _unique_sorted(published, _port_sort_key),
        "exposed_ports": _unique_sorted(exposed, lambda p: (p["protocol"],
                                                            p["container_port"])),
        "port_bindings": port_bindings,
        "publish_all": publish_all,
        "labels": dict(labels),
    }


def _resolve_network_modes(containers, networks):
    by_name = dict((n["name"], n) for n in networks)
    by_id = dict((n["id"], n) for n in networks if n.get("id"))
    by_cid = dict((c["id"], c) for c in containers)
    by_cname = dict((c["name"], c) for c in containers)
    for cont in containers:
        mode = cont["network_mode"]
        if mode in ("host", "none"):
            cont["network_kind"] = mode
        elif mode and mode.startswith("container:"):
            cont["network_kind"] = "container"
            ref = mode.split(":", 1)[1]
            target = by_cid.get(ref) or by_cname.get(ref)
            if target is None:
                matches = [c for cid, c in by_cid.items() if cid.startswith(ref)]
                target = matches[0] if len(matches) == 1 else None
            cont["network_container"] = ({"id": target["id"], "name": target["name"]}
                                         if target else {"id": ref, "name": None})
        else:
            net = by_name.get(mode) or by_id.get(mode)
            if net is None and mode:
                matches = [n for nid, n in by_id.items() if nid.startswith(mode)]
                net = matches[0] if len(matches) == 1 else None
            if net is None and cont["networks"]:
                net = by_name.get(cont["networks"][0]["name"])
            cont["network_kind"] = net["driver"] if net else ("bridge" if mode else None)
        for ep in cont["networks"]:
            net = by_name.get(ep["name"])
            if net is not None and cont["name"] not in net["containers"]:
                net["containers"].append(cont["name"])
            if ep["id"] is None and net is not None:
                ep["id"] = net["id"]
    for net in networks:
        net["containers"].sort()


def _mark_dnat(containers, daemon):
    """Whether Docker installs a DNAT rule for each binding (see module docs)."""
    for cont in containers:
        has = {"ipv4": any(n["ipv4"] for n in cont["networks"]),
               "ipv6": any(n["ipv6"] for n in cont["networks"])}
        for port in cont["ports"]:
            managed = daemon.get("iptables" if port["family"] == "ipv4" else "ip6tables")
            if not has[port["family"]] or managed is False:
                port["dnat"] = False
            elif managed is None:
                port["dnat"] = None
            else:
                port["dnat"] = True


def _in_subnet(address, subnet):
    try:
        return ipaddress.ip_address(u"%s" % address) in ipaddress.ip_network(
            u"%s" % subnet, strict=False)
    except ValueError:
        return False


def _fill_gateways(networks, containers, interfaces):
    """Docker leaves ``IPAM.Config[].Gateway`` out when it chose the gateway itself (and
    20.10 even for the default bridge): take it from the containers' endpoints on that
    network, else from the bridge interface's address in the subnet."""
    for net in networks:
        for family in ("ipv4", "ipv6"):
            for entry in net[family]:
                if entry["gateway"]:
                    continue
                seen = []
                for cont in containers:
                    for ep in cont["networks"]:
                        if ep["name"] == net["name"]:
                            seen.append(ep["gateway" if family == "ipv4" else "ipv6_gateway"])
                for iface in interfaces or ():
                    if net["bridge"] and iface["name"] == net["bridge"]:
                        seen.extend(a["address"] for a in iface["addresses"]
                                    if a.get("scope") != "link")
                for address in seen:
                    if address and _in_subnet(address, entry["subnet"]):
                        entry["gateway"] = _canonical_ip(address)
                        break


# ---------------------------------------------------------------------------------------
# swarm services
# ---------------------------------------------------------------------------------------

def normalize_service(raw, networks_by_id=None):
    if not isinstance(raw, dict) or "Spec" not in raw:
        raise DockerModelError("service: expected a `docker service inspect` object with "
                               "Spec, got %r" % (raw,))
    spec = raw["Spec"] or {}
    endpoint = raw.get("Endpoint") or {}
    ports_raw = endpoint.get("Ports")
    if ports_raw is None:
        ports_raw = (spec.get("EndpointSpec") or {}).get("Ports") or []
    ports = []
    for item in ports_raw:
        ports.append({"protocol": (item.get("Protocol") or "tcp").lower(),
                      "target_port": _int_or_none(item.get("TargetPort")),
                      "published_port": _int_or_none(item.get("PublishedPort")),
                      "publish_mode": item.get("PublishMode") or "ingress"})
    ports.sort(key=lambda p: (p["protocol"], p["target_port"] or 0,
                              p["published_port"] or 0))
    names = networks_by_id or {}
    task = spec.get("TaskTemplate") or {}
    nets = [names.get(n.get("Target"), n.get("Target"))
            for n in (task.get("Networks") or spec.get("Networks") or ())]
    vips = [{"network": names.get(v.get("NetworkID"), v.get("NetworkID")),
             "address": v.get("Addr")} for v in endpoint.get("VirtualIPs") or ()]
    mode = spec.get("Mode") or {}
    mode_name = sorted(mode)[0].lower() if mode else None
    replicas = (mode.get("Replicated") or {}).get("Replicas")
    return {"name": spec.get("Name"), "id": raw.get("ID"), "mode": mode_name,
            "replicas": replicas,
            "image": ((task.get("ContainerSpec") or {}).get("Image") or "").split("@")[0]
            or None,
            "ports": ports, "networks": sorted(n for n in nets if n), "virtual_ips": vips}


# ---------------------------------------------------------------------------------------
# listeners
# ---------------------------------------------------------------------------------------

def _binding_matches(listener, port):
    if port["protocol"] != listener["protocol"] or port["host_port"] != listener["port"]:
        return False
    return port["host_ip"] == listener["address"]


def attribute_listeners(listeners, containers, processes=None):
    """Add ``owner`` / ``container`` / ``published`` to each listener, in place.

    owner: ``docker-proxy`` (Docker's userland proxy for a published port; ``published``
    names the binding it carries), ``container`` (a process of a container sharing the
    host's network namespace: host network mode; ``container`` names it), ``host`` (any
    other process), None (no process information: unknown, never guessed).
    ``processes``: ``{pid: {"name", "cgroup"}}`` from ``/proc/<pid>/cgroup``; without it
    only a container's main pid (inspect ``State.Pid``) identifies it.
    """
    processes = processes or {}
    ids = [c["id"] for c in containers]
    by_id = dict((c["id"], c) for c in containers)
    by_pid = dict((c["pid"], c) for c in containers if c.get("pid"))
    for item in listeners:
        item["owner"] = None
        item["container"] = None
        item["published"] = None
        procs = item.get("processes") or []
        if not procs:
            continue
        owner = "host"
        for proc in procs:
            if proc.get("name") == "docker-proxy":
                owner = "docker-proxy"
                matches = [(c, p) for c in containers for p in c["ports"]
                           if _binding_matches(item, p)]
                if not matches:  # e.g. a dual-stack socket for a 0.0.0.0 binding
                    matches = [(c, p) for c in containers for p in c["ports"]
                               if p["protocol"] == item["protocol"]
                               and p["host_port"] == item["port"]]
                if matches:
                    cont, port = matches[0]
                    item["container"] = {"id": cont["id"], "name": cont["name"]}
                    item["published"] = {"container_port": port["container_port"],
                                         "protocol": port["protocol"],
                                         "host_ip": port["host_ip"]}
                break
            cont = None
            info = processes.get(proc.get("pid")) or processes.get(str(proc.get("pid")))
            if info and info.get("cgroup"):
                cid = container_id_from_cgroup(info["cgroup"], ids)
                cont = by_id.get(cid)
            if cont is None:
                cont = by_pid.get(proc.get("pid"))
            if cont is not None:
                owner = "container"
                item["container"] = {"id": cont["id"], "name": cont["name"]}
                break
        item["owner"] = owner
    return listeners


# ---------------------------------------------------------------------------------------
# the whole model
# ---------------------------------------------------------------------------------------

def _default_routes(routes):
    """``{"ipv4": ip -j route show default, "ipv6": ip -6 -j route ...}`` (text, decoded
    JSON or already parsed entries) -> ``{"ipv4": {...}|None, "ipv6": {...}|None}``."""
    if routes is None:
        return None
    if isinstance(routes, (str, bytes, list)):  # one `ip -j route` output, both families
        routes = {"ipv4": routes, "ipv6": routes}
    result = {}
    for family in ("ipv4", "ipv6"):
        value = routes.get(family)
        if isinstance(value, dict) and "interface" in value:
            result[family] = dict(value)
            continue
        try:
            result[family] = parse_ip_route_json(value, family) if value is not None else None
        except HostParseError as exc:
            raise DockerModelError(str(exc))
    return result


def build_model(containers=None, networks=None, info=None, version=None, interfaces=None,
                listeners=None, services=None, settings=None, processes=None,
                warnings=None, routes=None, sysctls=None):
    """Assemble the docker model from API / CLI data (see the module docstring).

    ``interfaces``: parsed interfaces, or ``ip -j addr`` JSON (text or list of links);
    ``listeners``: parsed listeners, or ``ss -Hltnup`` text; ``routes``: see
    ``_default_routes``; ``sysctls``: ``read_sysctls()`` output.
    """
    raw_networks = _as_list(networks, "networks") or []
    raw_containers = _as_list(containers, "containers") or []
    nets = sorted((normalize_network(n) for n in raw_networks), key=lambda n: n["name"])
    conts = sorted((normalize_container(c) for c in raw_containers),
                   key=lambda c: (c["name"] or "", c["id"]))
    _resolve_network_modes(conts, nets)
    daemon = normalize_daemon(info, version, settings)
    _mark_dnat(conts, daemon)
    warnings = list(warnings or ())

    ifaces = None
    if interfaces is not None:
        if isinstance(interfaces, (str, bytes)) or (
                interfaces and isinstance(interfaces, list) and "ifname" in interfaces[0]):
            try:
                ifaces = parse_ip_addr_json(interfaces)
            except HostParseError as exc:
                raise DockerModelError(str(exc))
        else:
            ifaces = [dict(i) for i in interfaces]
        classify_interfaces(ifaces, nets)
        for iface in ifaces:
            iface.setdefault("route_localnet", None)
        ifaces.sort(key=lambda i: (i.get("index") or 0, i["name"]))
    _fill_gateways(nets, conts, ifaces)

    lsn = None
    if listeners is not None:
        if isinstance(listeners, (str, bytes)) or (
                listeners and isinstance(listeners, list) and isinstance(listeners[0], str)):
            try:
                lsn = parse_ss(listeners)
            except HostParseError as exc:
                raise DockerModelError(str(exc))
        else:
            lsn = [dict(item) for item in listeners]
        attribute_listeners(lsn, conts, processes)
        if daemon["settings_source"].get("userland_proxy") == "assumed" and any(
                item["owner"] == "docker-proxy" for item in lsn):
            daemon["userland_proxy"] = True
            daemon["settings_source"]["userland_proxy"] = "observed"

    svcs = None
    if services is not None:
        names = dict((n["id"], n["name"]) for n in nets if n.get("id"))
        svcs = sorted((normalize_service(s, names)
                       for s in _as_list(services, "services") or []),
                      key=lambda s: s["name"] or "")
    ingress = [n["name"] for n in nets if n["ingress"]]
    return {
        "model_version": MODEL_VERSION,
        "daemon": daemon,
        "networks": nets,
        "containers": conts,
        "interfaces": ifaces,
        "listeners": lsn,
        "services": svcs,
        "ingress_network": ingress[0] if ingress else None,
        "default_routes": _default_routes(routes),
        "forwarding": ({"ipv4": sysctls.get("ipv4_forwarding"),
                        "ipv6": sysctls.get("ipv6_forwarding")} if sysctls else None),
        "local_port_range": (sysctls or {}).get("local_port_range"),
        "warnings": warnings,
    }


def connection_error_message(base_url, error):
    """A message for a failed connection to ``base_url`` that says what to check."""
    text = str(error)
    lowered = text.lower()
    if "permission denied" in lowered or "errno 13" in lowered:
        return ("Permission denied on the Docker socket %s (%s): run the task as root "
                "(become: true) or as a user in the 'docker' group." % (base_url, text))
    hint = "Is dockerd running? Check with: docker -H %s info" % base_url
    if "no such file" in lowered or "errno 2" in lowered:
        return "Cannot connect to the Docker daemon at %s: the socket does not exist (%s). %s" % (
            base_url, text, hint)
    if "refused" in lowered:
        return "Cannot connect to the Docker daemon at %s: connection refused (%s). %s" % (
            base_url, text, hint)
    if "timed out" in lowered or "timeout" in lowered:
        return ("Timed out talking to the Docker daemon at %s (%s); raise 'timeout' or %s"
                % (base_url, text, hint[0].lower() + hint[1:]))
    return "Cannot talk to the Docker daemon at %s (%s). %s" % (base_url, text, hint)
