# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address arithmetic for the exposure engine: addresses as integers, sets of addresses
as sorted lists of disjoint inclusive intervals ``[(lo, hi), ...]``.

Everything is per family: ``BITS[family]`` is 32 or 128, ``universe(family)`` the whole
address space. CIDR parsing is cached (rulesets repeat the same few networks).

``compact(intervals, family)`` prints a set the short way a person writes it, e.g.
``0.0.0.0/0 except 10.0.0.0/8``: the fewest CIDR blocks, allowing each block one list
of exceptions.

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
from bisect import bisect_right

BITS = {"ipv4": 32, "ipv6": 128}
EMPTY = ()

_CIDR_CACHE = {}


def family_of(address):
    """'ipv4' or 'ipv6' for an address or network text."""
    return "ipv6" if ":" in str(address) else "ipv4"


def universe(family):
    return ((0, (1 << BITS[family]) - 1),)


def parse_address(text, family=None):
    """An address (no prefix) as an int. Raises ValueError naming the text."""
    try:
        addr = ipaddress.ip_address(str(text).strip().strip("[]"))
    except ValueError:
        raise ValueError("not an IP address: %r" % (text,))
    fam = "ipv4" if addr.version == 4 else "ipv6"
    if family is not None and fam != family:
        raise ValueError("%s is not an %s address" % (text, family))
    return int(addr)


def parse_cidr(text, family=None):
    """``10.0.0.0/8``, ``10.1.2.3``, ``10.0.0.0/255.0.0.0``, ``fd00::/64`` -> (lo, hi).

    Host bits are ignored (iptables does the same). A non-contiguous mask, which no
    interval can express, raises ValueError.
    """
    key = (text, family)
    hit = _CIDR_CACHE.get(key)
    if hit is not None:
        return hit
    try:
        net = ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        raise ValueError("not an IP network: %r" % (text,))
    fam = "ipv4" if net.version == 4 else "ipv6"
    if family is not None and fam != family:
        raise ValueError("%s is not an %s network" % (text, family))
    value = (int(net.network_address), int(net.broadcast_address))
    if len(_CIDR_CACHE) < 100000:
        _CIDR_CACHE[key] = value
    return value


def parse_range(text, family=None):
    """``10.0.0.1-10.0.0.9`` (iprange) -> (lo, hi)."""
    lo, sep, hi = str(text).partition("-")
    lo = parse_address(lo, family)
    hi = parse_address(hi, family) if sep else lo
    if hi < lo:
        raise ValueError("empty address range %r" % (text,))
    return (lo, hi)


def to_text(value, family):
    if family == "ipv4":
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


# --- interval sets ----------------------------------------------------------------

def normalize(intervals):
    """Sort and merge (touching intervals join)."""
    out = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def contains(ivs, value):
    """Whether the address ``value`` is in the set."""
    if ivs is None:
        return True
    i = bisect_right(ivs, (value, 1 << 129)) - 1
    return i >= 0 and ivs[i][0] <= value <= ivs[i][1]


def intersect(a, b):
    """a ∩ b; ``None`` stands for everything."""
    if a is None:
        return b
    if b is None:
        return a
    if not a or not b:
        return EMPTY
    if len(a) == 1 and a[0][0] == a[0][1]:  # a single address: the common case
        return a if contains(b, a[0][0]) else EMPTY
    if len(b) == 1 and b[0][0] == b[0][1]:
        return b if contains(a, b[0][0]) else EMPTY
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def union(a, b):
    if a is None or b is None:
        return None
    if not a:
        return b
    if not b:
        return a
    return normalize(tuple(a) + tuple(b))


def complement(a, family):
    """The addresses of ``family`` not in ``a``."""
    top = (1 << BITS[family]) - 1
    if a is None:
        return EMPTY
    out = []
    nxt = 0
    for lo, hi in a:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= top:
        out.append((nxt, top))
    return tuple(out)


