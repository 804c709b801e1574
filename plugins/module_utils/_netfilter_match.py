# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compile the rules of an ``_iptables`` model into fast predicates over a packet.

A compiled rule (``CRule``) answers, for a ``Packet`` (everything about the probe but its
source address), ``True`` / ``False`` / a string (why it cannot be decided: an unknown
match, an ipset whose members are not known, a mark nobody set...), plus the set of
source addresses the rule accepts (``src``: intervals, ``None`` = any). Keeping the
source apart lets one walk decide for a whole range of sources at once.

What a match sees is what the kernel shows it at that hook: ``--dport`` and ``-d`` the
current (post-DNAT in FORWARD/INPUT) values, ``--ctorigdst``/``--ctorigdstport`` the
original ones; conntrack state, status, direction and TCP flags are those of the
packet of the exchange being walked (``PHASES``: the SYN is NEW, ``DNAT`` once it was
DNATed; the SYN-ACK ESTABLISHED and SEEN_REPLY; the client's ACK and request and the
server's answer ESTABLISHED and ASSURED). In ``raw`` no packet has a connection yet:
``-m conntrack`` then decides on ``--ctstate`` alone (xt_conntrack).

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as addr

PROTOCOLS = {
    "all": 0, "0": 0, "tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58,
    "icmp6": 58, "sctp": 132, "udplite": 136, "dccp": 33, "esp": 50, "ah": 51, "gre": 47,
}
PROTOCOL_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp", 136: "udplite",
                  33: "dccp", 50: "esp", 51: "ah", 47: "gre"}
PORT_PROTOCOLS = (6, 17, 132, 136, 33)
EPHEMERAL = (32768, 60999)  # Linux's net.ipv4.ip_local_port_range unless the facts say

TCP_FLAGS = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ECE": 64,
             "CWR": 128, "ALL": 255, "NONE": 0}
ICMP_TYPES = {"echo-request": 8, "echo-reply": 0, "destination-unreachable": 3,
              "time-exceeded": 11, "echo-request/0": 8}
ICMP6_TYPES = {"echo-request": 128, "echo-reply": 129, "destination-unreachable": 1,
               "neighbour-solicitation": 135, "neighbor-solicitation": 135,
               "neighbour-advertisement": 136, "neighbor-advertisement": 136,
               "router-solicitation": 133, "router-advertisement": 134}

# Targets that neither decide nor change what later rules or the kernel's path see
# (checked against the kernel: they log, count, set QoS fields (TOS, DSCP, CLASSIFY,
# TCPMSS, ECN), clone (TEE: the original goes on), or set a connection's helper/events).
# TTL/HL, HMARK, CT --zone, SECMARK and SET do change what happens next: see
# ``_compile_target``.
NOOP_TARGETS = frozenset((
    "LOG", "NFLOG", "ULOG", "TRACE", "AUDIT", "TCPMSS", "TOS", "DSCP",
    "CLASSIFY", "CHECKSUM", "CONNSECMARK", "IDLETIMER", "LED", "TEE",
    "ECN", "RATEEST",
))
# Targets whose outcome depends on something outside the ruleset (a queue's program,
# a socket, the SELinux policy that reads SECMARK labels, the cluster's hash).
OPAQUE_TARGETS = frozenset(("QUEUE", "NFQUEUE", "TPROXY", "SYNPROXY", "MIRROR", "SECMARK",
                            "CLUSTERIP"))

PACKET_FIELDS = ("family", "in_iface", "out_iface", "proto", "dst", "dport", "sport",
                 "orig_dst", "orig_dport", "dnat", "mark", "ctmark", "ct", "untracked",
                 "icmp_type", "local", "reply", "phase", "zone", "czone", "ttl", "xlat",
                 "cnotrack")

# The packets of one TCP exchange: (TCP flags, ESTABLISHED, conntrack status) each has
# when the rules see it. The SYN's connection is not yet confirmed; conntrack marks
# SEEN_REPLY when the SYN-ACK arrives and ASSURED when the client's ACK completes the
# handshake (nf_conntrack_proto_tcp), all before mangle PREROUTING.
PHASES = {
    "syn": (TCP_FLAGS["SYN"], False, frozenset()),
    "syn-ack": (TCP_FLAGS["SYN"] | TCP_FLAGS["ACK"], True,
                frozenset(("CONFIRMED", "SEEN_REPLY"))),
    "ack": (TCP_FLAGS["ACK"], True, frozenset(("CONFIRMED", "SEEN_REPLY", "ASSURED"))),
    "data": (TCP_FLAGS["ACK"] | TCP_FLAGS["PSH"], True,
             frozenset(("CONFIRMED", "SEEN_REPLY", "ASSURED"))),
    "server-data": (TCP_FLAGS["ACK"] | TCP_FLAGS["PSH"], True,
                    frozenset(("CONFIRMED", "SEEN_REPLY", "ASSURED"))),
}


