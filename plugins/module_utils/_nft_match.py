# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evaluate one nftables expression (``nft -j`` JSON, as ``_nftables`` keeps it) for a packet.

The packet is the engine's ``Packet``; its client address is a *set* (the walk covers
many sources at once), so an expression on the client's address answers with the
intervals of sources it takes. ``match(...)`` returns:

- ``True`` / ``False``: every source matches / none does;
- a tuple of intervals: the sources that match;
- a string: the expression cannot be evaluated here (the reason) - the walk tries it
  both ways.

``lookup(...)`` does the same for a map (vmap): ``[(sources or True, data)]`` and the
sources that find no element.

Which end is the client: on the connection's first packets the source (``ip saddr``,
``th sport``), on a reply the destination (``ip daddr``, ``th dport``). ``ct original
ip saddr`` is the client on both. The packet's ``dst``/``dport`` always name the server
end (after DNAT); ``orig_dst``/``orig_dport`` what the client asked for.

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as addr
from ansible_collections.dockerguard.firewall.plugins.module_utils._netfilter_match import (
    PROTOCOLS, PROTOCOL_NAMES, phase_of, sport_result)

CLIENT = object()        # the value is the client's address (a set of sources)
CLIENT_PORT = object()   # the value is the client's port (its own or an ephemeral one)
NFPROTO = {"ipv4": "ipv4", "ipv6": "ipv6"}
L3 = {"ip": "ipv4", "ip6": "ipv6"}
L4 = {"tcp": 6, "udp": 17, "sctp": 132, "dccp": 33, "udplite": 136}
SERVICES = {"ssh": 22, "http": 80, "https": 443, "domain": 53, "smtp": 25, "ntp": 123,
            "dhcpv6-client": 546, "dhcpv6-server": 547, "bootpc": 68, "bootps": 67,
            "mdns": 5353}
ADDR_TYPES = ("local", "unicast", "broadcast", "multicast")


class Unknown(Exception):
    """An expression the engine does not evaluate (message: why)."""


class NoValue(Exception):
    """The expression has no value for this packet: the match fails (nft's NFT_BREAK)."""


# --------------------------------------------------------------------------- values
def _client_side(pkt, field):
    """Is ``saddr``/``sport`` (or ``daddr``/``dport``) the client's end of ``pkt``?"""
    return (field in ("saddr", "sport")) != bool(pkt.reply)


def _state(pkt):
    if pkt.untracked:
        return frozenset(("untracked",))
    if not pkt.ct:
        return frozenset(("invalid",))
    return frozenset(("established" if phase_of(pkt)[1] else "new",))


def _status(pkt):
    if not pkt.ct or pkt.untracked:
        raise NoValue()
    out = set(s.lower().replace("_", "-") for s in phase_of(pkt)[2])
    if pkt.dnat:
        out.add("dnat")
    return frozenset(out)


def _mark(pair, what):
    known, value = pair
    if known != 0xFFFFFFFF:
        raise Unknown("%s not known here (set outside the walked rules)" % what)
    return value


def _meta(key, pkt):
    if key in ("iifname", "iif"):
        if pkt.in_iface is None:
            raise NoValue()
        return "str", pkt.in_iface
    if key in ("oifname", "oif"):
        if pkt.out_iface is None:
            raise NoValue()
        return "str", pkt.out_iface
    if key == "nfproto":
        return "str", pkt.family
    if key in ("l4proto", "protocol"):
        return "proto", pkt.proto
    if key == "mark":
        return "int", _mark(pkt.mark, "the packet mark")
    raise Unknown("meta %s is not modelled" % key)


def _ct(body, pkt):
    key = body.get("key")
    direction = body.get("dir")
    if key == "state":
        return "flags", _state(pkt)
    if not pkt.ct or pkt.untracked:
        raise NoValue()     # no connection: every other ct key breaks
    if key == "status":
        return "flags", _status(pkt)
    if key == "direction":
        return "str", "reply" if pkt.reply else "original"
    if key == "mark":
        return "int", _mark(pkt.ctmark, "the connection mark")
    if direction not in ("original", None):
        raise Unknown("ct %s %s is not modelled" % (direction, key))
    if key in ("saddr", "ip saddr", "ip6 saddr"):
        return "addr", CLIENT
    if key in ("daddr", "ip daddr", "ip6 daddr"):
        return "addr", pkt.orig_dst
    if key == "proto-dst":
        return "int", pkt.orig_dport
    if key == "proto-src":
        return "int", CLIENT_PORT
    if key in ("l3proto",):
        return "str", pkt.family
    if key == "protocol":
        return "proto", pkt.proto
    raise Unknown("ct %s is not modelled" % key)


