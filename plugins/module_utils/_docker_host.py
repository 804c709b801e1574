# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host side of the Docker facts: interfaces, listening sockets and their owners.

Pure parsing of what a host prints (``ip -j addr``, ``ip -o addr``/``ip -o link``,
``ss -Hltnup``, ``/proc/net/{tcp,tcp6,udp,udp6}``, ``/proc/<pid>/cgroup``), plus two small
readers of ``/proc`` that take the proc root as an argument (so tests can point them at a
fake tree). No Ansible import; Python 2.7/3.8+ syntax (it runs on managed hosts).

Interface::

    {"name": "docker0", "index": 3, "state": "UP", "mtu": 1500, "mac": "02:42:...",
     "link_type": "ether", "master": None,
     "addresses": [{"family": "ipv4", "address": "172.17.0.1", "prefixlen": 16,
                    "scope": "global"}]}

Listener::

    {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 8080,
     "interface": None, "dual_stack": False,
     "processes": [{"name": "docker-proxy", "pid": 1234}]}

``dual_stack`` is True for an IPv6 wildcard socket that also accepts IPv4 (``ss`` prints it
``*:PORT``), False for ``[::]:PORT`` (IPV6_V6ONLY) and for every specific address, None when
it cannot be known (``/proc/net`` does not show IPV6_V6ONLY).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import socket
import struct

FAMILIES = {"inet": "ipv4", "inet6": "ipv6"}
_SS_STATES = ("LISTEN", "UNCONN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1",
              "FIN-WAIT-2", "TIME-WAIT", "CLOSE-WAIT", "LAST-ACK", "CLOSING", "CLOSED")
_SS_USER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=(\d+)\)')
_HEX64 = re.compile(r"[0-9a-f]{64}")
# /proc/net/tcp* st column: 0A = TCP_LISTEN; udp sockets that are bound and not connected
# are in 07 (TCP_CLOSE), which is what ``ss -lu`` shows as UNCONN.
_PROC_LISTEN_STATE = {"tcp": "0A", "udp": "07"}


class HostParseError(ValueError):
    """Text that is not the expected command output; names the source and the line."""


def _canonical_ip(address):
    """Normalise an IPv6 address to its compressed form; leave anything else alone."""
    if ":" not in address:
        return address
    try:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, address))
    except (socket.error, ValueError, OSError):
        return address


def _family_of(address):
    return "ipv6" if ":" in address else "ipv4"


# ---------------------------------------------------------------------------------------
# Interfaces
# ---------------------------------------------------------------------------------------

def _address_entry(family, local, prefixlen, scope):
    return {"family": family, "address": _canonical_ip(local),
            "prefixlen": int(prefixlen) if prefixlen is not None else None,
            "scope": scope}


def parse_ip_addr_json(data):
    """Parse ``ip -j addr show`` (text or already-decoded list) into interfaces."""
    if isinstance(data, (str, bytes)):
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        try:
            data = json.loads(data) if data.strip() else []
        except ValueError as exc:
            raise HostParseError("ip -j addr: not JSON (%s)" % exc)
    if not isinstance(data, list):
        raise HostParseError("ip -j addr: expected a list of links, got %s"
                             % type(data).__name__)
    interfaces = []
    for link in data:
        if not isinstance(link, dict) or "ifname" not in link:
            raise HostParseError("ip -j addr: a link without 'ifname': %r" % (link,))
        addresses = []
        for info in link.get("addr_info") or ():
            family = FAMILIES.get(info.get("family"))
            if family is None or "local" not in info:
                continue
            addresses.append(_address_entry(family, info["local"], info.get("prefixlen"),
                                            info.get("scope")))
        interfaces.append({
            "name": link["ifname"],
            "index": link.get("ifindex"),
            "state": link.get("operstate"),
            "mtu": link.get("mtu"),
            "mac": link.get("address") if link.get("link_type") == "ether" else None,
            "link_type": link.get("link_type"),
            "master": link.get("master"),
            "addresses": addresses,
        })
    return interfaces


