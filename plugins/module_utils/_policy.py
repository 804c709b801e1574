# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An allow-list policy for published ports: validation and rendering to iptables rules.

Pure logic. ``validate(...)`` turns user input into a normalised policy or raises
``PolicyError`` naming the offending value; ``chain_rules(policy, family)`` gives the
rules of our chain exactly as ``iptables-save`` prints them (so comparing with the
kernel's state is a plain list comparison).

How a packet meets our chain (jumped to from the top of DOCKER-USER, which sees
packets after Docker's DNAT): replies and packets from container bridges return at
once; then, per entry and port, each allowed source returns and everyone else is
dropped or rejected. The port is matched on the ORIGINAL destination
(``-m conntrack --ctorigdstport``), because ``--dport`` in DOCKER-USER would see the
container's port, not the published one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import quote

FAMILIES = ("ipv4", "ipv6")
PROTOCOLS = ("tcp", "udp", "all")
ACTIONS = ("drop", "reject")
DEFAULTS = ("allow", "deny")
# Traffic from containers is not ingress: it leaves our chain at once.
DEFAULT_BRIDGES = ("docker0", "br-+", "docker_gwbridge")
COMMENT_PREFIX = "dockerguard"
HOOK_DOCKER_USER, HOOK_INPUT = "DOCKER-USER", "INPUT"
HOOKS = (HOOK_DOCKER_USER, HOOK_INPUT)

_CHAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,27}$")
# Linux: at most 15 bytes, no '/', no whitespace; iptables adds a trailing '+' wildcard,
# and refuses a name of 16 characters or more counting the '+' ("eth+" fits, a full
# 15-character name followed by '+' does not).
_IFACE = re.compile(r"^(?=.{1,15}$)[A-Za-z0-9_.:@-]+\+?$|^\+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/,+=@-]{0,63}$")
_PORT = re.compile(r"^(\d{1,5})(?:[-:](\d{1,5}))?$")


class PolicyError(ValueError):
    """Input that cannot become a policy; the message names the value."""


def _port(value, where):
    if isinstance(value, bool):
        raise PolicyError("%s: %r is not a port" % (where, value))
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise PolicyError("%s: %r is not a port or range" % (where, value))
    m = _PORT.match(text)
    if not m:
        raise PolicyError("%s: %r is not a port (1-65535) or range like 8000-8100" % (where, value))
    low = int(m.group(1))
    high = int(m.group(2)) if m.group(2) else low
    for p in (low, high):
        if not 1 <= p <= 65535:
            raise PolicyError("%s: port %d in %r is outside 1-65535" % (where, p, value))
    if low > high:
        raise PolicyError("%s: range %r runs backwards" % (where, value))
    return (low, high)


def _cidr(value, where):
    if not isinstance(value, str):
        raise PolicyError("%s: %r is not an address or CIDR" % (where, value))
    text = value.strip()
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        hint = ""
        try:
            loose = ipaddress.ip_network(text, strict=False)
            hint = " (host bits set: did you mean %s?)" % loose
        except ValueError:
            pass
        raise PolicyError("%s: %r is not a valid address or CIDR: %s%s" % (where, value, exc, hint))
    return net


def _iface(value, where):
    if not isinstance(value, str) or not _IFACE.match(value):
        raise PolicyError("%s: %r is not an interface name (at most 15 characters, a "
                          "trailing '+' wildcard included, of letters, digits, '_.:@-')"
                          % (where, value))
    return value


def _choice(value, choices, where):
    if value not in choices:
        raise PolicyError("%s: %r is not one of %s" % (where, value, ", ".join(choices)))
    return value


def _name(value, where):
    if not isinstance(value, str) or not _NAME.match(value):
        raise PolicyError("%s: %r is not a usable name (1-64 characters: letters, digits, "
                          "space and '_.:/,+=@-'; no quotes or shell characters)" % (where, value))
    return value


def _list(value, where):
    if isinstance(value, (str, int)):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise PolicyError("%s: %r should be a list" % (where, value))
    return list(value)


def validate_chain(chain):
    if not isinstance(chain, str) or not _CHAIN.match(chain):
        raise PolicyError("chain: %r is not a valid chain name (1-28 characters: letters, "
                          "digits, '_.-')" % (chain,))
    if chain.upper().startswith("DOCKER") and not chain.upper().startswith("DOCKERGUARD"):
        raise PolicyError("chain: %r looks like one of Docker's own chains; pick another name"
                          % (chain,))
    return chain


def validate(entries, default="allow", action="drop", chain="DOCKERGUARD",
             bridges=DEFAULT_BRIDGES, hook=HOOK_DOCKER_USER, ssh_port=22, ssh_sources=()):
    """Check and normalise a policy; raise PolicyError naming the first bad value.

    ``hook`` says where the chain is jumped from: DOCKER-USER (published ports, matched
    on the original destination) or INPUT (host-network services, where loopback and
    the controller's SSH from ``ssh_sources`` always stay allowed).
    """
    _choice(hook, HOOKS, "hook")
    policy = {
        "hook": hook,
        "chain": validate_chain(chain),
        "default": _choice(default, DEFAULTS, "default"),
        "bridges": [_iface(b, "bridges") for b in _list(bridges or [], "bridges")],
        "entries": [],
    }
    if hook == HOOK_INPUT:
        if policy["default"] != "allow":
            raise PolicyError("default: 'deny' is offered for DOCKER-USER only; in INPUT it "
                              "would cut every other service of the host")
        policy["ssh_port"] = _port(ssh_port, "ssh_port")[0]
        policy["ssh_sources"] = [_cidr(c, "ssh_sources")
                                 for c in _list(ssh_sources or [], "ssh_sources")]
    _choice(action, ACTIONS, "action")
    seen = set()
    for k, raw in enumerate(_list(entries or [], "entries"), 1):
        where = "entries[%d]" % k
        if not isinstance(raw, dict):
            raise PolicyError("%s: %r should be a mapping with ports and allow" % (where, raw))
        extra = set(raw) - {"name", "ports", "protocol", "allow", "interfaces", "action"}
        if extra:
            raise PolicyError("%s: unknown key(s) %s" % (where, ", ".join(sorted(extra))))
        name = _name(raw.get("name") or "entry%d" % k, where + ".name")
        if name in seen:
            raise PolicyError("%s.name: %r is used twice" % (where, name))
        seen.add(name)
        ports = [_port(p, where + ".ports") for p in _list(raw.get("ports"), where + ".ports")]
        if not ports:
            raise PolicyError("%s.ports: at least one port is required" % where)
        allow = [_cidr(c, where + ".allow") for c in _list(raw.get("allow") or [], where + ".allow")]
        if not allow:
            raise PolicyError("%s.allow: an empty allow list; name at least one address or "
                              "CIDR (use 0.0.0.0/0 and ::/0 to allow everyone)" % where)
        policy["entries"].append({
            "name": name,
            "ports": ports,
            "protocol": _choice(raw.get("protocol") or "tcp", PROTOCOLS, where + ".protocol"),
            "allow": allow,
            "interfaces": [_iface(i, where + ".interfaces")
                           for i in _list(raw.get("interfaces") or [], where + ".interfaces")],
            "action": _choice(raw.get("action") or action, ACTIONS, where + ".action"),
        })
    return policy


def _comment(text):
    return "-m comment --comment %s" % quote("%s: %s" % (COMMENT_PREFIX, text))


def _verdict(action, protocol, family):
    if action == "drop":
        return "-j DROP"
    if protocol == "tcp":
        return "-j REJECT --reject-with tcp-reset"
    return "-j REJECT --reject-with %s" % (
        "icmp-port-unreachable" if family == "ipv4" else "icmp6-port-unreachable")


def _ports(low, high):
    return str(low) if low == high else "%d:%d" % (low, high)


def chain_rules(policy, family):
    """Rule bodies (without ``-A CHAIN``) of our chain, in iptables-save's own form."""
    if family not in FAMILIES:
        raise PolicyError("family: %r is not one of ipv4, ipv6" % (family,))
    version = 4 if family == "ipv4" else 6
    forwarded = policy["hook"] == HOOK_DOCKER_USER
    rules = ["-m conntrack --ctstate RELATED,ESTABLISHED %s -j RETURN" % _comment("replies")]
    for bridge in policy["bridges"]:
        rules.append("-i %s %s -j RETURN" % (bridge, _comment("from containers")))
    if not forwarded:
        rules.append("-i lo %s -j RETURN" % _comment("loopback"))
        for net in policy["ssh_sources"]:
            if net.version == version:
                rules.append("-s %s -p tcp -m tcp --dport %d %s -j RETURN" % (
                    net, policy["ssh_port"], _comment("controller ssh")))
    for entry in policy["entries"]:
        allow = [n for n in entry["allow"] if n.version == version]
        protocols = ("tcp", "udp") if entry["protocol"] == "all" else (entry["protocol"],)
        for iface in entry["interfaces"] or [None]:
            i = "-i %s " % iface if iface else ""
            for proto in protocols:
                for low, high in entry["ports"]:
                    if forwarded:  # DOCKER-USER sees post-DNAT packets: ask conntrack
                        match = ("-p %s -m conntrack --ctorigdstport %s --ctdir ORIGINAL"
                                 % (proto, _ports(low, high)))
                    else:
                        match = "-p %s -m %s --dport %s" % (proto, proto, _ports(low, high))
                    for net in allow:
                        rules.append("-s %s %s%s %s -j RETURN" % (
                            net, i, match, _comment(entry["name"] + " allow")))
                    rules.append("%s%s %s %s" % (i, match, _comment(entry["name"] + " deny"),
                                                 _verdict(entry["action"], proto, family)))
    if policy["default"] == "deny":
        # Everything else Docker forwarded after a DNAT: published ports no entry names.
        rules.append("-m conntrack --ctstate DNAT --ctdir ORIGINAL %s -j DROP"
                     % _comment("default deny"))
    return rules


def restore_payload(chain, rules, parent="DOCKER-USER", jump_count=0, jump_first=False,
                    create_parent=False):
    """iptables-restore --noflush input that sets our chain and its jump in one commit.

    Declaring our chain flushes only it; the jump is moved to the top of ``parent`` when
    it is elsewhere (or there twice); nothing else in ``parent`` is touched.
    """
    lines = ["*filter"]
    if create_parent:
        # Boot path, only when DOCKER-USER does not exist yet (with --noflush, declaring
        # an existing chain would flush it): our chain and jump must be in place before
        # Docker starts containers; Docker keeps an existing DOCKER-USER.
        lines.append(":%s - [0:0]" % parent)
    lines.append(":%s - [0:0]" % chain)
    lines.extend("-A %s %s" % (chain, r) for r in rules)
    if not (jump_first and jump_count == 1):
        lines.extend(["-D %s -j %s" % (parent, chain)] * jump_count)
        lines.append("-I %s 1 -j %s" % (parent, chain))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def removal_payload(chain, parent="DOCKER-USER", jump_count=0):
    """Remove our jump(s) and our chain; nothing else."""
    lines = ["*filter"]
    lines.extend(["-D %s -j %s" % (parent, chain)] * jump_count)
    lines.extend(["-F %s" % chain, "-X %s" % chain, "COMMIT"])
    return "\n".join(lines) + "\n"
