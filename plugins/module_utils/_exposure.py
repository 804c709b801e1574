# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exposure engine: does a probe reach a published port, and by which rules?

A probe is ``(family, source, in_interface, protocol, destination, dport)``: a NEW
connection from ``source`` arriving on ``in_interface`` for ``destination:dport``. The
engine walks it the way the kernel does::

    raw PREROUTING -> (conntrack) -> mangle PREROUTING -> nat PREROUTING (DNAT, REDIRECT)
      -> routing: a host address       -> mangle/filter/security INPUT -> a listening socket?
                  a Docker bridge subnet -> mangle/filter/security FORWARD (-o that bridge)
                                            -> mangle POSTROUTING -> the container
                  127.0.0.0/8 from outside lo without route_localnet: dropped (martian)
      -> the rest of a TCP connection (``EXCHANGE``), each packet with the conntrack
         state, status, direction and flags it really has:
         the SYN-ACK back to the client (raw/mangle PREROUTING and FORWARD from the
         bridge, or OUTPUT from the host), the client's ACK and request (raw/mangle
         PREROUTING, translated by conntrack - no nat chain -, then the SYN's route),
         the server's answer; a later packet that finds no connection (NOTRACK, another
         CT zone) is not translated. A packet no rule tells from an earlier one of the
         same direction is not walked again (``CompiledRuleset._sensitivity``).

and answers ``exposed`` / ``filtered`` / ``unknown`` with the trace of the rules that
decided (``explain(result)`` prints it as the packet's path; ``packet`` names the packet
of the exchange that was stopped). A rule it cannot evaluate (unknown match, ipset
without members, a mark HMARK hashed) is tried both ways: when both give the same
verdict the rule did not matter, else the verdict is ``unknown`` naming the rule.
Never a guess.

``reachability(...)`` does the same walk for every source address at once (interval
arithmetic over the address space) and prints who reaches a port compactly:
``0.0.0.0/0 except 10.0.0.0/8``.

Native nftables tables (``Engine(..., nftables=model)``, the ``_nftables`` model) are
walked with the iptables tables of each hook, by priority (``_hook_walk``; nft rules by
``_nft_walk`` / ``_nft_match``); ``blind=reason`` makes every verdict ``unknown`` when
native tables may decide but were not read.

Inputs are plain data: rulesets are ``_iptables`` models (``parse_save`` output, one per
family, or the ``iptables_facts`` dict holding ``ipv4``/``ipv6``); host facts are a dict
(see ``Host``). Errors in the inputs raise ``ValueError`` naming the bad value.

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as addr
from ansible_collections.dockerguard.firewall.plugins.module_utils._netfilter_match import (
    EPHEMERAL, PROTOCOLS, PROTOCOL_NAMES, MatchContext, Packet)
from ansible_collections.dockerguard.firewall.plugins.module_utils._netfilter_walk import (
    CompiledRuleset, Walker, WalkLimit, steps)
from ansible_collections.dockerguard.firewall.plugins.module_utils._hook_walk import HookWalker
from ansible_collections.dockerguard.firewall.plugins.module_utils._nft_walk import NftWalker

VERDICTS = ("exposed", "filtered", "unknown")
WIRE_MARK = (0xFFFFFFFF, 0)  # a packet from the wire (or a fresh socket) carries mark 0
NO_ZONE = (0, None)          # conntrack zone 0, set by no rule
# The TCP exchange after the SYN: the packet, whether it travels back to the client, and
# how the trace introduces it. ``HANDSHAKE`` stops after the SYN-ACK.
EXCHANGE = (("syn-ack", True, "the reply (SYN-ACK)"),
            ("ack", False, "the client's ACK (ESTABLISHED, ASSURED)"),
            ("data", False, "the client's request (ACK+PSH)"),
            ("server-data", True, "the server's answer (ACK+PSH)"))
HANDSHAKE = EXCHANGE[:1]
PACKET_TITLES = dict((phase, title) for phase, _back, title in EXCHANGE)
PACKETS = {"syn": "the SYN", "syn-ack": "the reply (SYN-ACK)", "ack": "the client's ACK",
           "data": "the client's request", "server-data": "the server's answer"}
MAX_ASSUMPTIONS = 3
MAX_FORKS = 64
ARROW = u"\u2192"
LOOPBACK = {"ipv4": "127.0.0.0/8", "ipv6": "::1/128"}


# --- host facts ---------------------------------------------------------------------

def _as_list(value, what):
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [value]
    if not isinstance(value, (list, tuple, set)):
        raise ValueError("%s must be a list, got %r" % (what, value))
    return list(value)


def port_range(value):
    """net.ipv4.ip_local_port_range as (low, high); Linux's default when None."""
    if value is None:
        return EPHEMERAL
    parts = value.split() if isinstance(value, str) else list(value)
    try:
        lo, hi = (int(x) for x in parts)
    except (TypeError, ValueError):
        raise ValueError("local_port_range must be two port numbers, got %r" % (value,))
    if not 0 < lo <= hi < 65536:
        raise ValueError("local_port_range out of order or range: %r" % (value,))
    return lo, hi


SET_TYPES = ("hash:ip", "hash:net", "bitmap:ip")  # sets of addresses (one dimension)


