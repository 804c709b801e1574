# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the exposure engine's address arithmetic (_netfilter_addr.py)."""

from __future__ import absolute_import, division, print_function

import random

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as a


def ivs(*cidrs, **kw):
    fam = kw.get("family", "ipv4")
    return a.normalize(a.parse_cidr(c, fam) for c in cidrs)


@pytest.mark.parametrize("text,expected", [
    ("10.0.0.0/8", (0x0A000000, 0x0AFFFFFF)),
    ("10.1.2.3", (0x0A010203, 0x0A010203)),
    ("10.1.2.3/255.255.0.0", (0x0A010000, 0x0A01FFFF)),
    ("10.1.2.3/16", (0x0A010000, 0x0A01FFFF)),
])
def test_parse_cidr(text, expected):
    assert a.parse_cidr(text, "ipv4") == expected


def test_parse_errors_name_the_value():
    with pytest.raises(ValueError, match="not an IP network: '10.0.0.0/33'"):
        a.parse_cidr("10.0.0.0/33")
    with pytest.raises(ValueError, match="is not an ipv6 network"):
        a.parse_cidr("10.0.0.0/8", "ipv6")
    with pytest.raises(ValueError, match="empty address range"):
        a.parse_range("10.0.0.9-10.0.0.1")


def test_set_operations():
    x = ivs("10.0.0.0/8")
    y = ivs("10.1.0.0/16", "192.168.0.0/16")
    assert a.intersect(x, y) == ivs("10.1.0.0/16")
    assert a.union(x, y) == ivs("10.0.0.0/8", "192.168.0.0/16")
    assert a.subtract(x, y, "ipv4") == ((0x0A000000, 0x0A00FFFF), (0x0A020000, 0x0AFFFFFF))
    assert a.complement(a.universe("ipv4"), "ipv4") == ()
    assert a.intersect(None, x) == x
    assert a.subtract(x, None, "ipv4") == ()
    assert a.contains(y, 0xC0A80101)
    assert not a.contains(y, 0x0B000000)


@pytest.mark.parametrize("cidrs,family,expected", [
    ((), "ipv4", "nothing"),
    (("0.0.0.0/0",), "ipv4", "0.0.0.0/0"),
    (("0.0.0.0/1", "128.0.0.0/1"), "ipv4", "0.0.0.0/0"),
    (("10.99.0.0/16",), "ipv4", "10.99.0.0/16"),
    (("10.1.0.0/16", "192.168.0.0/24"), "ipv4", "10.1.0.0/16, 192.168.0.0/24"),
    (("::/0",), "ipv6", "::/0"),
    (("fd00::/8",), "ipv6", "fd00::/8"),
])
def test_compact_plain(cidrs, family, expected):
    assert a.compact(ivs(*cidrs, family=family), family) == expected


def test_compact_uses_except_when_shorter():
    everything_but = a.complement(ivs("10.0.0.0/8"), "ipv4")
    assert a.compact(everything_but, "ipv4") == "0.0.0.0/0 except 10.0.0.0/8"
    two_holes = a.complement(ivs("10.0.0.0/8", "192.168.0.0/16"), "ipv4")
    assert a.compact(two_holes, "ipv4") == "0.0.0.0/0 except (10.0.0.0/8, 192.168.0.0/16)"
    nested = a.subtract(ivs("10.0.0.0/8"), ivs("10.1.0.0/16"), "ipv4")
    assert a.compact(nested, "ipv4") == "10.0.0.0/8 except 10.1.0.0/16"
    v6 = a.complement(ivs("fd00::/8", family="ipv6"), "ipv6")
    assert a.compact(v6, "ipv6") == "::/0 except fd00::/8"
    assert a.compact_groups(nested, "ipv4") == [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]


def test_compact_and_to_cidrs_are_exact():
    """Random sets: the compact form and the CIDR list describe exactly the set."""
    rnd = random.Random(7)
    for _round in range(200):
        parts = []
        for _part in range(rnd.randint(1, 6)):
            lo = rnd.randrange(0, 1 << 32)
            parts.append((lo, min((1 << 32) - 1, lo + rnd.randrange(0, 1 << rnd.randint(0, 28)))))
        s = a.normalize(parts)
        if rnd.random() < 0.5:
            s = a.complement(s, "ipv4")
        back = a.normalize(a.parse_cidr(c) for c in a.to_cidrs(s, "ipv4"))
        assert back == s
        got = ()
        for g in a.compact_groups(s, "ipv4"):
            block = (a.parse_cidr(g["cidr"]),)
            holes = a.normalize(a.parse_cidr(c) for c in g["except"])
            got = a.union(got, a.subtract(block, holes, "ipv4"))
        assert got == s
        assert sum(1 + len(g["except"]) for g in a.compact_groups(s, "ipv4")) <= \
            len(a.to_cidrs(s, "ipv4"))


def test_count_blocks_matches_blocks():
    rnd = random.Random(3)
    for _round in range(2000):
        lo = rnd.randrange(0, 1 << 32)
        hi = min((1 << 32) - 1, lo + rnd.randrange(0, 1 << rnd.randint(0, 32)))
        assert a._count_blocks(lo, hi, 32) == len(a._blocks(lo, hi, 32))
    assert a._count_blocks(0, (1 << 32) - 1, 32) == 1
    assert a._count_blocks(5, 4, 32) == 0


def test_set_operations_agree_with_brute_force():
    rnd = random.Random(11)

    def rand_set():
        return a.normalize((lo, lo + rnd.randrange(0, 6)) for lo in
                           (rnd.randrange(0, 60) for _round in range(rnd.randint(0, 5))))

    def points(s):
        return set(x for lo, hi in s for x in range(lo, hi + 1))
    for _round in range(3000):
        x, y = rand_set(), rand_set()
        assert points(a.intersect(x, y)) == points(x) & points(y)
        assert points(a.subtract(x, y, "ipv4")) == points(x) - points(y)
        assert points(a.union(x, y)) == points(x) | points(y)
        for got in (a.intersect(x, y), a.subtract(x, y, "ipv4")):
            assert tuple(got) == a.normalize(got)