def _payload(body, pkt):
    proto, field = body.get("protocol"), body.get("field")
    if proto in L3:
        if L3[proto] != pkt.family:
            raise NoValue()
        if field in ("saddr", "daddr"):
            if _client_side(pkt, field):
                return "addr", CLIENT
            return "addr", pkt.dst
        if field in ("protocol", "nexthdr"):
            return "proto", pkt.proto
        raise Unknown("%s %s is not modelled" % (proto, field))
    if proto == "th" or proto in L4:
        if proto != "th" and L4[proto] != pkt.proto:
            raise NoValue()
        if pkt.dport is None:
            raise NoValue()
        if field in ("sport", "dport"):
            if _client_side(pkt, field):
                return "int", CLIENT_PORT
            return "int", pkt.dport
        raise Unknown("%s %s is not modelled" % (proto, field))
    if proto in ("icmp", "icmpv6") and pkt.proto not in (1, 58):
        raise NoValue()
    raise Unknown("%s %s is not modelled" % (proto, field))


def _rpf(pkt, ctx):
    """``fib saddr . iif oif`` (reverse path filter, firewalld's IPv6 rpfilter): the
    client addresses whose route back leaves by the interface the packet came in on."""
    if pkt.reply:
        return "bool", True   # the server answers from the network of its own interface
    nets = [(lo, hi) for lo, hi, _plen in (ctx.iface_nets or {}).get(pkt.in_iface, ())]
    if ctx.default_interface == pkt.in_iface:
        return "bool", addr.universe(pkt.family)
    if ctx.default_interface is None:
        raise Unknown("fib saddr . iif oif: the default route is not known (give "
                      "default_interface)")
    return "rpf", addr.normalize(nets)


def _fib(body, pkt, ctx):
    flags = set(body.get("flags") or ())
    if body.get("result") == "oif" and "saddr" in flags and "iif" in flags and \
            not flags - {"saddr", "iif", "mark"}:
        if pkt.mark != (0xFFFFFFFF, 0) and "mark" in flags:
            raise Unknown("fib saddr . mark . iif oif with a packet mark set")
        return _rpf(pkt, ctx)
    if body.get("result") != "type" or not flags & {"daddr"} or flags - {"daddr", "iif"}:
        raise Unknown("fib %s %s is not modelled" % (" . ".join(body.get("flags") or ()),
                                                     body.get("result")))
    if pkt.reply:
        return "addrtype", CLIENT
    kind = ctx.addr_type(pkt.dst, pkt.in_iface if "iif" in flags else None)
    if kind is None:
        raise Unknown("the host's addresses are not known (fib daddr type)")
    return "str", kind.lower()


def value(expr, pkt, ctx):
    """``(kind, value)`` of a left-hand expression; raises Unknown / NoValue."""
    if isinstance(expr, dict) and len(expr) == 1:
        name, body = list(expr.items())[0]
        if name == "meta":
            return _meta(body.get("key"), pkt)
        if name == "ct":
            return _ct(body, pkt)
        if name == "payload":
            return _payload(body, pkt)
        if name == "fib":
            return _fib(body, pkt, ctx)
        if name == "&" and isinstance(body, list) and len(body) == 2:
            kind, left = value(body[0], pkt, ctx)
            if kind == "int" and isinstance(left, int) and isinstance(body[1], int):
                return "int", left & body[1]
            if kind == "flags":
                return kind, left
        raise Unknown("expression %s is not modelled" % name)
    raise Unknown("expression %r is not modelled" % (expr,))


# --------------------------------------------------------------------------- right side
def _int(v):
    if isinstance(v, bool):
        raise Unknown("value %r is not a number" % (v,))
    if isinstance(v, int):
        return v
    text = str(v)
    if text.isdigit():
        return int(text)
    if text.startswith("0x"):
        return int(text, 16)
    if text in SERVICES:
        return SERVICES[text]
    raise Unknown("value %r is not modelled" % (v,))