def ipset_members(name, members, fam):
    """The addresses of ipset ``name`` of family ``fam`` as intervals; None when they
    cannot be known (a set of ports or pairs, a list of sets).

    ``members``: a list of addresses, networks and ranges, or an ``iptables_facts``
    set ``{"type", "family", "netmask", "members", "nomatch"}``. A ``hash:net`` lookup
    takes the most specific entry, so ``nomatch`` entries cut holes in wider members
    and narrower members fill them again."""
    if isinstance(members, dict):
        if members.get("type") not in SET_TYPES:
            return None
        if {"inet": "ipv4", "inet6": "ipv6"}.get(members.get("family", "inet")) != fam:
            return addr.EMPTY
        suffix = "/%s" % members["netmask"] if members.get("netmask") else ""
        entries = [(m if "/" in m or "-" in m else m + suffix, True)
                   for m in members.get("members") or ()]
        entries += [(m, False) for m in members.get("nomatch") or ()]
    else:
        entries = [(m, True) for m in _as_list(members, "ipset %s" % name)
                   if addr.family_of(str(m).partition("-")[0].partition("/")[0]) == fam]
    ranges = []
    for text, match in entries:
        text = str(text)
        try:
            lo, hi = addr.parse_range(text, fam) if "-" in text else addr.parse_cidr(text, fam)
        except ValueError:
            if not isinstance(members, dict):
                raise ValueError("ipset %s: member %r is not an address, network or range"
                                 % (name, text))
            return None  # e.g. 10.0.0.1,tcp:80 - not a set of addresses
        ranges.append((hi - lo, lo, hi, match))
    out = addr.EMPTY
    for _size, lo, hi, match in sorted(ranges, reverse=True):  # widest first
        out = addr.union(out, ((lo, hi),)) if match else addr.subtract(out, ((lo, hi),), fam)
    return out


class Host(object):
    """Host facts, normalised per family.

    ``facts`` keys (all optional):

    - ``interfaces``: ``{name: ["192.0.2.10/24", "fd00::10/64", ...]}`` - what is local,
      connected routes, broadcast addresses, REDIRECT targets;
    - ``addresses``: more local addresses (``["192.0.2.10", ...]``);
    - ``bridges``: the Docker bridges, ``{"docker0": ["172.17.0.0/16"]}`` or a list of
      interface names (their subnets then come from ``interfaces``);
    - ``listeners``: ``[{"address": "0.0.0.0", "port": 8080, "protocol": "tcp"}]`` (also
      ``dual_stack``: False for an IPV6_V6ONLY ``::`` socket, ``interface`` for one bound
      to a device); when given, a packet delivered locally reaches something only if a
      socket listens (``None``: not known, local delivery counts as reaching the port);
    - ``ipsets``: ``{name: ["10.0.0.0/8", ...]}`` members of ipsets rules use, or the
      sets as ``iptables_facts`` reads them (``ipset_members``);
    - ``local_port_range``: ``[32768, 60999]`` (or ``"32768 60999"``, the sysctl's
      text): the ports a client picks its source port from (Linux's default when not
      given);
    - ``default_interface``: where non-local, non-Docker destinations leave;
    - ``route_localnet``: True if 127.0.0.0/8 may arrive from outside ``lo``.
    """

    def __init__(self, facts=None):
        facts = dict(facts or {})
        self.facts = facts
        self.families = {}
        ifaces = facts.get("interfaces") or {}
        if not isinstance(ifaces, dict):
            raise ValueError("host interfaces must be a mapping of name to addresses, got %r"
                             % (ifaces,))
        bridges = facts.get("bridges") or {}
        if isinstance(bridges, (list, tuple)):
            bridges = dict((name, None) for name in bridges)
        listeners = facts.get("listeners")
        for fam in ("ipv4", "ipv6"):
            extra = _as_list(facts.get("addresses"), "addresses")
            self.families[fam] = self._family(fam, ifaces, extra, bridges, listeners, facts)

    @staticmethod
    def _family(fam, ifaces, extra, bridges, listeners, facts):
        iface_addrs = {}
        iface_nets = {}
        primary = {}
        points = []
        given = bool(extra) or bool(ifaces)
        for name, values in ifaces.items():
            if isinstance(values, dict):  # {"addresses": [...]} also accepted
                values = values.get("addresses") or []
            for text in _as_list(values, "addresses of interface %s" % name):
                text = str(text)
                if addr.family_of(text) != fam:
                    continue
                host, _sep, prefix = text.partition("/")
                value = addr.parse_address(host, fam)
                plen = int(prefix) if prefix else addr.BITS[fam]
                lo, hi = addr.parse_cidr("%s/%d" % (host, plen), fam)
                iface_addrs.setdefault(name, []).append((value, value))
                iface_nets.setdefault(name, []).append((lo, hi, plen))
                primary.setdefault(name, value)
                points.append((value, value))
        for text in extra:
            if addr.family_of(text) == fam:
                value = addr.parse_address(str(text).partition("/")[0], fam)
                points.append((value, value))
        loop = addr.parse_cidr(LOOPBACK[fam], fam)
        points.append(loop)
        local = addr.normalize(points) if given else None
        iface_addrs = dict((k, addr.normalize(v)) for k, v in iface_addrs.items())
        if "lo" not in iface_addrs:
            iface_addrs["lo"] = (loop,)
        bridge_nets = []
        for name, nets in bridges.items():
            if nets is None:
                for lo, hi, _plen in iface_nets.get(name, ()):
                    bridge_nets.append((lo, hi, name))
                continue
            for text in _as_list(nets, "subnets of bridge %s" % name):
                if addr.family_of(text) == fam:
                    lo, hi = addr.parse_cidr(text, fam)
                    bridge_nets.append((lo, hi, name))
        bridge_nets.sort(key=lambda t: t[1] - t[0])  # most specific first
        routes = []
        for name, nets in iface_nets.items():
            if name in bridges:
                continue
            for lo, hi, _plen in nets:
                routes.append((lo, hi, name))
        routes.sort(key=lambda t: t[1] - t[0])
        ipsets = None
        if facts.get("ipsets") is not None:
            ipsets = {}
            for name, members in facts["ipsets"].items():
                ivs = ipset_members(name, members, fam)
                if ivs is not None:
                    ipsets[name] = ivs
        lst = None
        if listeners is not None:
            lst = []
            for item in _as_list(listeners, "listeners"):
                a = str(item.get("address", "")).strip("[]")
                proto = str(item.get("protocol", "tcp")).lower()
                try:
                    port = int(item.get("port"))
                except (TypeError, ValueError):
                    raise ValueError("listener port must be a number: %r" % (item,))
                iface = item.get("interface") or None
                entry = (port, proto) if iface is None else (port, proto, iface)
                if a in ("", "*"):
                    lst.append((None,) + entry)
                elif a == "0.0.0.0":
                    if fam == "ipv4":
                        lst.append((None,) + entry)
                elif a == "::":
                    # an IPv6 wildcard socket takes IPv4 too unless IPV6_V6ONLY is set
                    # (dual_stack False); Linux's default (bindv6only=0) when not said
                    if fam == "ipv6" or item.get("dual_stack", True) is not False:
                        lst.append((None,) + entry)
                elif addr.family_of(a) == fam:
                    lst.append((addr.parse_address(a, fam),) + entry)
        default = facts.get("default_interface")
        if isinstance(default, dict):
            default = default.get(fam)
        ctx = MatchContext(fam, local, iface_addrs, iface_nets, bridges=list(bridges),
                           ipsets=ipsets, ephemeral=port_range(facts.get("local_port_range")),
                           default_interface=default)
        return {"ctx": ctx, "local": local, "bridges": bridge_nets, "routes": routes,
                "primary": primary, "listeners": lst, "default": default,
                "route_localnet": bool(facts.get("route_localnet", False))}


