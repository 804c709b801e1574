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

_CHAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,27}$")
# Linux: at most 15 bytes, no '/', no whitespace; iptables adds a trailing '+' wildcard,
# and refuses a name of 16 characters or more counting the '+' ("eth+" fits, a full
# 15-character name followed by '+' does not).
_IFACE = re.compile(r"^(?=.{1,15}$)[A-Za-z0-9_.:@-]+\+?$|^\+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/,+=@-]{0,63}$")
_PORT = re.compile(r"^(\d{1,5})(?:[-:](\d{1,5}))?$")
_SPEC = re.compile(r"^(\d{1,5})(?:/([a-z]+))?$")


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
    m = _PORT.match(text)
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
    m = _SPEC.match(text) if text is not None and not isinstance(value, bool) else None
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


def interface(value, where):
    if not isinstance(value, str) or not _IFACE.match(value):
        raise PolicyError("%s: %r is not an interface name (at most 15 characters, a "
                          "trailing '+' wildcard included, of letters, digits, '_.:@-')"
                          % (where, value))
    return value


def name(value, where):
    if not isinstance(value, str) or not _NAME.match(value):
        raise PolicyError("%s: %r is not a usable name (1-64 characters: letters, digits, "
                          "space and '_.:/,+=@-'; no quotes or shell characters)" % (where, value))
    return value


def chain(value, where="chain"):
    if not isinstance(value, str) or not _CHAIN.match(value):
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