def _range(kind, elem, fam):
    """The ``(lo, hi)`` an element covers (address or number kinds)."""
    if isinstance(elem, dict):
        if "prefix" in elem:
            p = elem["prefix"]
            return addr.parse_cidr("%s/%s" % (p["addr"], p["len"]), fam)
        if "range" in elem:
            lo, hi = elem["range"]
            return _range(kind, lo, fam)[0], _range(kind, hi, fam)[1]
        raise Unknown("set element %r is not modelled" % (elem,))
    if kind in ("addr", "addrtype"):
        if kind == "addrtype":
            raise Unknown("fib type of the client")
        v = addr.parse_address(str(elem), fam)
        return v, v
    v = _int(elem)
    return v, v


def elements(right, table):
    """The elements a right-hand side names: ``[elem, ...]`` (a literal is one)."""
    if isinstance(right, str) and right.startswith("@"):
        found = (table.get("sets") or {}).get(right[1:])
        if found is None:
            raise Unknown("set %s is not in table %s %s" % (
                right, table.get("family"), table.get("name")))
        return found["elements"]
    if isinstance(right, dict) and "set" in right:
        items = right["set"]
        return items if isinstance(items, list) else [items]
    if isinstance(right, list):
        return right
    return [right]


def _one(kind, v, elem, fam):
    """Does the packet's concrete value ``v`` equal / fall in element ``elem``?"""
    if kind == "str":
        pattern = str(elem)
        if pattern.endswith("*") and not pattern.endswith("\\*"):
            return str(v).startswith(pattern[:-1])
        return str(v) == pattern.replace("\\*", "*")
    if kind == "flags":
        return str(elem) in v
    if kind == "proto":
        e = elem
        if not isinstance(e, int):
            e = PROTOCOLS.get(str(e).lower())
            if e is None:
                raise Unknown("protocol %r is not modelled" % (elem,))
        return v == e
    lo, hi = _range(kind, elem, fam)
    return lo <= v <= hi


def _client_ivs(kind, elems, fam, ctx):
    if kind == "addrtype":
        types = [str(e).upper() for e in elems]
        ivs = ctx.src_type_set(types)
        if ivs is None:
            raise Unknown("the host's addresses are not known (fib daddr type)")
        return ivs
    return addr.normalize(_range(kind, e, fam) for e in elems)


def _compare(op, kind, v, right, table, pkt, ctx, cache=None):
    """True / False / intervals of client addresses; raises Unknown. ``cache`` keeps the
    intervals of named sets (a blocklist of thousands of addresses is read once)."""
    fam = pkt.family
    negated = op == "!="
    if kind in ("rpf", "bool"):
        # ``oif missing`` (false) / present (true or an interface) of a route lookup
        if op not in ("==", "!="):
            raise Unknown("operator %s on fib oif is not modelled" % op)
        want = right is not False and right != "missing"
        if kind == "bool":
            return (bool(v) == want) != negated
        found = v if want != negated else addr.complement(v, fam)
        return found if found else False
    if op in ("<", ">", "<=", ">="):
        if v is CLIENT or v is CLIENT_PORT or kind != "int":
            raise Unknown("%s on the client's end is not modelled" % op)
        r = _int(right)
        return {"<": v < r, ">": v > r, "<=": v <= r, ">=": v >= r}[op]
    if op not in ("==", "!=", "in"):
        raise Unknown("operator %s is not modelled" % op)
    if v is CLIENT:
        key = (table.get("family"), table.get("name"), right, kind, fam) \
            if cache is not None and isinstance(right, str) else None
        ivs = cache.get(key) if key else None
        if ivs is None:
            ivs = _client_ivs(kind, elements(right, table), fam, ctx)
            if key:
                cache[key] = ivs
        return addr.complement(ivs, fam) if negated else ivs
    elems = elements(right, table)
    if v is CLIENT_PORT:
        ranges = [_range("int", e, fam) for e in elems]
        return sport_result(ranges, negated, pkt.sport, ctx.ephemeral)
    hit = any(_one(kind, v, e, fam) for e in elems)
    return hit != negated


def match(body, pkt, ctx, table, cache=None):
    """A ``match`` statement for ``pkt``: True, False, intervals, or a reason (str)."""
    left = body.get("left")
    try:
        if isinstance(left, dict) and "concat" in left:
            return _concat(left["concat"], body.get("op"), body.get("right"), pkt, ctx, table)
        kind, v = value(left, pkt, ctx)
        return _compare(body.get("op"), kind, v, body.get("right"), table, pkt, ctx, cache)
    except NoValue:
        return False
    except Unknown as exc:
        return str(exc)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return "not understood (%s)" % exc