# --- probes -------------------------------------------------------------------------

def make_probe(family=None, source=None, in_interface=None, protocol="tcp",
               destination=None, dport=None, sport=None, name=None, mark=None,
               icmp_type=None):
    """Validate and normalise a probe into a dict (ValueError names the bad value)."""
    if destination is None:
        raise ValueError("a probe needs a destination address")
    fam = family or addr.family_of(destination)
    if fam not in addr.BITS:
        raise ValueError("family must be ipv4 or ipv6, got %r" % (family,))
    addr.parse_address(destination, fam)
    if source is not None:
        addr.parse_address(source, fam)
    if not in_interface or not isinstance(in_interface, str):
        raise ValueError("a probe needs the input interface, got %r" % (in_interface,))
    if in_interface == "lo":
        raise ValueError("a probe arriving on lo comes from the host itself: that path "
                         "(nat OUTPUT, docker-proxy) is not modelled; probe from an interface "
                         "traffic arrives on")
    proto = str(protocol).lower()
    if proto not in PROTOCOLS or proto in ("all", "0"):
        raise ValueError("protocol must be tcp, udp, sctp, icmp..., got %r" % (protocol,))
    if PROTOCOLS[proto] in (6, 17, 132, 136, 33):
        try:
            dport = int(dport)
        except (TypeError, ValueError):
            raise ValueError("destination port must be a number, got %r" % (dport,))
        if not 0 < dport < 65536:
            raise ValueError("destination port out of range: %r" % (dport,))
    else:
        dport = None
    if sport is not None:
        sport = int(sport)
    return {"name": name, "family": fam, "source": source, "in_interface": in_interface,
            "protocol": PROTOCOL_NAMES.get(PROTOCOLS[proto], proto), "destination": destination,
            "dport": dport, "sport": sport, "mark": mark, "icmp_type": icmp_type}


def _packet(p):
    fam = p["family"]
    dst = addr.parse_address(p["destination"], fam)
    mark = WIRE_MARK if p.get("mark") is None else (0xFFFFFFFF, int(p["mark"]))
    return Packet(family=fam, in_iface=p["in_interface"], out_iface=None,
                  proto=PROTOCOLS[p["protocol"]], dst=dst, dport=p["dport"], sport=p.get("sport"),
                  orig_dst=dst, orig_dport=p["dport"], dnat=False, mark=mark, ctmark=(0, 0),
                  ct=False, untracked=False, icmp_type=p.get("icmp_type"), local=False,
                  reply=False, phase="syn", zone=NO_ZONE, czone=None, ttl=None, xlat=None,
                  cnotrack=None)


def _rulesets(rulesets):
    """{family: model} from a model, a list of models or iptables facts."""
    if rulesets is None:
        return {}
    if isinstance(rulesets, dict) and "tables" in rulesets:
        return {rulesets.get("family", "ipv4"): rulesets}
    if isinstance(rulesets, (list, tuple)):
        return dict((m.get("family", "ipv4"), m) for m in rulesets)
    if isinstance(rulesets, dict):
        out = {}
        for fam in ("ipv4", "ipv6"):
            m = rulesets.get(fam)
            if isinstance(m, dict) and m.get("available", True) and "tables" in m:
                out[fam] = m
        return out
    raise ValueError("rulesets must be an iptables model or iptables facts, got %s"
                     % type(rulesets).__name__)


# --- the engine ---------------------------------------------------------------------