def phase_of(pkt):
    """The packet's place in its exchange (a request and its first answer by default)."""
    return PHASES[pkt.phase or ("syn-ack" if pkt.reply else "syn")]


class Packet(object):
    """What the rules can see of the probe, minus its source address (immutable).

    ``reply``: the packet is the connection's first answer (SYN-ACK). Its rules are
    compiled with source and destination swapped (see ``compile_rule``), so ``dst`` and
    ``dport`` still name the server end (the container or host address and port, after
    DNAT) and the client stays the set-valued end; ``in_iface``/``out_iface`` are the
    reply's own.

    ``mark``/``ctmark`` are ``(known_bits, value)``: a packet from the wire carries mark
    0; ``MARK``/``CONNMARK`` targets change bits, ``HMARK`` makes them unknown. ``ct`` is
    False until conntrack has seen the packet (in ``raw``); ``orig_*`` keep the pre-DNAT
    destination, ``xlat`` the translated one (a later packet of a DNATed connection is
    translated by conntrack after mangle PREROUTING). ``phase`` names the packet of the
    exchange (``PHASES``); ``untracked`` is the ref of the NOTRACK rule; ``zone`` is the
    packet's conntrack zone ``(number, ref of the CT rule)``, ``czone`` its connection's;
    ``cnotrack`` the NOTRACK rule that kept the SYN out of conntrack (no connection);
    ``ttl`` is None (as the client sent it) or ``(lowest, highest, ref)`` after TTL/HL.
    """

    __slots__ = PACKET_FIELDS

    def __init__(self, **kw):
        for name in PACKET_FIELDS:
            setattr(self, name, kw.get(name))

    def replace(self, **kw):
        new = Packet.__new__(Packet)
        for name in PACKET_FIELDS:
            setattr(new, name, kw[name] if name in kw else getattr(self, name))
        return new

    def key(self):
        return tuple(getattr(self, name) for name in PACKET_FIELDS)


class MatchContext(object):
    """The host facts the matches need, per family, pre-computed once."""

    def __init__(self, family, local, iface_addrs=None, iface_nets=None, bridges=(),
                 ipsets=None, ephemeral=EPHEMERAL, default_interface=None):
        self.family = family
        self.ephemeral = tuple(ephemeral)       # the client's source port range
        self.local = local                      # intervals or None (not known)
        self.iface_addrs = iface_addrs          # {iface: intervals of its addresses} or None
        self.iface_nets = iface_nets or {}      # {iface: [(lo, hi, prefixlen)]}
        self.bridges = frozenset(bridges)       # interfaces that are Linux bridges
        self.ipsets = ipsets                    # {name: intervals} or None
        self.default_interface = default_interface  # where the default route leaves
        self._types = {}
        if family == "ipv4":
            self.multicast = (addr.parse_cidr("224.0.0.0/4"),)
            bcast = [addr.parse_cidr("0.0.0.0/8"), addr.parse_cidr("255.255.255.255/32")]
            for nets in self.iface_nets.values():
                for lo, hi, plen in nets:
                    if plen < 31:
                        bcast.extend([(lo, lo), (hi, hi)])
            bcast.extend([(0x7F000000, 0x7F000000), (0x7FFFFFFF, 0x7FFFFFFF)])
            self.broadcast = addr.normalize(bcast)
        else:
            self.multicast = (addr.parse_cidr("ff00::/8"),)
            self.broadcast = addr.EMPTY

    def addr_type(self, value, iface=None):
        """'LOCAL', 'BROADCAST', 'MULTICAST', 'UNICAST'; None if not known."""
        key = (value, iface)
        hit = self._types.get(key)
        if hit is not None:
            return hit
        if addr.contains(self.multicast, value):
            kind = "MULTICAST"
        elif self.broadcast and addr.contains(self.broadcast, value):
            kind = "BROADCAST"
        else:
            if iface is not None:
                if self.iface_addrs is None or iface not in self.iface_addrs:
                    return None
                local = self.iface_addrs[iface]
            else:
                local = self.local
            if local is None:
                return None
            kind = "LOCAL" if addr.contains(local, value) else "UNICAST"
        self._types[key] = kind
        return kind

    def src_type_set(self, types):
        """Intervals of source addresses whose type is in ``types``; None if unknowable."""
        fam = self.family
        if self.local is None:
            return None
        known = {"LOCAL", "BROADCAST", "MULTICAST", "UNICAST"}
        local = addr.subtract(self.local, addr.union(self.multicast, self.broadcast), fam)
        parts = {"LOCAL": local, "MULTICAST": self.multicast, "BROADCAST": self.broadcast}
        parts["UNICAST"] = addr.complement(addr.union(addr.union(local, self.multicast),
                                                      self.broadcast), fam)
        out = addr.EMPTY
        for t in types:
            if t in known:
                out = addr.union(out, parts[t])
        # Other types (BLACKHOLE, UNREACHABLE, ...) never describe an IPv4 address
        # (the kernel looks in the local table only); for IPv6 they might.
        if fam == "ipv6" and any(t not in known for t in types):
            return None
        return out