def _concat_keys(parts, pkt, ctx):
    keys = []
    for part in parts:
        keys.append(value(part, pkt, ctx))
    if sum(1 for _k, v in keys if v is CLIENT or v is CLIENT_PORT) > 1:
        raise Unknown("a concatenation of two client values is not modelled")
    return keys


def _concat_elem(keys, elem, pkt, ctx):
    """True / False / intervals for one concatenated element."""
    if not (isinstance(elem, dict) and "concat" in elem) or len(elem["concat"]) != len(keys):
        raise Unknown("concatenation element %r not understood" % (elem,))
    client = True
    for (kind, v), e in zip(keys, elem["concat"]):
        if v is CLIENT:
            client = _client_ivs(kind, [e], pkt.family, ctx)
        elif v is CLIENT_PORT:
            r = sport_result([_range("int", e, pkt.family)], False, pkt.sport, ctx.ephemeral)
            if r is not True:
                return r if isinstance(r, str) else False
        elif not _one(kind, v, e, pkt.family):
            return False
    return client


def _concat(parts, op, right, pkt, ctx, table):
    keys = _concat_keys(parts, pkt, ctx)
    if op not in ("==", "!=", "in"):
        raise Unknown("operator %s on a concatenation is not modelled" % op)
    out = addr.EMPTY
    for elem in elements(right, table):
        r = _concat_elem(keys, elem, pkt, ctx)
        if isinstance(r, str):
            raise Unknown(r)
        if r is True:
            out = True
            break
        if r is not False:
            out = addr.union(out, r)
    if out is True:
        return op != "!="
    if op == "!=":
        return addr.complement(out, pkt.family)
    return out if out else False


def _map_index(kind, elems, fam):
    """A map's elements as ``(exact, rest)``: single keys in a dict (a map's keys do not
    overlap, so the one found is the one nft finds), wildcards and intervals in a list."""
    exact, rest = {}, []
    for e in elems:
        k = e[0]
        try:
            if kind == "str" and isinstance(k, str) and not k.endswith("*"):
                exact.setdefault(k, e[1])
                continue
            if kind in ("int", "addr") and not isinstance(k, dict):
                exact.setdefault(_range(kind, k, fam)[0], e[1])
                continue
        except (Unknown, ValueError):
            pass
        rest.append(e)
    return exact, rest


def lookup(key, right, pkt, ctx, table, cache=None):
    """A map lookup (vmap): ``([(None or intervals, data)], missed)``; ``None`` sources
    mean all of them, ``missed`` is True/False/intervals of those that find nothing. A
    reason (str) when it cannot be evaluated."""
    try:
        elems = elements(right, table)
        if isinstance(key, dict) and "concat" in key:
            keys = _concat_keys(key["concat"], pkt, ctx)
            picks = [(_concat_elem(keys, e[0], pkt, ctx), e[1]) for e in elems]
        else:
            kind, v = value(key, pkt, ctx)
            picks = []
            if cache is not None and isinstance(right, str) and v is not CLIENT and \
                    v is not CLIENT_PORT and kind in ("str", "int", "addr"):
                ikey = ("map", table.get("family"), table.get("name"), right, kind, pkt.family)
                index = cache.get(ikey)
                if index is None:
                    index = cache[ikey] = _map_index(kind, elems, pkt.family)
                if v in index[0]:
                    return [(None, index[0][v])], False
                elems = index[1]
            for e in elems:
                k, data = e[0], e[1]
                if v is CLIENT:
                    picks.append((_client_ivs(kind, [k], pkt.family, ctx), data))
                elif v is CLIENT_PORT:
                    r = sport_result([_range("int", k, pkt.family)], False, pkt.sport,
                                     ctx.ephemeral)
                    picks.append((r, data))
                else:
                    picks.append((_one(kind, v, k, pkt.family), data))
    except NoValue:
        return [], True
    except Unknown as exc:
        return str(exc)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        return "not understood (%s)" % exc
    out = []
    left = None   # None: every source still looking
    for r, data in picks:
        if isinstance(r, str):
            return r
        if r is False or not r:
            continue
        if r is True:
            out.append((left, data))
            return out, False
        took = r if left is None else addr.intersect(left, r)
        if took:
            out.append((took, data))
            left = addr.subtract(addr.universe(pkt.family) if left is None else left, r,
                                 pkt.family)
    return out, (True if left is None else left)


def proto_name(number):
    return PROTOCOL_NAMES.get(number, str(number))
