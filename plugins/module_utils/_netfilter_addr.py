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
    interval can express, raises ValueError (``parse_masked`` takes it).
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


MAX_MASK_PIECES = 1 << 16


def parse_masked(text, family=None):
    """``-s``/``-d`` as intervals: a CIDR (one interval), or an address with a
    non-contiguous mask such as ``10.0.0.1/255.255.0.255``, which the kernel matches as
    ``(address & mask) == (base & mask)``: one interval per value of the free bits
    above the mask's lowest set bit (ValueError past MAX_MASK_PIECES)."""
    text = str(text).strip()
    try:
        return (parse_cidr(text, family),)
    except ValueError:
        host, sep, mask = text.partition("/")
        if not sep or mask.isdigit():
            raise
    fam = family or family_of(host)
    m = parse_address(mask, fam)
    base = parse_address(host, fam) & m
    block = (m & -m) - 1  # the free bits below the lowest set bit: one interval
    free = [b for b in range(BITS[fam]) if (1 << b) > block and not m & (1 << b)]
    if (1 << len(free)) > MAX_MASK_PIECES:
        raise ValueError("mask of %s splits into more than %d pieces" % (text, MAX_MASK_PIECES))
    out = []
    for k in range(1 << len(free)):
        value = base
        for j, b in enumerate(free):
            if k >> j & 1:
                value |= 1 << b
        out.append((value, value | block))
    return tuple(sorted(out))


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
        return "%d.%d.%d.%d" % (value >> 24, (value >> 16) & 255, (value >> 8) & 255, value & 255)
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
    if len(b) == 1:
        return _clip(a, b[0][0], b[0][1])
    if len(a) == 1:
        return _clip(b, a[0][0], a[0][1])
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
    if len(b) == 1:
        return _cut(a, b[0][0], b[0][1])
    return intersect(a, complement(b, family))


def _span(ivs, lo, hi):
    """Indices [i, j) of the intervals of ``ivs`` that meet [lo, hi]."""
    i = bisect_right(ivs, (lo, 1 << 129)) - 1
    if i < 0 or ivs[i][1] < lo:
        i += 1
    j = bisect_right(ivs, (hi, 1 << 129))
    return i, j


def _clip(ivs, lo, hi):
    """ivs ∩ [lo, hi] (bisect and slice: the long sets of a summary stay cheap)."""
    i, j = _span(ivs, lo, hi)
    if i >= j:
        return EMPTY
    if i == 0 and j == len(ivs) and ivs[0][0] >= lo and ivs[-1][1] <= hi:
        return ivs
    mid = list(ivs[i:j])
    mid[0] = (max(mid[0][0], lo), mid[0][1])
    mid[-1] = (mid[-1][0], min(mid[-1][1], hi))
    return tuple(mid)


def _cut(ivs, lo, hi):
    """ivs \\ [lo, hi]."""
    i, j = _span(ivs, lo, hi)
    if i >= j:
        return ivs
    keep = []
    if ivs[i][0] < lo:
        keep.append((ivs[i][0], lo - 1))
    if ivs[j - 1][1] > hi:
        keep.append((hi + 1, ivs[j - 1][1]))
    return ivs[:i] + tuple(keep) + ivs[j:]


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


def _count_blocks(lo, hi, bits):
    """len(_blocks(lo, hi, bits)) without building the list: the blocks below and above
    the highest bit where lo and hi + 1 differ are the set bits of the two distances."""
    y = hi + 1
    if y <= lo:
        return 0
    m = (y >> ((lo ^ y).bit_length() - 1)) << ((lo ^ y).bit_length() - 1)
    return bin(m - lo).count("1") + bin(y - m).count("1")