_ONELINE_ADDR = re.compile(
    r"^(\d+):\s+(\S+?)(?:@\S+)?\s+(inet6?)\s+([0-9a-fA-F.:]+)(?:/(\d+))?(.*)\Z")
_ONELINE_LINK = re.compile(r"^(\d+):\s+(\S+?)(?:@\S+)?:\s+<([^>]*)>(.*)\Z")


def parse_ip_oneline(addr_text, link_text=None):
    """Parse ``ip -o addr show`` (and optionally ``ip -o link show``) for iproute2 without -j."""
    by_name = {}
    order = []

    def get(index, name):
        if name not in by_name:
            by_name[name] = {"name": name, "index": int(index), "state": None, "mtu": None,
                             "mac": None, "link_type": None, "master": None,
                             "addresses": []}
            order.append(name)
        return by_name[name]

    for lineno, line in enumerate((link_text or "").splitlines(), 1):
        line = line.replace("\\", " ").strip()
        if not line:
            continue
        m = _ONELINE_LINK.match(line)
        if not m:
            raise HostParseError("ip -o link line %d: unexpected: %r" % (lineno, line))
        iface = get(m.group(1), m.group(2))
        words = m.group(4).split()
        flags = m.group(3).split(",")
        pairs = dict(zip(words[::2], words[1::2]))
        iface["mtu"] = int(pairs["mtu"]) if "mtu" in pairs else None
        iface["state"] = pairs.get("state")
        iface["master"] = pairs.get("master")
        for i, word in enumerate(words):
            if word.startswith("link/") and i + 1 < len(words):
                iface["link_type"] = word[5:]
                if word == "link/ether":
                    iface["mac"] = words[i + 1]
        if iface["link_type"] is None and "LOOPBACK" in flags:
            iface["link_type"] = "loopback"
    for lineno, line in enumerate((addr_text or "").splitlines(), 1):
        line = line.replace("\\", " ").strip()
        if not line:
            continue
        m = _ONELINE_ADDR.match(line)
        if not m:
            raise HostParseError("ip -o addr line %d: unexpected: %r" % (lineno, line))
        iface = get(m.group(1), m.group(2))
        rest = m.group(6).split()
        scope = rest[rest.index("scope") + 1] if "scope" in rest[:-1] else None
        iface["addresses"].append(_address_entry(FAMILIES[m.group(3)], m.group(4),
                                                 m.group(5), scope))
    return [by_name[name] for name in order]