def subtract(a, b, family):
    """a \\ b."""
    if b is None:
        return EMPTY
    if not b or not a:
        return a
    if a is None:
        return complement(b, family)
    if len(a) == 1 and a[0][0] == a[0][1]:
        return EMPTY if contains(b, a[0][0]) else a
    return intersect(a, complement(b, family))


def size(ivs):
    return sum(hi - lo + 1 for lo, hi in ivs)


# --- CIDR decomposition and the compact form --------------------------------------

def _blocks(lo, hi, bits):
    """The CIDR blocks (start, prefixlen) that exactly cover [lo, hi]."""
    out = []
    while lo <= hi:
        # largest block aligned at lo that fits
        span = (lo & -lo) if lo else 1 << bits
        while span > hi - lo + 1:
            span >>= 1
        plen = bits - span.bit_length() + 1
        out.append((lo, plen))
        lo += span
    return out


def _cidr(start, plen, family):
    return "%s/%d" % (to_text(start, family), plen)


def to_cidrs(ivs, family):
    """The exact list of CIDR blocks covering the set, in address order."""
    bits = BITS[family]
    out = []
    for lo, hi in ivs:
        out.extend(_cidr(s, p, family) for s, p in _blocks(lo, hi, bits))
    return out


def _cover(ivs, start, plen, bits):
    """How the block [start, start + 2**(bits-plen)) meets the set: 'all', 'none', 'some'."""
    end = start + (1 << (bits - plen)) - 1
    i = bisect_right(ivs, (start, 1 << 129)) - 1
    if i >= 0 and ivs[i][0] <= start and ivs[i][1] >= end:
        return "all"
    # any interval overlapping [start, end]?
    k = max(i, 0)
    while k < len(ivs) and ivs[k][0] <= end:
        if ivs[k][1] >= start:
            return "some"
        k += 1
    return "none"


def _plan(ivs, start, plen, bits):
    """Cheapest description of (set ∩ block) as [(block, [exceptions])].

    Returns (cost, groups): cost counts the CIDRs written. A block either splits into
    its two halves or is written whole with the missing part listed as exceptions.
    """
    cover = _cover(ivs, start, plen, bits)
    if cover == "none":
        return 0, []
    if cover == "all":
        return 1, [((start, plen), [])]
    half = 1 << (bits - plen - 1)
    c1, g1 = _plan(ivs, start, plen + 1, bits)
    c2, g2 = _plan(ivs, start + half, plen + 1, bits)
    split = (c1 + c2, g1 + g2)
    # whole block minus the holes
    end = start + (1 << (bits - plen)) - 1
    inside = intersect(ivs, ((start, end),))
    holes = []
    nxt = start
    for lo, hi in inside:
        if lo > nxt:
            holes.extend(_blocks(nxt, lo - 1, bits))
        nxt = hi + 1
    if nxt <= end:
        holes.extend(_blocks(nxt, end, bits))
    whole = (1 + len(holes), [((start, plen), holes)])
    return whole if whole[0] < split[0] else split


def compact_groups(ivs, family):
    """The set as ``[{"cidr": ..., "except": [...]}]`` using the fewest CIDRs."""
    if not ivs:
        return []
    bits = BITS[family]
    _cost, groups = _plan(tuple(ivs), 0, 0, bits)
    return [{"cidr": _cidr(s, p, family), "except": [_cidr(hs, hp, family) for hs, hp in holes]}
            for (s, p), holes in groups]


def compact(ivs, family):
    """``0.0.0.0/0 except 10.0.0.0/8``; ``nothing`` for the empty set."""
    groups = compact_groups(ivs, family)
    if not groups:
        return "nothing"
    parts = []
    for g in groups:
        if not g["except"]:
            parts.append(g["cidr"])
        elif len(g["except"]) == 1:
            parts.append("%s except %s" % (g["cidr"], g["except"][0]))
        else:
            parts.append("%s except (%s)" % (g["cidr"], ", ".join(g["except"])))
    return ", ".join(parts)