class Engine(object):
    """Compile rulesets + host facts once; evaluate many probes."""

    def __init__(self, rulesets, host=None, exchange="connection", nftables=None, blind=None):
        """``exchange``: ``connection`` walks every packet of a TCP connection (SYN,
        SYN-ACK, ACK, request, answer); ``handshake`` only the SYN and its SYN-ACK (the
        engine before issue 17, kept for comparisons).

        ``nftables``: the native nftables model (``_nftables.parse``, ``nftables_facts``):
        its base chains are walked with the iptables tables of each hook, by priority
        (``_hook_walk``). ``blind``: a reason why native tables may decide although none
        were given (Docker's nftables or firewalld backend): every verdict is then
        ``unknown`` with it (``verdict_without_nftables`` keeps the iptables one)."""
        if exchange not in ("connection", "handshake"):
            raise ValueError("exchange must be connection or handshake, got %r" % (exchange,))
        self.exchange = EXCHANGE if exchange == "connection" else HANDSHAKE
        if not isinstance(host, Host) and isinstance(rulesets, dict) and \
                rulesets.get("ipsets") is not None and not (host or {}).get("ipsets"):
            host = dict(host or {}, ipsets=rulesets["ipsets"])  # iptables_facts read them
        self.host = host if isinstance(host, Host) else Host(host)
        self.models = _rulesets(rulesets)
        self.nftables = nftables if isinstance(nftables, dict) and \
            nftables.get("available", True) and "tables" in nftables else None
        self.blind = None if self.nftables is not None else blind
        self._nft_shared = {"ipv4": {}, "ipv6": {}}
        self.compiled = {}
        for fam, model in self.models.items():
            self.compiled[fam] = CompiledRuleset(model, self.host.families[fam]["ctx"])

    # -- one probe --

    def evaluate(self, probe=None, trace=True, **kw):
        """Verdict for one probe (a dict as ``make_probe`` returns, or its arguments)."""
        p = make_probe(**probe) if isinstance(probe, dict) else make_probe(**kw)
        if p["source"] is None:
            raise ValueError("evaluate() needs a source address (reachability() covers all)")
        fam = p["family"]
        src = addr.parse_address(p["source"], fam)
        pieces = self._decide(fam, ((src, src),), _packet(p), {}, 0, trace)
        _s, final = pieces[0]
        return self._result(p, final, trace)

    def _result(self, p, final, trace):
        res = dict((k, v) for k, v in final.items() if k not in ("trace", "_fork"))
        res["probe"] = p
        if trace:
            res["trace"] = [_finish_step(s) for s in steps(final.get("trace"))]
        return res

    # -- every source --

    def reachability(self, probe=None, sources=None, regions=True, **kw):
        """Who reaches ``destination:dport`` arriving on ``in_interface``.

        Returns ``{"exposed": "0.0.0.0/0 except 10.0.0.0/8", "filtered": ...,
        "unknown": ..., "regions": [{"sources", "verdict", "action", "decided_by", ...}],
        "exposed_cidrs": [...], "exposed_groups": [{"cidr", "except"}]}``. ``sources``
        limits the space (CIDRs; default all). ``regions=False`` leaves out the
        per-rule regions (a long blocklist makes one region per blocked address).
        """
        if isinstance(probe, dict):
            kw = dict(probe, **kw)
        kw["source"] = None
        p = make_probe(**kw)
        fam = p["family"]
        space = addr.universe(fam)
        if sources is not None:
            space = addr.normalize(addr.parse_cidr(c, fam) for c in _as_list(sources, "sources"))
        pieces = self._decide(fam, space, _packet(p), {}, 0, False)
        parts = dict((v, []) for v in VERDICTS)
        found = []
        for s, final in pieces:
            parts[final["verdict"]].extend(s)
            if not regions:
                continue
            region = dict(final)
            del region["trace"]
            region.pop("_fork", None)
            region["sources"] = addr.compact(s, fam)
            region["_start"] = s[0][0]
            found.append(region)
        found.sort(key=lambda r: r.pop("_start"))
        by_verdict = dict((v, addr.normalize(parts[v])) for v in VERDICTS)
        out = {"probe": p}
        if regions:
            out["regions"] = found
        for v in VERDICTS:
            out[v] = addr.compact(by_verdict[v], fam) if by_verdict[v] else "nothing"
        out["exposed_cidrs"] = addr.to_cidrs(by_verdict["exposed"], fam)
        out["exposed_groups"] = addr.compact_groups(by_verdict["exposed"], fam)
        return out

    # -- the walk with assumptions --

    def _decide(self, fam, sources, pkt, assume, depth, trace, budget=None):
        """[(sources, final)] covering ``sources``; unknown rules are tried both ways.

        A rule whose match cannot be evaluated is taken as matching, then as not
        matching (up to MAX_ASSUMPTIONS nested rules, MAX_FORKS walks in all); where both
        walks agree, the verdict stands and names the rule in ``regardless_of``.
        """
        if budget is None:
            budget = [MAX_FORKS]
        pieces = self._pipeline(fam, sources, pkt, assume, trace)
        out = []
        for s, final in pieces:
            rule = final.get("unknown_rule")
            if final["verdict"] != "unknown" or not final.get("_fork") \
                    or depth >= MAX_ASSUMPTIONS or budget[0] < 2:
                out.append((s, final))
                continue
            budget[0] -= 2
            ref = rule["ref"]
            yes = self._decide(fam, s, pkt, dict(assume, **{ref: True}), depth + 1, trace,
                               budget)
            no = self._decide(fam, s, pkt, dict(assume, **{ref: False}), depth + 1, trace,
                              budget)
            for sa, fa in yes:
                for sb, fb in no:
                    both = addr.intersect(sa, sb)
                    if not both:
                        continue
                    if fa["verdict"] == fb["verdict"] and fa["verdict"] != "unknown":
                        merged = dict(fa)
                        if fa.get("action") != fb.get("action"):
                            merged["action"] = "%s or %s" % (fa["action"], fb["action"])
                        merged["regardless_of"] = [dict(rule)] + fa.get("regardless_of", [])
                        out.append((both, merged))
                    else:
                        out.append((both, final))
        return out

    def _pipeline(self, fam, sources, pkt, assume, trace):
        rs = self.compiled.get(fam)
        hf = self.host.families[fam]
        tr = None if trace else False
        if rs is None:
            return [(sources, _final("unknown", "unknown", None, tr,
                                     "no %s ruleset was given" % fam))]
        walker = Walker(rs, trace=trace, assume=assume, iface_primary=hf["primary"])
        if self.nftables is not None:
            nft = NftWalker(self.nftables, hf["ctx"], trace=trace, assume=assume,
                            budget=[20000], iface_primary=hf["primary"],
                            shared=self._nft_shared[fam])
            walker = HookWalker(walker, nft, self.nftables, fam,
                                self._nft_shared[fam].setdefault("plans", {}))
        else:
            walker = HookWalker(walker)
        finals = []
        pieces = [(sources, pkt, tr, None)]
        try:
            for table in ("raw", "mangle", "nat"):
                nxt = []
                for s, p, t, _by in pieces:
                    if table == "mangle" and not p.ct and not p.untracked:
                        # conntrack: a NEW connection, in the zone raw gave the packet
                        p = p.replace(ct=True, ctmark=(0xFFFFFFFF, 0), czone=p.zone)
                    self._collect(walker.hook(table, "PREROUTING", s, p, t), nxt, finals)
                pieces = nxt
            for s, p, t, _by in pieces:
                self._route(walker, hf, s, p, t, finals)
        except WalkLimit as exc:
            return [(sources, _final("unknown", "unknown", None, tr, str(exc)))]
        if self.blind:
            return [(s, self._blinded(f)) for s, f in finals]
        return finals

    def _blinded(self, final):
        """A verdict native nftables tables nobody read could change: unknown."""
        if final["verdict"] == "unknown":
            return final
        out = dict(final, verdict="unknown", action="unknown",
                   verdict_without_nftables=final["verdict"],
                   reason="%s (without nftables: %s, %s)" % (
                       self.blind, final["verdict"], final.get("reason")))
        out["unknown_rule"] = {"ref": "nftables", "reason": self.blind}
        return out

    @staticmethod
    def _collect(outcomes, nxt, finals, by=None):
        """Accepted pieces go on (with the filter rule that accepted them), the rest end."""
        for s, kind, p, t, info in outcomes:
            if kind == "accept":
                if by is True:
                    nb = info.get("by")
                elif info.get("named") and p.phase in (None, "syn") and not p.reply and \
                        (by is None or str(by).endswith(" policy")):
                    nb = info["by"]  # the SYN's explicit nft accept names the verdict
                else:
                    nb = by
                nxt.append((s, p, t, nb))
            else:
                finals.append((s, _outcome_final(kind, p, t, info)))

    def _hooks(self, walker, hooks, pieces, finals, keep_by=False):
        """Walk ``pieces`` through ``hooks`` [(table, chain)]; returns what all accept.

        The filter table's accepting rule becomes the pieces' ``by`` unless ``keep_by``.
        """
        for table, chain in hooks:
            nxt = []
            for s, p, t, by in pieces:
                if table != "raw" and not p.ct and not p.untracked:
                    p = p.replace(ct=True)  # conntrack ran (after raw)
                self._collect(walker.hook(table, chain, s, p, t), nxt, finals,
                              True if table == "filter" and not keep_by else by)
            pieces = nxt
        return pieces

    # -- the rest of the exchange --

    def _exchange(self, walker, pieces, out_iface, local, finals):
        """Walk the packets after the SYN (``EXCHANGE``: the whole TCP connection, else
        the first answer); returns the pieces whose every packet passes. A packet no
        rule tells from an earlier one of the same direction is not walked again."""
        tcp = pieces and pieces[0][1].proto == 6
        rs = walker.rs
        for phase, back, title in (self.exchange if tcp else HANDSHAKE):
            if not pieces:
                break
            same = {"data": rs.data_as_ack and "ack",
                    "server-data": rs.server_data_as_reply and "syn-ack"}.get(phase)
            if same:
                pieces = [(s, p, _route_step(t, "%s: no rule tells it from %s, so it "
                                             "passes the same way" % (title, PACKETS[same]),
                                             phase), by) for s, p, t, by in pieces]
            elif back:
                pieces = self._reply(walker, pieces, out_iface, local, finals, phase)
            else:
                pieces = self._again(walker, pieces, out_iface, local, finals, phase, title)
        return pieces

    def _reply(self, walker, pieces, out_iface, local, finals, phase="syn-ack"):
        """Walk a packet of the server back to the client (``phase``: the SYN-ACK, the
        server's data); a piece reaches the port only if it gets out too. Returns the
        pieces that pass."""
        todo = []
        for s, p, t, by in pieces:
            client_iface = p.in_iface
            rp = p.replace(reply=True, phase=phase, in_iface=None if local else out_iface,
                           out_iface=client_iface, mark=WIRE_MARK, ct=False, local=False,
                           zone=NO_ZONE, ttl=None, untracked=False,
                           cnotrack=p.cnotrack or (p.untracked if phase == "syn-ack"
                                                   else None))
            if t is not False:
                label = "reply" if phase == "syn-ack" else "reply (%s)" % PACKETS[phase]
                t = _route_step(t, "%s %s -> client, ESTABLISHED, %s out %s" % (
                    label, _endpoint(p), "from this host" if local else "in %s" % out_iface,
                    client_iface), phase)
            todo.append((s, rp, t, by))
        if local:
            todo = self._tracked(self._hooks(walker, (("raw", "OUTPUT"),), todo, finals, True),
                                 finals)
            hooks = (("mangle", "OUTPUT"), ("filter", "OUTPUT"), ("security", "OUTPUT"),
                     ("mangle", "POSTROUTING"))
        else:
            todo = self._tracked(self._hooks(walker, (("raw", "PREROUTING"),), todo, finals,
                                             True), finals)
            todo = self._forwardable(self._hooks(walker, (("mangle", "PREROUTING"),
                                                          ("nat", "PREROUTING")), todo,
                                                 finals, True), finals)
            hooks = (("mangle", "FORWARD"), ("filter", "FORWARD"), ("security", "FORWARD"),
                     ("mangle", "POSTROUTING"))
        passed = self._hooks(walker, hooks, todo, finals, keep_by=True)
        return [(s, p.replace(reply=False, in_iface=p.out_iface, out_iface=None if local
                              else out_iface, local=local), t, by) for s, p, t, by in passed]

    def _again(self, walker, pieces, out_iface, local, finals, phase, title):
        """Walk a later packet of the client (the ACK, the request): raw and mangle
        PREROUTING before conntrack translates it as it did the SYN (no nat chain: only a
        connection's first packet walks them), then the SYN's route."""
        todo = []
        for s, p, t, by in pieces:
            q = p.replace(phase=phase, dst=p.orig_dst, dport=p.orig_dport, xlat=(p.dst, p.dport),
                          out_iface=None, local=False, mark=WIRE_MARK, ct=False,
                          untracked=False, zone=NO_ZONE, ttl=None)
            todo.append((s, q, _route_step(t, "%s, in %s" % (title, p.in_iface), phase), by))
        todo = self._tracked(self._hooks(walker, (("raw", "PREROUTING"),), todo, finals, True),
                             finals)
        routed = []
        for s, q, t, by in self._hooks(walker, (("mangle", "PREROUTING"), ("nat", "PREROUTING")),
                                       todo, finals, True):
            # conntrack translated it at -100 (the nat step), unless it is not tracked
            if not q.untracked and q.xlat is not None:
                q = q.replace(dst=q.xlat[0], dport=q.xlat[1])
            routed.append((s, q.replace(xlat=None, local=local,
                                        out_iface=None if local else out_iface), t, by))
        if local:
            hooks = (("mangle", "INPUT"), ("filter", "INPUT"), ("security", "INPUT"))
        else:
            routed = self._forwardable(routed, finals)
            hooks = (("mangle", "FORWARD"), ("filter", "FORWARD"), ("security", "FORWARD"),
                     ("mangle", "POSTROUTING"))
        return self._hooks(walker, hooks, routed, finals, keep_by=True)

    @staticmethod
    def _tracked(pieces, finals):
        """After raw: conntrack finds a later packet's connection - unless the packet is
        not tracked (NOTRACK) or in another conntrack zone (CT --zone). Such a packet of
        a DNATed connection is not translated (the SYN-ACK reaches the client from the
        container's address, the ACK goes to the host's port): the connection fails. An
        untracked client packet of a connection without DNAT goes on (its state is
        UNTRACKED), and so do the packets of a connection whose SYN was not tracked as
        long as they are not tracked either. Other cases are not modelled (``unknown`` naming the rule): a client
        packet in another zone starts a connection of its own there (conntrack picks up
        a mid-stream ACK), which walks the nat chains again."""
        out = []
        for s, p, t, by in pieces:
            if p.cnotrack:  # the SYN never made a connection
                if p.untracked:
                    out.append((s, p, t, by))  # no conntrack on either side: UNTRACKED
                    continue
                ref = p.cnotrack
                reason = ("%s meets conntrack, but the SYN did not (NOTRACK by %s): conntrack "
                          "takes it as INVALID or as a new connection, which is not modelled"
                          % (PACKETS[p.phase], ref))
                finals.append((s, _final("unknown", "unknown", ref, t, reason, p,
                                         unknown_rule={"ref": ref, "reason": reason})))
                continue
            czone = p.czone or NO_ZONE
            if p.untracked:
                ref, why = p.untracked, "is not tracked (NOTRACK by %s)" % p.untracked
            elif p.zone[0] != czone[0]:
                ref = p.zone[1] or czone[1]
                why = "is in conntrack zone %d, its connection in zone %d (%s)" % (
                    p.zone[0], czone[0], ref)
            else:
                out.append((s, p.replace(ct=True), t, by))
                continue
            what = PACKETS[p.phase]
            if p.dnat and (p.untracked or p.reply):
                reason = ("%s %s: it finds no connection, so conntrack does not translate it "
                          "(DNAT): the connection fails" % (what, why))
                t = _route_step(t, reason)
                finals.append((s, _final("filtered", "not-translated", ref, t, reason, p)))
            elif p.untracked and not p.reply:
                out.append((s, p, t, by))
            else:
                reason = ("%s %s: the connection's later packets then meet conntrack as "
                          "INVALID or as a new connection, which is not modelled" % (what, why))
                finals.append((s, _final("unknown", "unknown", ref, t, reason, p,
                                         unknown_rule={"ref": ref, "reason": reason})))
        return out

    @staticmethod
    def _forwardable(pieces, finals):
        """The forwarding check after PREROUTING: a TTL (hop limit) of 1 or less is
        dropped with ICMP time exceeded (local delivery does not check it)."""
        out = []
        for s, p, t, by in pieces:
            ttl = p.ttl
            if ttl is None or ttl[0] > 1:
                out.append((s, p, t, by))
                continue
            ref = ttl[2]
            if ttl[1] <= 1:
                reason = "TTL %d when forwarded: dropped (time exceeded), set by %s" % (
                    ttl[1], ref)
                finals.append((s, _final("filtered", "DROP", ref, _route_step(t, reason),
                                         reason, p)))
            else:
                reason = ("TTL %d-%d after %s: a packet the client sent with a low TTL is "
                          "dropped when forwarded" % (ttl[0], ttl[1], ref))
                finals.append((s, _final("unknown", "unknown", ref, t, reason, p,
                                         unknown_rule={"ref": ref, "reason": reason})))
        return out

    def _route(self, walker, hf, s, p, t, finals):
        fam = p.family
        tracing = t is not False
        dst_text = addr.to_text(p.dst, fam)
        loop = addr.parse_cidr(LOOPBACK[fam], fam)
        if loop[0] <= p.dst <= loop[1] and p.in_iface != "lo" and \
                not (fam == "ipv4" and hf["route_localnet"]):
            t = _route_step(t, "%s is a loopback address arriving on %s: dropped as martian"
                            % (dst_text, p.in_iface))
            finals.append((s, _final("filtered", "martian", None, t,
                                     "loopback destination from outside lo (martian)", p)))
            return
        local = hf["local"]
        if loop[0] <= p.dst <= loop[1] or (local is not None and addr.contains(local, p.dst)):
            t = _route_step(t, "%s is an address of this host: local delivery (INPUT)" % dst_text)
            pieces = self._hooks(walker, (("mangle", "INPUT"), ("filter", "INPUT"),
                                          ("security", "INPUT")),
                                 [(s, p.replace(local=True), t, None)], finals)
            served = []
            for s2, p2, t2, by in pieces:
                closed = self._closed(hf, p2, t2, by)
                if closed is not None:
                    finals.append((s2, closed))
                else:
                    served.append((s2, p2, t2, by))
            for s2, p2, t2, by in self._exchange(walker, served, None, True, finals):
                finals.append((s2, self._deliver(hf, p2, t2, by)))
            return
        out_iface = None
        container = False
        for lo, hi, name in hf["bridges"]:
            if lo <= p.dst <= hi:
                out_iface, container = name, True
                break
        if out_iface is None:
            if local is None:
                finals.append((s, _final("unknown", "unknown", None, t,
                                         "the host's addresses are not known: cannot tell "
                                         "whether %s is local" % dst_text, p)))
                return
            if not p.dnat:
                t = _route_step(t, "%s is not an address of this host nor of a container"
                                % dst_text)
                finals.append((s, _final("filtered", "not-local", None, t,
                                         "%s is not an address of this host or of a Docker "
                                         "container" % dst_text, p)))
                return
            for lo, hi, name in hf["routes"]:
                if lo <= p.dst <= hi:
                    out_iface = name
                    break
            out_iface = out_iface or hf["default"]
            if out_iface is None:
                t = _route_step(t, "%s: route not known" % dst_text)
                finals.append((s, _final("unknown", "unknown", None, t,
                                         "no route known for %s (give default_interface)"
                                         % dst_text, p)))
                return
        if tracing:
            what = ("a container address on Docker bridge %s" % out_iface if container
                    else "routed out %s" % out_iface)
            t = _route_step(t, "%s is %s: forward (FORWARD, -o %s)" % (dst_text, what, out_iface))
        pieces = self._forwardable([(s, p.replace(out_iface=out_iface), t, None)], finals)
        pieces = self._hooks(walker, (("mangle", "FORWARD"), ("filter", "FORWARD"),
                                      ("security", "FORWARD"), ("mangle", "POSTROUTING")),
                             pieces, finals)
        for s2, p2, t2, by in self._exchange(walker, pieces, out_iface, False, finals):
            where = _endpoint(p2)
            finals.append((s2, _final("exposed", "ACCEPT", by, t2,
                                      "forwarded to %s%s" % (
                                          where, " (container on %s)" % out_iface
                                          if container else " via %s" % out_iface), p2)))

    @staticmethod
    def _closed(hf, p, t, by):
        """The final for a locally delivered packet nothing listens for, else None."""
        listeners = hf["listeners"]
        if listeners is None or p.dport is None:
            return None
        proto = PROTOCOL_NAMES.get(p.proto, str(p.proto))
        for item in listeners:  # (address|None, port, protocol[, bound interface])
            a, port, lproto = item[:3]
            iface = item[3] if len(item) > 3 else None
            if port == p.dport and lproto == proto and (a is None or a == p.dst) and \
                    (iface is None or iface == p.in_iface):
                return None
        where = _endpoint(p)
        t = _route_step(t, "nothing listens on %s/%s" % (where, proto))
        return _final("filtered", "closed", by, t,
                      "accepted by the firewall but nothing listens on %s/%s" % (where, proto), p)

    @staticmethod
    def _deliver(hf, p, t, by):
        where = _endpoint(p)
        if hf["listeners"] is None or p.dport is None:
            return _final("exposed", "ACCEPT", by, t,
                          "delivered locally to %s (listening sockets not known)" % where, p)
        return _final("exposed", "ACCEPT", by, t,
                      "delivered locally to %s, where a socket listens" % where, p)


