# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one validator of allow-list input: ports, port specs, addresses and CIDRs,
interface names, entry names, chain names and choices.

Used by both policy modules (through ``_policy.validate``), the boot program (the same),
the fleet audit's expected exposure (``_exposure_audit.normalize_expected``) and the
host_network role (``_host_network.port_specs`` behind its filter). Each function takes
the value and ``where`` (the option's path, e.g. ``entries[2].ports``) and returns the
normalised value or raises ``PolicyError`` naming both.

Pure Python, no Ansible import (the boot program copies this file to the host).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

PROTOCOLS = ("tcp", "udp")

# Every pattern is matched whole (fullmatch): '$' would let a trailing newline through.
_CHAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,27}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:/,+=@-]{0,63}")
_PORT = re.compile(r"(\d{1,5})(?:[-:](\d{1,5}))?")
_SPEC = re.compile(r"(\d{1,5})(?:/([a-z]+))?")
_CONTAINER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# Interface names: what the kernel's dev_valid_name() takes, within the characters
# iptables-restore reads as one plain word (no quotes, no shell or comment characters).
_IFACE_CHARS = re.compile(r"[A-Za-z0-9_.@-]+")
IFNAMSIZ = 16


class PolicyError(ValueError):
    """Input that cannot become a policy; the message names the value."""


def as_list(value, where):
    """A scalar is a list of one."""
    if isinstance(value, (str, int)):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise PolicyError("%s: %r should be a list" % (where, value))
    return list(value)


def choice(value, choices, where):
    if value not in choices:
        raise PolicyError("%s: %r is not one of %s" % (where, value, ", ".join(choices)))
    return value


def port_range(value, where):
    """``80``, ``"80"``, ``"8000-8100"`` or ``"8000:8100"`` as ``(low, high)``."""
    if isinstance(value, bool):
        raise PolicyError("%s: %r is not a port" % (where, value))
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise PolicyError("%s: %r is not a port or range" % (where, value))
    m = _PORT.fullmatch(text)
    if not m:
        raise PolicyError("%s: %r is not a port (1-65535) or range like 8000-8100" % (where, value))
    low = int(m.group(1))
    high = int(m.group(2)) if m.group(2) else low
    for p in (low, high):
        if not 1 <= p <= 65535:
            raise PolicyError("%s: %r is outside 1-65535 (port %d is out of range)"
                              % (where, value, p))
    if low > high:
        raise PolicyError("%s: range %r runs backwards" % (where, value))
    return (low, high)


def port_ranges(value, where):
    """One port or range, or a list of them (at least one)."""
    ranges = [port_range(p, where) for p in as_list(value, where)]
    if not ranges:
        raise PolicyError("%s: at least one port is required" % where)
    return ranges


def port_spec(value, where):
    """``8080``, ``"8080"`` or ``"8080/udp"`` (one port, tcp by default) as
    ``"8080/tcp"``."""
    text = str(value).strip().lower() if isinstance(value, (int, str)) else None
    m = _SPEC.fullmatch(text) if text is not None and not isinstance(value, bool) else None
    if not m or (m.group(2) or "tcp") not in PROTOCOLS:
        raise PolicyError("%s: %r is not a port (want PORT or PORT/tcp, PORT/udp with PORT "
                          "1-65535)" % (where, value))
    port = port_range(int(m.group(1)), where)[0]
    return "%d/%s" % (port, m.group(2) or "tcp")


def network(value, where):
    """An address or CIDR (host bits clear) as an ``ipaddress`` network."""
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
        raise PolicyError("%s: %r is not an address or CIDR: %s%s" % (where, value, exc, hint))
    return net


def _interface_problem(value):
    """Why Linux (dev_valid_name) or iptables refuses ``value`` as an interface; None if
    they take it. iptables reads a trailing '+' as "any name starting with"."""
    if value == "+":
        return None
    base = value[:-1] if value.endswith("+") else value
    if not base:
        return "an empty name"
    if len(value.encode("utf-8")) >= IFNAMSIZ:
        return ("at most 15 bytes (IFNAMSIZ - 1), a trailing '+' wildcard included; "
                "this is %d" % len(value.encode("utf-8")))
    if base in (".", ".."):
        return "'.' and '..' are not interface names"
    if "\n" in value:
        return "a newline is not allowed"
    if any(c.isspace() for c in value):
        return "whitespace is not allowed"
    if "/" in value:
        return "'/' is not allowed"
    if ":" in value:
        return ("':' is not allowed (an alias label such as eth0:1 is an address label, "
                "not an interface: name the interface, eth0)")
    if "+" in base:
        return "'+' is only a trailing wildcard"
    if base.startswith("-"):
        return "a name that starts with '-' reads as an option to iptables"
    if not _IFACE_CHARS.fullmatch(base):
        return "only letters, digits and '_.@-' (and a trailing '+')"
    return None