def parse_ip_route_json(data, family=None):
    """The default route from ``ip -j route show default`` (or ``ip -6 -j ...``).

    ``{"interface": "eth0", "gateway": "10.250.0.1", "metric": 0}``, the lowest metric
    first; None when there is none. ``family`` picks routes whose gateway is of that family
    when the text mixes both.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        try:
            data = json.loads(data) if data.strip() else []
        except ValueError as exc:
            raise HostParseError("ip -j route: not JSON (%s)" % exc)
    if not isinstance(data, list):
        raise HostParseError("ip -j route: expected a list of routes, got %s"
                             % type(data).__name__)
    best = None
    for route in data:
        if not isinstance(route, dict):
            raise HostParseError("ip -j route: a route that is not an object: %r" % (route,))
        if route.get("dst", "default") != "default" or route.get("type", "unicast") not in (
                "unicast",):
            continue
        gateway = route.get("gateway")
        if family and gateway and _family_of(gateway) != family:
            continue
        entry = {"interface": route.get("dev"),
                 "gateway": _canonical_ip(gateway) if gateway else None,
                 "metric": int(route.get("metric") or 0)}
        if best is None or entry["metric"] < best["metric"]:
            best = entry
    return best


def read_sysctls(interfaces, proc_root="/proc"):
    """Forwarding and per-interface route_localnet, as the exposure engine needs them.

    Sets ``route_localnet`` on each interface, in place: the kernel's effective value
    (``conf/all`` or the interface's own), None when unreadable; returns
    ``{"ipv4_forwarding": bool|None, "ipv6_forwarding": bool|None,
    "local_port_range": [low, high]|None}``.
    """
    def flag(path):
        text = read_text(os.path.join(proc_root, "sys", "net", path), "").strip()
        return (text not in ("", "0")) if text else None
    every = flag("ipv4/conf/all/route_localnet")
    for iface in interfaces or ():
        own = flag("ipv4/conf/%s/route_localnet" % iface["name"])
        iface["route_localnet"] = None if own is None else bool(own or every)
    ports = read_text(os.path.join(proc_root, "sys", "net", "ipv4", "ip_local_port_range"),
                      "").split()
    return {"ipv4_forwarding": flag("ipv4/ip_forward"),
            "ipv6_forwarding": flag("ipv6/conf/all/forwarding"),
            "local_port_range": [int(p) for p in ports] if len(ports) == 2 and
            all(p.isdigit() for p in ports) else None}


def classify_interfaces(interfaces, networks):
    """Add ``role`` and ``network`` to each interface, in place; returns the list.

    role: ``loopback``; ``docker_bridge`` (the Linux bridge of a Docker network, ``network``
    names it); ``docker_port`` (enslaved to such a bridge: a container's veth);
    ``external`` (everything else: where traffic from outside can arrive).
    """
    bridges = {}
    for net in networks or ():
        if net.get("bridge"):
            bridges[net["bridge"]] = net["name"]
    for iface in interfaces:
        name = iface["name"]
        iface["network"] = None
        if iface.get("link_type") == "loopback" or name == "lo":
            iface["role"] = "loopback"
        elif name in bridges:
            iface["role"] = "docker_bridge"
            iface["network"] = bridges[name]
        elif iface.get("master") in bridges:
            iface["role"] = "docker_port"
            iface["network"] = bridges[iface["master"]]
        else:
            iface["role"] = "external"
    return interfaces


# ---------------------------------------------------------------------------------------
# Listeners
# ---------------------------------------------------------------------------------------

def _split_endpoint(text):
    """``0.0.0.0%lo:53`` / ``[::1]:80`` / ``*:80`` / ``:::80`` -> (address, iface, port, v6only)."""
    if ":" not in text:
        raise ValueError("no port in %r" % text)
    host, port = text.rsplit(":", 1)
    if port == "*":
        port = None
    else:
        port = int(port)
    if host == "*":
        # iproute2 >= 4.17 prints an IPv6 wildcard socket without IPV6_V6ONLY as '*'
        # (it takes IPv4 too) and prints the IPv4 wildcard as 0.0.0.0.
        return "::", None, port, False
    v6only = None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        v6only = True
    iface = None
    if "%" in host:
        host, iface = host.split("%", 1)
    if ":" in host and v6only is None:
        v6only = True  # old ss: ':::80'
    return _canonical_ip(host), iface, port, v6only


def _listener(protocol, address, iface, port, dual_stack, processes):
    family = _family_of(address)
    if family == "ipv4":
        dual_stack = False
    elif address != "::":
        dual_stack = False
    return {"protocol": protocol, "family": family, "address": address, "port": port,
            "interface": iface, "dual_stack": dual_stack, "processes": processes}


def _merge_listeners(listeners):
    """One entry per (protocol, address, port, interface); process lists merged, sorted."""
    merged = {}
    for item in listeners:
        key = (item["protocol"], item["family"], item["address"], item["port"],
               item["interface"], item["dual_stack"])
        if key in merged:
            known = set((p["pid"], p["name"]) for p in merged[key]["processes"])
            for proc in item["processes"]:
                if (proc["pid"], proc["name"]) not in known:
                    merged[key]["processes"].append(proc)
        else:
            merged[key] = dict(item, processes=list(item["processes"]))
    result = list(merged.values())
    for item in result:
        uniq = {}
        for proc in item["processes"]:
            uniq[(proc["pid"], proc["name"])] = proc
        item["processes"] = [uniq[k] for k in sorted(uniq, key=lambda k: (k[0] is None, k))]
    result.sort(key=listener_sort_key)
    return result


def listener_sort_key(item):
    return (item["protocol"], item["family"], item["port"] or 0, item["address"],
            item["interface"] or "")


def parse_ss(text):
    """Parse ``ss -Hltnup`` (also ``ss -ltnup`` with its header) into listeners.

    Keeps TCP sockets in LISTEN and UDP sockets in UNCONN (bound, not connected).
    Without ``-p`` or without the right to see other users' processes, ``processes`` is
    empty: the owner is then unknown, never guessed.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if isinstance(text, (list, tuple)):
        text = "\n".join(text)
    found = []
    for lineno, line in enumerate((text or "").splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        parts = stripped.split(None, 6)
        if parts[0] in ("Netid", "State"):  # header line when -H was not given
            continue
        if parts[0] in _SS_STATES:  # only one protocol asked: no Netid column
            netid = "tcp" if parts[0] == "LISTEN" else "udp"
            parts = [netid] + stripped.split(None, 5)
        if len(parts) < 6:
            raise HostParseError("ss line %d: expected 'Netid State Recv-Q Send-Q Local "
                                 "Peer [Process]': %r" % (lineno, line))
        netid, state, local = parts[0], parts[1], parts[4]
        if netid in ("tcp", "tcp6"):
            protocol = "tcp"
            if state != "LISTEN":
                continue
        elif netid in ("udp", "udp6"):
            protocol = "udp"
            if state != "UNCONN":
                continue
        else:
            continue  # raw, unix, sctp, ... : not what Docker publishes (sctp: TODO)
        try:
            address, iface, port, v6only = _split_endpoint(local)
        except ValueError as exc:
            raise HostParseError("ss line %d: bad local address (%s): %r"
                                 % (lineno, exc, line))
        if port is None:
            continue
        processes = []
        rest = parts[6] if len(parts) > 6 else ""
        for name, pid, _fd in _SS_USER.findall(rest):
            processes.append({"name": name.replace('\\"', '"'), "pid": int(pid)})
        dual_stack = None
        if _family_of(address) == "ipv6" and address == "::":
            dual_stack = not v6only
        found.append(_listener(protocol, address, iface, port, dual_stack, processes))
    return _merge_listeners(found)


def _decode_proc_address(hexaddr, family):
    raw = bytes(bytearray.fromhex(hexaddr))
    if family == "ipv4":
        return socket.inet_ntop(socket.AF_INET, struct.pack("<I", struct.unpack(">I", raw)[0]))
    # four 32-bit words, each in host (little-endian) order
    words = struct.unpack(">4I", raw)
    return socket.inet_ntop(socket.AF_INET6, struct.pack("<4I", *words))


def parse_proc_net(text, protocol, family):
    """Parse ``/proc/net/{tcp,tcp6,udp,udp6}``: listeners with their socket ``inode``.

    ``processes`` stays empty; fill it with :func:`socket_owners` (``/proc/*/fd``).
    """
    if protocol not in _PROC_LISTEN_STATE or family not in ("ipv4", "ipv6"):
        raise ValueError("protocol must be tcp or udp and family ipv4 or ipv6, got %r/%r"
                         % (protocol, family))
    want = _PROC_LISTEN_STATE[protocol]
    width = 8 if family == "ipv4" else 32
    found = []
    for lineno, line in enumerate((text or "").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] == "sl":
            continue
        if len(fields) < 10:
            raise HostParseError("/proc/net/%s%s line %d: too few fields: %r"
                                 % (protocol, "6" if family == "ipv6" else "", lineno, line))
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if state.upper() != want:
            continue
        if protocol == "udp" and not remote.endswith(":0000"):
            continue
        try:
            hexaddr, hexport = local.split(":")
            if len(hexaddr) != width:
                raise ValueError("address width %d" % len(hexaddr))
            address = _canonical_ip(_decode_proc_address(hexaddr, family))
            port = int(hexport, 16)
        except (ValueError, struct.error) as exc:
            raise HostParseError("/proc/net/%s line %d: bad local address %r (%s)"
                                 % (protocol, lineno, local, exc))
        item = _listener(protocol, address, None, port, None, [])
        item["inode"] = int(inode)
        found.append(item)
    return found


def socket_owners(inodes, proc_root="/proc"):
    """Map socket inodes to ``[{"name", "pid"}]`` by reading ``/proc/*/fd`` links."""
    wanted = set(int(i) for i in inodes)
    owners = {}
    if not wanted:
        return owners
    try:
        pids = [p for p in os.listdir(proc_root) if p.isdigit()]
    except OSError:
        return owners
    for pid in pids:
        fd_dir = os.path.join(proc_root, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        name = None
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if not target.startswith("socket:["):
                continue
            inode = int(target[8:-1])
            if inode not in wanted:
                continue
            if name is None:
                name = read_text(os.path.join(proc_root, pid, "comm")).strip() or None
            owners.setdefault(inode, []).append({"name": name, "pid": int(pid)})
    return owners


def listeners_from_proc(tables, owners=None, proc_root=None):
    """Listeners from ``{(protocol, family): text}`` of /proc/net files.

    Owners come from ``owners`` (``{inode: [{"name", "pid"}]}``) or, when ``proc_root`` is
    given, from :func:`socket_owners` reading ``proc_root/*/fd``.
    """
    found = []
    for (protocol, family), text in sorted(tables.items()):
        found.extend(parse_proc_net(text, protocol, family))
    if owners is None and proc_root is not None:
        owners = socket_owners([item["inode"] for item in found], proc_root)
    for item in found:
        inode = item.pop("inode")
        item["processes"] = list((owners or {}).get(inode, ()))
    return _merge_listeners(found)


def read_text(path, default=""):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return default


def container_id_from_cgroup(text, container_ids):
    """The id of the container whose cgroup ``/proc/<pid>/cgroup`` names, else None.

    Works for the cgroupfs (``/docker/<id>``) and systemd (``docker-<id>.scope``) drivers,
    v1 and v2, and for nested engines (the outer node's id is simply not a known id).
    """
    known = set(container_ids)
    for candidate in _HEX64.findall(text or ""):
        if candidate in known:
            return candidate
    return None


def process_info(pids, proc_root="/proc"):
    """``{pid: {"name", "cgroup"}}`` for the given pids (missing ones are left out)."""
    info = {}
    for pid in set(pids):
        base = os.path.join(proc_root, str(pid))
        cgroup = read_text(os.path.join(base, "cgroup"), None)
        if cgroup is None:
            continue
        info[int(pid)] = {"name": read_text(os.path.join(base, "comm")).strip() or None,
                          "cgroup": cgroup}
    return info


def _comm(proc_root, pid):
    return read_text(os.path.join(proc_root, str(pid), "comm")).strip()


def find_dockerd(proc_root="/proc", pidfile="/var/run/docker.pid"):
    """The pid of this host's dockerd: the pidfile, else a ``dockerd`` in our pid namespace."""
    pid = read_text(pidfile).strip()
    if pid.isdigit() and _comm(proc_root, pid) == "dockerd":
        return int(pid)
    try:
        names = sorted((p for p in os.listdir(proc_root) if p.isdigit()), key=int)
    except OSError:
        return None
    own_ns = _readlink(os.path.join(proc_root, "self", "ns", "pid"))
    for name in names:
        if _comm(proc_root, name) == "dockerd":
            # a dockerd of a nested engine (another pid namespace) is not ours
            ns = _readlink(os.path.join(proc_root, name, "ns", "pid"))
            if ns is None or ns == own_ns:
                return int(name)
    return None


def process_running(name, proc_root="/proc", pidfile=None):
    """Whether a process whose comm is ``name`` runs (e.g. ``firewalld``).

    With ``pidfile`` only that file's process is checked (no walk over /proc).
    """
    if pidfile is not None:
        pid = read_text(pidfile).strip()
        return bool(pid.isdigit() and _comm(proc_root, pid) == name)
    try:
        names = [p for p in os.listdir(proc_root) if p.isdigit()]
    except OSError:
        return None
    for pid in names:
        if _comm(proc_root, pid) == name:
            return True
    return False


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


def read_cmdline(pid, proc_root="/proc"):
    raw = read_text(os.path.join(proc_root, str(pid), "cmdline"))
    return [arg for arg in raw.split("\0") if arg]