def _endpoint(p):
    text = addr.to_text(p.dst, p.family)
    if p.dport is None:
        return text
    return ("[%s]:%s" if p.family == "ipv6" else "%s:%s") % (text, p.dport)


def _route_step(t, effect, packet=None):
    """A routing step; ``packet`` marks where a packet of the exchange begins."""
    if t is False:
        return False
    step = {"table": "routing", "chain": None, "number": None, "rule": None, "effect": effect}
    if packet:
        step["packet"] = packet
    return (step, t)


def _final(verdict, action, by, trace, reason, pkt=None, **extra):
    out = {"verdict": verdict, "action": action, "decided_by": by, "reason": reason,
           "trace": trace}
    if pkt is not None:
        if verdict != "exposed" and pkt.phase and pkt.phase != "syn":
            out["packet"] = pkt.phase  # the packet of the exchange that was stopped
        if pkt.reply:
            out["path"] = "forward" if pkt.in_iface else "local"
        else:
            out["path"] = "local" if pkt.local else ("forward" if pkt.out_iface else None)
        if pkt.dnat:
            out["dnat"] = _endpoint(pkt)
        if pkt.reply and pkt.in_iface:
            out["out_interface"] = pkt.in_iface
        elif pkt.out_iface and not pkt.reply:
            out["out_interface"] = pkt.out_iface
    out.update(extra)
    return out