def _plan(ivs, i0, i1, start, plen, bits):
    """Cheapest description of (set ∩ block) as blocks, each with a list of exceptions.

    ``ivs[i0:i1]`` are the intervals meeting the block [start, end] (maybe sticking out).
    Returns (two, neg, choice): ``two`` the fewest CIDRs (blocks + exceptions) for the
    part of the set in the block, ``neg`` the number of exact CIDRs of the block minus
    the set, ``choice`` how to print it: ``None`` (nothing), ``"all"``, ``"whole"`` (the
    block except its holes) or ``(left, right)`` plans.
    """
    end = start + (1 << (bits - plen)) - 1
    if i0 >= i1:
        return 0, 1, None
    if ivs[i0][0] <= start and ivs[i0][1] >= end:
        return 1, 0, "all"
    if i1 - i0 <= 2:
        # shortcuts (the common leaves): the part in the block, or the hole, is one CIDR
        lo, hi = max(ivs[i0][0], start), min(ivs[i1 - 1][1], end)
        if i1 - i0 == 1 and _count_blocks(lo, hi, bits) == 1:
            neg = _count_blocks(start, lo - 1, bits) + _count_blocks(hi + 1, end, bits)
            return 1, neg, ("block", lo, bits - (hi - lo + 1).bit_length() + 1)
        if lo == start and hi == end:
            hole_lo = ivs[i0][1] + 1 if i1 - i0 == 2 else None
            hole_hi = ivs[i0 + 1][0] - 1 if i1 - i0 == 2 else None
            if hole_lo is not None and _count_blocks(hole_lo, hole_hi, bits) == 1:
                size_ = hole_hi - hole_lo + 1
                if size_ * 2 == end - start + 1:  # the hole is a half: the other half
                    return 1, 1, ("block", start if hole_lo != start else hole_hi + 1,
                                  plen + 1)
                return 2, 1, "whole"
    half = start + (1 << (bits - plen - 1))
    # intervals of the left half: those starting before ``half``
    k = i0
    while k < i1 and ivs[k][0] < half:
        k += 1
    left_end = k
    right_start = k - 1 if k > i0 and ivs[k - 1][1] >= half else k
    t1, n1, c1 = _plan(ivs, i0, left_end, start, plen + 1, bits)
    t2, n2, c2 = _plan(ivs, right_start, i1, half, plen + 1, bits)
    neg = n1 + n2
    if 1 + neg < t1 + t2:
        return 1 + neg, neg, "whole"
    return t1 + t2, neg, (c1, c2)


def _emit(ivs, choice, start, plen, bits, out):
    if choice is None:
        return
    if choice == "all":
        out.append(((start, plen), []))
        return
    if choice[0] == "block":
        out.append(((choice[1], choice[2]), []))
        return
    if choice == "whole":
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
        out.append(((start, plen), holes))
        return
    half = start + (1 << (bits - plen - 1))
    _emit(ivs, choice[0], start, plen + 1, bits, out)
    _emit(ivs, choice[1], half, plen + 1, bits, out)


_COMPACT_CACHE = {}


def compact_groups(ivs, family):
    """The set as ``[{"cidr": ..., "except": [...]}]`` using the fewest CIDRs."""
    if not ivs:
        return []
    ivs = tuple(ivs)
    if len(ivs) == 1 and _count_blocks(ivs[0][0], ivs[0][1], BITS[family]) == 1:
        lo, hi = ivs[0]
        return [{"cidr": _cidr(lo, BITS[family] - (hi - lo + 1).bit_length() + 1, family),
                 "except": []}]
    key = (ivs, family)
    hit = _COMPACT_CACHE.get(key)
    if hit is None:
        bits = BITS[family]
        _two, _neg, choice = _plan(ivs, 0, len(ivs), 0, 0, bits)
        groups = []
        _emit(ivs, choice, 0, 0, bits, groups)
        hit = [(_cidr(s, p, family), [_cidr(hs, hp, family) for hs, hp in holes])
               for (s, p), holes in groups]
        if len(_COMPACT_CACHE) > 4096:
            _COMPACT_CACHE.clear()
        _COMPACT_CACHE[key] = hit
    return [{"cidr": c, "except": list(e)} for c, e in hit]


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