def interface(value, where):
    """An interface name as Linux takes it (dev_valid_name: 1-15 bytes, not '.' or
    '..', no '/', ':' or whitespace) and iptables matches it (a trailing '+' wildcard;
    '+' alone is any interface)."""
    if not isinstance(value, str):
        raise PolicyError("%s: %r is not an interface name" % (where, value))
    problem = _interface_problem(value)
    if problem:
        raise PolicyError("%s: %r is not an interface name: %s" % (where, value, problem))
    return value


def name(value, where):
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise PolicyError("%s: %r is not a usable name (1-64 characters: letters, digits, "
                          "space and '_.:/,+=@-'; no quotes or shell characters)" % (where, value))
    return value


def container_name(value, where):
    if not isinstance(value, str) or not _CONTAINER.fullmatch(value):
        raise PolicyError("%s: %r is not a container name (1-63 characters: letters, digits, "
                          "'_.-', not starting with a symbol)" % (where, value))
    return value


def families(value, where="families"):
    """ipv4 and/or ipv6, at least one (an empty list would silently write nothing),
    each once, in the given order."""
    if not isinstance(value, (list, tuple)):
        raise PolicyError("%s: %r should be a list of ipv4, ipv6" % (where, value))
    if not value:
        raise PolicyError("%s: an empty list would write nothing; name ipv4, ipv6 or both"
                          % where)
    for family in value:
        if family not in ("ipv4", "ipv6"):
            raise PolicyError("%s: %r is not ipv4 or ipv6" % (where, family))
    return list(dict.fromkeys(value))


def chain(value, where="chain"):
    if not isinstance(value, str) or not _CHAIN.fullmatch(value):
        raise PolicyError("%s: %r is not a valid chain name (1-28 characters: letters, "
                          "digits, '_.-')" % (where, value))
    if value.upper().startswith("DOCKER") and not value.upper().startswith("DOCKERGUARD"):
        raise PolicyError("%s: %r looks like one of Docker's own chains; pick another name"
                          % (where, value))
    return value


def port_specs(values, where):
    """A list of port specs (``port_spec``), none repeated."""
    specs = [port_spec(v, where) for v in as_list(values, where)]
    repeated = sorted(set(s for s in specs if specs.count(s) > 1))
    if repeated:
        raise PolicyError("%s: a port is listed twice: %s" % (where, ", ".join(repeated)))
    return specs


def _iface_overlap(a, b):
    """Whether iptables' ``-i a`` and ``-i b`` can match one packet ('+' wildcards)."""
    def prefix(x):
        return (x[:-1], True) if x.endswith("+") else (x, False)
    (pa, wa), (pb, wb) = prefix(a), prefix(b)
    if wa and wb:
        return pa.startswith(pb) or pb.startswith(pa)
    if wa:
        return pb.startswith(pa)
    if wb:
        return pa.startswith(pb)
    return pa == pb


def _common(first, second):
    """A port/protocol (and interface) both entries match, as text; None if none."""
    protos = {"all": ("tcp", "udp")}
    common = [p for p in protos.get(first["protocol"], (first["protocol"],))
              if p in protos.get(second["protocol"], (second["protocol"],))]
    if not common:
        return None
    port = next((max(l1, l2) for l1, h1 in first["ports"] for l2, h2 in second["ports"]
                 if l1 <= h2 and l2 <= h1), None)
    if port is None:
        return None
    ifaces = first["interfaces"] or ["+"]
    others = second["interfaces"] or ["+"]
    pair = next(((a, b) for a in ifaces for b in others if _iface_overlap(a, b)), None)
    if pair is None:
        return None
    where = "any interface" if pair == ("+", "+") else "-i %s / -i %s" % pair
    return "%d/%s (%s)" % (port, common[0], where)


def distinct_ports(entries, where="entries"):
    """Refuse two entries that match the same packets (port, protocol, interface) with
    different allow-lists or actions: iptables stops at the first entry's deny, so the
    second entry's sources would be dropped without a word. Merging them instead would
    widen who reaches the first entry's ports behind the user's back; the user says
    which sources a port has, in one entry."""
    for i, first in enumerate(entries):
        for j in range(i + 1, len(entries)):
            second = entries[j]
            if (set(map(str, first["allow"])) == set(map(str, second["allow"]))
                    and first["action"] == second["action"]):
                continue
            port = _common(first, second)
            if port:
                raise PolicyError(
                    "%s[%d] (%r) and %s[%d] (%r) both cover %s with different allow-lists "
                    "or actions: iptables stops at the first entry's deny, so the second "
                    "entry's sources would be dropped. Give each port's sources in one entry"
                    % (where, i + 1, first["name"], where, j + 1, second["name"], port))
    return entries