def _outcome_final(kind, pkt, trace, info):
    by = info.get("by")
    if pkt.reply and kind in ("drop", "reject"):
        # the client never hears back, whatever the rule sends to the server side
        f = _final("filtered", "DROP", by, trace, "%s is %s by %s: the client's "
                   "connection times out" % (PACKETS[pkt.phase or "syn-ack"],
                                             "dropped" if kind == "drop" else "rejected", by),
                   pkt, direction="reply")
    elif kind in ("drop", "reject") and pkt.phase not in (None, "syn"):
        # the handshake went through: the client's request never gets its answer
        f = _final("filtered", "DROP" if kind == "drop" else "REJECT", by, trace,
                   "%s is %s by %s: the connection opens but the request gets no answer"
                   % (PACKETS[pkt.phase], "dropped" if kind == "drop" else "rejected", by),
                   pkt)
    elif kind == "drop":
        f = _final("filtered", "DROP", by, trace, "dropped by %s" % by, pkt)
    elif kind == "reject":
        f = _final("filtered", "REJECT", by, trace, "rejected by %s (%s)"
                   % (by, info.get("reject_with")), pkt, reject_with=info.get("reject_with"))
    else:
        rule = info.get("rule")
        unknown = {"ref": by, "reason": info.get("reason")}
        if rule is not None:
            unknown["rule"] = rule.text
        f = _final("unknown", "unknown", by, trace, "%s: %s" % (by, info.get("reason")), pkt,
                   unknown_rule=unknown)
        if info.get("fork"):
            f["_fork"] = True
    return f