class CRule(object):
    """A compiled rule. ``number`` is 1-based, as ``iptables -L --line-numbers``."""

    __slots__ = ("table", "chain", "number", "text", "proto", "proto_neg", "iin", "iout",
                 "dst", "checks", "src", "srcfns", "unknown", "target", "kind", "goto",
                 "topts", "keys", "near", "reply", "flagmask", "status")

    def ref(self):
        ref = "%s/%s#%d" % (self.table, self.chain, self.number)
        return ref + " (reply)" if self.reply else ref


def _iface(value, negated):
    if value.endswith("+"):
        return (value[:-1], True, negated)
    return (value, False, negated)


def iface_matches(spec, name):
    base, prefix, negated = spec
    name = name or ""
    hit = name.startswith(base) if prefix else name == base
    return hit != negated


def parse_ports(text):
    """``80``, ``80:90``, ``:90``, ``80:``, ``80,443,8000:8080`` -> ((lo, hi), ...)."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if ":" in part:
            lo, hi = part.split(":", 1)
            lo = int(lo) if lo else 0
            hi = int(hi) if hi else 65535
        else:
            lo = hi = int(part)
        if not (0 <= lo <= hi <= 65535):
            raise ValueError("bad port range %r" % part)
        out.append((lo, hi))
    return tuple(out)


def _port_check(ranges, negated, field):
    """A check on pkt.<field> (dport, orig_dport) in ranges."""
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        one = ranges[0][0]

        def check(pkt):
            v = getattr(pkt, field)
            if v is None:
                return "no %s in this packet" % field
            return (v == one) != negated
        return check

    def check(pkt):
        v = getattr(pkt, field)
        if v is None:
            return "no %s in this packet" % field
        hit = False
        for lo, hi in ranges:
            if lo <= v <= hi:
                hit = True
                break
        return hit != negated
    return check


def sport_result(ranges, negated, sport, ephemeral=EPHEMERAL):
    """The client's port: the probe's own, or else one the client picks at random in
    ``ephemeral`` (the host's ip_local_port_range). A rule covering all of them matches;
    one naming single ports (a service port, a list of them) is taken as not matching - a
    client does not pick those on purpose; a range covering part of them cannot be
    decided."""
    lo_s, hi_s = (sport, sport) if sport is not None else ephemeral
    covered = 0
    overlap = False
    singles = True
    for lo, hi in ranges:
        a, b = max(lo, lo_s), min(hi, hi_s)
        if a <= b:
            overlap = True
            covered += b - a + 1
            singles = singles and lo == hi
    if covered >= hi_s - lo_s + 1:
        hit = True
    elif not overlap or (sport is None and singles):
        hit = False
    else:
        return "the client's source port is not known (it picks one in %d-%d)" % ephemeral
    return hit != negated


def _sport_check(ranges, negated, ephemeral=EPHEMERAL):
    def check(pkt):
        return sport_result(ranges, negated, pkt.sport, ephemeral)
    return check


def _mark_value(text):
    v, _sep, m = str(text).partition("/")
    return int(v, 0), (int(m, 0) if m else 0xFFFFFFFF)


def _mark_check(text, negated, field):
    value, mask = _mark_value(text)

    def check(pkt):
        if field == "ctmark" and not pkt.ct:
            return False
        known, cur = getattr(pkt, field)
        if mask & ~known:
            return "%s not known here (set outside the walked rules)" % (
                "packet mark" if field == "mark" else "connection mark")
        return ((cur & mask) == value) != negated
    return check


def _states(pkt, conntrack):
    if pkt.untracked:
        return ("UNTRACKED",)
    if not pkt.ct:
        return ("INVALID",)
    first = "ESTABLISHED" if phase_of(pkt)[1] else "NEW"
    if conntrack and pkt.dnat:
        return (first, "DNAT")
    return (first,)


def _split_list(value):
    if isinstance(value, list):
        value = ",".join(value)
    return [v.strip().upper() for v in str(value).split(",") if v.strip()]


class _Builder(object):
    """Collects one rule's checks and source constraints."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.checks = []
        self.src = None
        self.srcfns = []
        self.unknown = []
        self.keys = {}
        self.flagmask = 0           # TCP flags any check looks at
        self.status = frozenset()   # conntrack status bits any check looks at

    def add_src(self, ivs, negated=False):
        if negated:
            ivs = addr.complement(ivs, self.ctx.family)
        self.src = addr.intersect(self.src, ivs)

    def cidr(self, value):
        return addr.parse_masked(value, self.ctx.family)


def _dst_check(ivs, negated, field="dst"):
    if len(ivs) == 1 and ivs[0][0] == ivs[0][1]:
        one = ivs[0][0]

        def check(pkt):
            return (getattr(pkt, field) == one) != negated
        return check

    def check(pkt):
        return addr.contains(ivs, getattr(pkt, field)) != negated
    return check


def _match_ports(b, name, opts, neg, proto):
    """tcp/udp/sctp/udplite/dccp."""
    pnum = PROTOCOLS.get(name)

    def is_proto(pkt):
        return pkt.proto == pnum
    b.checks.append(is_proto)
    for key, value in opts.items():
        base = key.split("#", 1)[0]
        negated = key in neg
        if base in ("dport", "destination-port"):
            ranges = parse_ports(value)
            b.checks.append(_port_check(ranges, negated, "dport"))
            if not negated and len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
                b.keys["p"] = ranges[0][0]
        elif base in ("sport", "source-port"):
            b.checks.append(_sport_check(parse_ports(value), negated, b.ctx.ephemeral))
        elif base == "syn" or base == "tcp-flags":
            if base == "syn":
                mask, comp = TCP_FLAGS["SYN"] | TCP_FLAGS["RST"] | TCP_FLAGS["ACK"] | TCP_FLAGS["FIN"], TCP_FLAGS["SYN"]
            else:
                if not isinstance(value, list) or len(value) != 2:
                    raise ValueError("--tcp-flags needs MASK COMP")
                mask = sum(TCP_FLAGS[f] for f in value[0].upper().split(",") if f)
                comp = sum(TCP_FLAGS[f] for f in value[1].upper().split(",") if f)

            def flags(pkt, mask=mask, comp=comp, negated=negated):
                return ((phase_of(pkt)[0] & mask) == comp) != negated
            b.checks.append(flags)
            b.flagmask |= mask
        else:
            b.unknown.append("%s --%s" % (name, base))


def _match_multiport(b, opts, neg):
    def is_port_proto(pkt):
        return pkt.proto in PORT_PROTOCOLS
    b.checks.append(is_port_proto)
    for key, value in opts.items():
        base = key.split("#", 1)[0]
        negated = key in neg
        ranges = parse_ports(value)
        if base in ("dports", "destination-ports"):
            b.checks.append(_port_check(ranges, negated, "dport"))
            singles = [lo for lo, hi in ranges if lo == hi]
            if not negated and len(singles) == len(ranges):
                b.keys["mp"] = tuple(singles)
        elif base in ("sports", "source-ports"):
            b.checks.append(_sport_check(ranges, negated, b.ctx.ephemeral))
        elif base == "ports":
            def either(pkt, ranges=ranges, negated=negated):
                d = any(lo <= pkt.dport <= hi for lo, hi in ranges) if pkt.dport is not None else False
                if d:
                    return not negated
                s = sport_result(ranges, False, pkt.sport, b.ctx.ephemeral)
                if isinstance(s, str):
                    return s
                return s != negated
            b.checks.append(either)
        else:
            b.unknown.append("multiport --%s" % base)


def _match_conntrack(b, opts, neg, fam):
    """-m conntrack as xt_conntrack evaluates it: ``--ctstate`` first; a packet without
    a connection (raw table, NOTRACK) then matches if a ``--ctstate`` was given and
    passed, whatever the other options say; only with a connection are they tested."""
    state_checks = []
    sub = _Builder(b.ctx)  # the options that need a connection
    for key, value in opts.items():
        base = key.split("#", 1)[0]
        negated = key in neg
        if base == "ctstate":
            wanted = frozenset(_split_list(value))

            def state(pkt, wanted=wanted, negated=negated):
                return bool(wanted.intersection(_states(pkt, True))) != negated
            state_checks.append(state)
        else:
            _conntrack_option(sub, base, value, negated)
    has_state = bool(state_checks)
    checks = tuple(state_checks)
    rest = tuple(sub.checks) + tuple(
        (lambda pkt, u=u: "match conntrack --%s cannot be evaluated" % u) for u in sub.unknown)

    def conntrack(pkt):
        for check in checks:
            if check(pkt) is False:
                return False
        if not pkt.ct or pkt.untracked:
            return has_state
        reason = None
        for check in rest:
            res = check(pkt)
            if res is False:
                return False
            if res is not True and reason is None:
                reason = res
        return True if reason is None else reason
    b.checks.append(conntrack)
    b.status = b.status | sub.status
    if sub.src is not None:
        if has_state:
            def tuple_src(pkt, ivs=sub.src):
                return ivs if pkt.ct and not pkt.untracked else None
            b.srcfns.append(tuple_src)
        else:
            b.add_src(sub.src)
    if not has_state:  # without a connection such a rule matches nothing: index it
        b.keys.update(sub.keys)


def _conntrack_option(b, base, value, negated):
    """One conntrack option other than --ctstate, into builder ``b``."""
    if base == "ctproto":
        pnum = PROTOCOLS.get(str(value).lower())
        if pnum is None:
            pnum = int(value)
        b.checks.append(lambda pkt, p=pnum, n=negated: (pkt.proto == p) != n)
    elif base in ("ctorigsrc", "ctrepldst"):
        b.add_src(b.cidr(value), negated)
    elif base == "ctorigdst":
        ivs = b.cidr(value)
        b.checks.append(_dst_check(ivs, negated, "orig_dst"))
        if not negated and len(ivs) == 1 and ivs[0][0] == ivs[0][1]:
            b.keys["od"] = ivs[0][0]
    elif base == "ctreplsrc":
        b.checks.append(_dst_check(b.cidr(value), negated, "dst"))
    elif base == "ctorigdstport":
        ranges = parse_ports(value)
        b.checks.append(_port_check(ranges, negated, "orig_dport"))
        if not negated and len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            b.keys["op"] = ranges[0][0]
    elif base == "ctreplsrcport":
        b.checks.append(_port_check(parse_ports(value), negated, "dport"))
    elif base in ("ctorigsrcport", "ctrepldstport"):
        b.checks.append(_sport_check(parse_ports(value), negated, b.ctx.ephemeral))
    elif base == "ctdir":
        original = str(value).upper() == "ORIGINAL"
        b.checks.append(lambda pkt, o=original, n=negated: (o != bool(pkt.reply)) != n)
    elif base == "ctstatus":
        # the status bits each packet of the exchange sees: PHASES
        wanted = frozenset(_split_list(value))

        def status(pkt, wanted=wanted, negated=negated):
            return bool(wanted.intersection(phase_of(pkt)[2])) != negated
        b.checks.append(status)
        b.status = b.status | wanted
    else:
        b.unknown.append(base)


def _match_addrtype(b, opts, neg):
    ctx = b.ctx
    limit_in = "limit-iface-in" in opts
    limit_out = "limit-iface-out" in opts
    for key, value in opts.items():
        base = key.split("#", 1)[0]
        negated = key in neg
        if base == "dst-type":
            types = frozenset(_split_list(value))

            def dtype(pkt, types=types, negated=negated):
                iface = pkt.in_iface if limit_in else (pkt.out_iface if limit_out else None)
                t = ctx.addr_type(pkt.dst, iface)
                if t is None:
                    return "the host's addresses are not known"
                if t not in types and pkt.family == "ipv6" and t == "UNICAST" and \
                        types - {"LOCAL", "BROADCAST", "MULTICAST", "UNICAST"}:
                    return "IPv6 route type of the destination not known"
                return (t in types) != negated
            b.checks.append(dtype)
        elif base == "src-type":
            types = frozenset(_split_list(value))
            if limit_in or limit_out:
                def stype(pkt, types=types, negated=negated):
                    iface = pkt.in_iface if limit_in else pkt.out_iface
                    if ctx.iface_addrs is None or iface not in ctx.iface_addrs:
                        return "addresses of interface %s not known" % iface
                    sub = MatchContext(ctx.family, ctx.iface_addrs[iface], None,
                                       ctx.iface_nets).src_type_set(types)
                    if sub is None:
                        return "address types of interface %s not known" % iface
                    return addr.complement(sub, ctx.family) if negated else sub
                b.srcfns.append(stype)
            else:
                ivs = ctx.src_type_set(types)
                if ivs is None:
                    def nolocal(pkt):
                        return "the host's addresses are not known"
                    b.checks.append(nolocal)
                else:
                    b.add_src(ivs, negated)
        elif base in ("limit-iface-in", "limit-iface-out"):
            pass
        else:
            b.unknown.append("addrtype --%s" % base)


def _match_set(b, opts, neg):
    ctx = b.ctx
    for key, value in opts.items():
        base = key.split("#", 1)[0]
        negated = key in neg
        if base == "match-set":
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError("--match-set needs NAME FLAGS")
            name, flags = value
            members = (ctx.ipsets or {}).get(name)
            dims = flags.split(",")
            if members is None or len(dims) != 1 or dims[0] not in ("src", "dst"):
                reason = ("ipset %s: members not known" % name if members is None
                          else "ipset %s with flags %s not evaluated" % (name, flags))

                def opaque(pkt, reason=reason):
                    return reason
                b.checks.append(opaque)
            elif dims[0] == "src":
                b.add_src(members, negated)
            else:
                b.checks.append(_dst_check(members, negated) if members else
                                (lambda pkt, n=negated: n))
        elif base in ("return-nomatch", "update-counters", "update-subcounters",
                      "no-update-counters", "no-update-subcounters"):
            if base == "return-nomatch":
                b.unknown.append("set --return-nomatch")
        else:
            b.unknown.append("set --%s (counter condition)" % base)


def _match_iprange(b, opts, neg):
    fam = b.ctx.family
    for key, value in opts.items():
        base = key.split("#", 1)[0]
        negated = key in neg
        ivs = (addr.parse_range(value, fam),)
        if base == "src-range":
            b.add_src(ivs, negated)
        elif base == "dst-range":
            b.checks.append(_dst_check(ivs, negated))
        else:
            b.unknown.append("iprange --%s" % base)


def _match_physdev(b, opts, neg):
    ctx = b.ctx
    all_negated = all(k in neg for k in opts)

    def physdev(pkt):
        if pkt.in_iface in ctx.bridges:
            return "bridge port (physdev) of the packet not known"
        # Arrived on no bridge, so no bridge-netfilter data (a routed packet only meets
        # the bridge after FORWARD): the match succeeds only if every option is inverted.
        return all_negated
    b.checks.append(physdev)


def _match_pkttype(b, opts, neg):
    ctx = b.ctx
    value = str(opts.get("pkt-type", "")).lower()
    negated = "pkt-type" in neg

    def pkttype(pkt):
        t = ctx.addr_type(pkt.dst)
        kind = {"MULTICAST": "multicast", "BROADCAST": "broadcast"}.get(t, "unicast")
        return (kind == value) != negated
    b.checks.append(pkttype)


def _match_icmp(b, name, opts, neg):
    pnum = 1 if name == "icmp" else 58
    table = ICMP_TYPES if pnum == 1 else ICMP6_TYPES
    b.checks.append(lambda pkt, p=pnum: pkt.proto == p)
    for key, value in opts.items():
        negated = key in neg
        text = str(value).lower()
        if text == "any":
            b.checks.append(lambda pkt, n=negated: not n)
            continue
        wanted = table.get(text)
        if wanted is None:
            try:
                wanted = int(text.partition("/")[0])
            except ValueError:
                b.unknown.append("%s type %s" % (name, text))
                continue

        def icmp(pkt, wanted=wanted, negated=negated):
            if pkt.icmp_type is None:
                return "ICMP type of the probe not given"
            return (pkt.icmp_type == wanted) != negated
        b.checks.append(icmp)


def compile_matches(rule, ctx):
    """Return a _Builder holding the rule's checks (raises ValueError on bad values)."""
    b = _Builder(ctx)
    fam = ctx.family
    negated = rule.get("negated", ())
    proto = rule.get("protocol")
    for m in rule.get("matches", ()):
        name = m["name"]
        opts = m.get("options", {})
        neg = m.get("negated", ())
        if m.get("known") is False:
            b.unknown.append(name)
            # still evaluate the parts we know: a known-false part settles the rule
            known_opts = {}
            for k, v in opts.items():
                base = k.split("#", 1)[0]
                if base in _KNOWN_OPTS.get(name, ()):
                    known_opts[k] = v
            opts = known_opts
            if not opts:
                continue
        if name in ("tcp", "udp", "sctp", "udplite", "dccp"):
            _match_ports(b, name, opts, neg, proto)
        elif name == "multiport":
            _match_multiport(b, opts, neg)
        elif name == "conntrack":
            _match_conntrack(b, opts, neg, fam)
        elif name == "state":
            wanted = frozenset(_split_list(opts.get("state", "")))
            n = "state" in neg
            b.checks.append(lambda pkt, w=wanted, n=n: bool(w.intersection(_states(pkt, False))) != n)
        elif name == "addrtype":
            _match_addrtype(b, opts, neg)
        elif name == "comment":
            pass
        elif name in ("mark", "connmark"):
            b.checks.append(_mark_check(opts.get("mark"), "mark" in neg,
                                        "mark" if name == "mark" else "ctmark"))
        elif name == "set":
            _match_set(b, opts, neg)
        elif name == "iprange":
            _match_iprange(b, opts, neg)
        elif name == "physdev":
            _match_physdev(b, opts, neg)
        elif name == "pkttype":
            _match_pkttype(b, opts, neg)
        elif name in ("icmp", "icmp6", "icmpv6"):
            _match_icmp(b, "icmp" if name == "icmp" else "icmp6", opts, neg)
        else:
            b.unknown.append(name)
    return b


_KNOWN_OPTS = {
    "tcp": ("dport", "sport", "destination-port", "source-port", "syn", "tcp-flags"),
    "udp": ("dport", "sport", "destination-port", "source-port"),
    "conntrack": ("ctstate", "ctproto", "ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst",
                  "ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport",
                  "ctstatus", "ctdir"),
    "multiport": ("dports", "sports", "ports", "destination-ports", "source-ports"),
}


_SWAP_PARAMS = {"source": "destination", "destination": "source"}
_SWAP_OPTS = {
    "tcp": {"sport": "dport", "dport": "sport", "source-port": "destination-port",
            "destination-port": "source-port"},
    "multiport": {"sports": "dports", "dports": "sports", "source-ports": "destination-ports",
                  "destination-ports": "source-ports"},
    "iprange": {"src-range": "dst-range", "dst-range": "src-range"},
    "addrtype": {"src-type": "dst-type", "dst-type": "src-type"},
}
for _p in ("udp", "sctp", "udplite", "dccp"):
    _SWAP_OPTS[_p] = _SWAP_OPTS["tcp"]


def _swap_key(key, table):
    base, sep, rest = key.partition("#")
    return table.get(base, base) + sep + rest


def swap_rule(rule):
    """The rule as seen from the reply's side: source and destination parts exchanged
    (``-s``/``-d``, ports, ``--src-range``/``--dst-range``, ``--src-type``/``--dst-type``,
    ipset ``src``/``dst``). Conntrack tuple matches and interfaces stay as they are."""
    out = dict(rule)
    for a, b in (("source", "destination"),):
        va, vb = rule.get(a), rule.get(b)
        out.pop(a, None)
        out.pop(b, None)
        if va is not None:
            out[b] = va
        if vb is not None:
            out[a] = vb
    if "negated" in rule:
        out["negated"] = [_SWAP_PARAMS.get(n, n) for n in rule["negated"]]
    matches = []
    for m in rule.get("matches", ()):
        table = _SWAP_OPTS.get(m["name"])
        m = dict(m)
        if table:
            m["options"] = dict((_swap_key(k, table), v) for k, v in m.get("options", {}).items())
            if "negated" in m:
                m["negated"] = [_swap_key(k, table) for k in m["negated"]]
        elif m["name"] == "set":
            opts = {}
            for k, v in m.get("options", {}).items():
                if k.split("#")[0] == "match-set" and isinstance(v, list) and len(v) == 2:
                    flags = ",".join({"src": "dst", "dst": "src"}.get(f, f)
                                     for f in v[1].split(","))
                    v = [v[0], flags]
                opts[k] = v
            m["options"] = opts
        matches.append(m)
    if matches:
        out["matches"] = matches
    return out


def compile_rule(rule, ctx, table, chain, number, chains, reply=False):
    """Compile one model rule; ``chains`` are the names of the table's chains.

    ``reply=True`` compiles it for the connection's reply packet (``swap_rule``).
    """
    text = rule.get("rule") or ""
    if reply:
        rule = swap_rule(rule)
    r = CRule()
    r.reply = reply
    r.table, r.chain, r.number = table, chain, number
    r.text = text
    r.proto = None
    r.proto_neg = False
    r.iin = r.iout = r.dst = None
    r.near = None
    fam = ctx.family
    negated = rule.get("negated", ())
    unknown = []
    keys = {}
    try:
        if "protocol" in rule:
            p = str(rule["protocol"]).lower()
            pnum = PROTOCOLS.get(p)
            if pnum is None:
                pnum = int(p)
            if pnum != 0:
                r.proto = pnum
                r.proto_neg = "protocol" in negated
            elif "protocol" in negated:
                r.proto, r.proto_neg = -1, False  # "! -p all" matches nothing
        if "in_interface" in rule:
            r.iin = _iface(rule["in_interface"], "in_interface" in negated)
        if "out_interface" in rule:
            r.iout = _iface(rule["out_interface"], "out_interface" in negated)
        src = None
        if "source" in rule:
            src = addr.parse_masked(rule["source"], fam)
            if "source" in negated:
                src = addr.complement(src, fam)
            elif len(src) == 1 and src[0] != addr.universe(fam)[0]:
                keys["s"] = src[0]
        if "destination" in rule:
            d = addr.parse_masked(rule["destination"], fam)
            if "destination" in negated:
                r.dst = (d, True)
            else:
                r.dst = (d, False)
                if len(d) == 1 and d[0][0] == d[0][1]:
                    keys["d"] = d[0][0]
        b = compile_matches(rule, ctx)
        checks = list(b.checks)
        if rule.get("fragment"):
            frag_neg = "fragment" in negated
            checks.insert(0, lambda pkt, n=frag_neg: n)  # a probe is not a later fragment
        r.checks = tuple(checks)
        r.src = addr.intersect(src, b.src)
        r.srcfns = tuple(b.srcfns)
        unknown.extend(b.unknown)
        keys.update(b.keys)
        r.flagmask, r.status = b.flagmask, b.status
    except (ValueError, KeyError, TypeError) as exc:
        r.flagmask, r.status = 0, frozenset()
        r.checks = ()
        r.src = None
        r.srcfns = ()
        unknown.append("cannot read the rule (%s)" % (exc,))
    # the parser's own verdict on unknown parts
    for u in rule.get("unknown", ()):
        if u not in unknown and u.split(" ")[0] not in [x.split(" ")[0] for x in unknown]:
            unknown.append(u)
    r.unknown = ", ".join("match %s cannot be evaluated" % u if not u.startswith("cannot") else u
                          for u in unknown) if unknown else None
    r.keys = keys
    _compile_target(r, rule, chains)
    return r


def _compile_target(r, rule, chains):
    target = rule.get("target")
    r.target = target
    r.goto = bool(rule.get("goto"))
    r.topts = rule.get("target_options", {})
    if target is None:
        r.kind = "noop"
    elif target in chains:
        r.kind = "jump"
    elif target in ("ACCEPT", "DROP", "REJECT", "RETURN"):
        r.kind = target.lower()
    elif target == "DNAT":
        r.kind = "dnat"
    elif target == "REDIRECT":
        r.kind = "redirect"
    elif target == "NETMAP":
        r.kind = "netmap"
    elif target in ("SNAT", "MASQUERADE"):
        r.kind = "accept"  # nat POSTROUTING only; ends the nat chain like ACCEPT
    elif target == "MARK":
        r.kind = "mark"
    elif target == "CONNMARK":
        r.kind = "connmark"
    elif target in ("NOTRACK",) or (target == "CT" and "notrack" in r.topts):
        r.kind = "notrack"
    elif target == "CT":
        # --zone puts the packet's connection in a zone; --helper, --ctevents,
        # --expevents and --timeout change nothing a short exchange meets
        r.kind = "ctzone" if any(k.startswith("zone") for k in r.topts) else "noop"
    elif target in ("TTL", "HL"):
        r.kind = "ttl"
    elif target == "HMARK":
        r.kind = "hmark"
    elif target == "SET":
        r.kind = "set"  # a no-op unless a rule matches the set it changes (CompiledRuleset)
    elif target in NOOP_TARGETS:
        r.kind = "noop"
    elif target in OPAQUE_TARGETS:
        r.kind = "opaque"
    else:
        r.kind = "badtarget"


def evaluate(r, pkt):
    """True / False / reason string for everything but the source address."""
    if r.proto is not None and (pkt.proto == r.proto) == r.proto_neg:
        return False
    if r.iin is not None and not iface_matches(r.iin, pkt.in_iface):
        return False
    if r.iout is not None and not iface_matches(r.iout, pkt.out_iface):
        return False
    if r.dst is not None:
        ivs, neg = r.dst
        if addr.contains(ivs, pkt.dst) == neg:
            return False
    reason = None
    for check in r.checks:
        res = check(pkt)
        if res is False:
            return False
        if res is not True and reason is None:
            reason = res
    if r.unknown:
        return r.unknown
    return reason if reason is not None else True


def source_set(r, pkt):
    """The sources the rule accepts (intervals, None = any) or a reason string."""
    src = r.src
    for fn in r.srcfns:
        res = fn(pkt)
        if isinstance(res, str):
            return res
        src = addr.intersect(src, res)
    return src