def _finish_step(s):
    s = dict(s)
    if s["table"] == "routing":
        ref = "routing"
    elif s.get("nft"):  # inet firewalld filter_IN_public_allow#3
        ref = "%s %s" % (s["table"], s["chain"])
        if s["number"] is not None:
            ref += "#%d" % s["number"]
    elif s["number"] is None:
        ref = "%s/%s" % (s["table"], s["chain"])
    else:
        ref = "%s/%s#%d" % (s["table"], s["chain"], s["number"])
    s["ref"] = ref
    if s.get("rule"):
        s["text"] = u"%s: %s %s %s" % (ref, s["rule"], ARROW, s["effect"])
    else:
        s["text"] = u"%s: %s" % (ref, s["effect"])
    return s


# --- text ---------------------------------------------------------------------------

def stopped_packet(result):
    """The packet of the exchange that was stopped (``syn-ack``, ``ack``, ...); None for
    the SYN or when every packet passed."""
    return result.get("packet") or ("syn-ack" if result.get("direction") == "reply" else None)


def packet_of(step, current):
    """The packet a trace step belongs to: routing steps open a later packet's part."""
    if step["table"] == "routing":
        if step.get("packet"):
            return step["packet"]
        if step["effect"].startswith("reply "):  # traces from before issue 17
            return "syn-ack"
    return current


def describe_probe(p):
    src = p.get("source") or "any"
    port = "" if p.get("dport") is None else ":%s" % p["dport"]
    dst = p["destination"]
    if p["family"] == "ipv6" and port:
        dst = "[%s]" % dst
    name = "%s: " % p["name"] if p.get("name") else ""
    return "%s%s %s -> %s%s in %s (%s)" % (name, p["protocol"], src, dst, port,
                                           p["in_interface"], p["family"])


def explain(result):
    """The packet's path as text, one step a line, then the verdict."""
    lines = [describe_probe(result["probe"])]
    for s in result.get("trace") or ():
        lines.append(u"  " + s["text"])
    verdict = result["verdict"]
    line = u"  = %s: %s" % (verdict, result.get("reason") or "")
    lines.append(line.rstrip())
    for r in result.get("regardless_of") or ():
        lines.append(u"    (%s could not be evaluated - %s - but the verdict is the same "
                     u"whether it matches or not)" % (r["ref"], r["reason"]))
    return u"\n".join(lines)


def evaluate(rulesets, host, probe, trace=True):
    """One-shot: ``Engine(rulesets, host).evaluate(probe)``."""
    return Engine(rulesets, host).evaluate(probe, trace=trace)


def reachability(rulesets, host, probe, sources=None):
    """One-shot: ``Engine(rulesets, host).reachability(probe)``."""
    return Engine(rulesets, host).reachability(probe, sources=sources)
