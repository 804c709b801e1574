# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Walk one netfilter hook of a compiled ruleset, for a set of source addresses at once.

``CompiledRuleset(model, ctx)`` compiles every chain once: rules become ``CRule``
predicates and each chain gets an index (rules that need one exact destination
address, destination port or original port sit in buckets; the rest in order), so a
walk only looks at the rules that can match its packet.

``Walker.hook(table, chain, sources, packet, trace)`` follows jumps, gotos, RETURN,
policies, non-terminating targets (MARK, CONNMARK, NOTRACK, CT --zone, TTL/HL, HMARK,
SET) and NAT (DNAT, REDIRECT, NETMAP), splitting the source set wherever a rule's ``-s`` (or ``--ctorigsrc``,
``--src-range``, ``--src-type``) cuts it. It returns outcomes
``(sources, kind, packet, trace, info)`` with kind ``accept`` (go on: next table or
hook), ``drop``, ``reject`` or ``unknown`` (``info["rule"]`` names the rule).

``assume`` maps a rule id (``CRule.ref()``) to True/False: how to take a rule whose match
cannot be evaluated (the exposure engine tries both ways; when both lead to the same
verdict, the rule did not matter).

Traces are linked tuples ``(step, previous)``; ``steps(trace)`` flattens one.

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as addr
from ansible_collections.dockerguard.firewall.plugins.module_utils._netfilter_match import (
    TCP_FLAGS, compile_rule, evaluate, source_set)

MAX_DEPTH = 64
M32 = 0xFFFFFFFF


class WalkLimit(Exception):
    """The walk split into more pieces than the budget allows."""


def step(trace, table, chain, number, rule, effect):
    """Add a step to a trace (a linked tuple); ``trace is False`` means not tracing."""
    if trace is False:
        return False
    return ({"table": table, "chain": chain, "number": number, "rule": rule,
             "effect": effect}, trace)


def steps(trace):
    out = []
    while trace:
        out.append(trace[0])
        trace = trace[1]
    out.reverse()
    return out


class CompiledChain(object):
    """A chain's compiled rules and its index.

    Each rule sits in one bucket: the smallest that one of its exact keys allows (one
    destination address ``d``, destination port ``p``, original destination ``od`` or
    port ``op``), else - when only a source CIDR singles it out - in a source bucket
    (looked up only when the walk is for one source address), else among the generic
    rules every packet looks at. ``candidates`` merges, in rule order, what a packet
    can match, and caches the list per packet key.
    """

    __slots__ = ("table", "name", "builtin", "policy", "rules", "generic", "buckets",
                 "sbuckets", "sall", "bits", "cache")

    def __init__(self, table, name, builtin, policy, bits=32):
        self.table = table
        self.name = name
        self.builtin = builtin
        self.policy = policy
        self.rules = []
        self.generic = []
        self.buckets = {}
        self.sbuckets = {}
        self.sall = []
        self.bits = bits
        self.cache = {}

    def index(self):
        counts = {}
        keyed = []
        for r in self.rules:
            opts = []
            for kind, value in r.keys.items():
                if kind == "s":
                    continue
                if kind == "mp":
                    opts.append([("p", v) for v in value])
                else:
                    opts.append([(kind, value)])
            keyed.append(opts)
            for opt in opts:
                for k in opt:
                    counts[k] = counts.get(k, 0) + 1
        for i, opts in enumerate(keyed):
            if opts:
                best = min(opts, key=lambda opt: sum(counts[k] for k in opt))
                for k in best:
                    self.buckets.setdefault(k, []).append(i)
                continue
            src = self.rules[i].keys.get("s")
            if src is not None:
                lo, hi = src
                plen = self.bits - (hi - lo + 1).bit_length() + 1
                self.sbuckets.setdefault(plen, {}).setdefault(lo >> (self.bits - plen),
                                                              []).append(i)
                self.sall.append(i)
                continue
            self.generic.append(i)
        self.cache = {}

    def candidates(self, pkt, near=False, src=None):
        """The rules a packet can match, in order; ``src``: its one source, if one."""
        if not self.sbuckets:
            src = None
        key = (pkt.dst, pkt.dport, pkt.orig_dst, pkt.orig_dport, near, src)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if not self.buckets and not self.sbuckets:
            hit = self.rules
        else:
            found = set(self.generic)
            for k in (("d", pkt.dst), ("p", pkt.dport), ("od", pkt.orig_dst),
                      ("op", pkt.orig_dport)) + ((("d", pkt.orig_dst), ("p", pkt.orig_dport))
                                                 if near else ()):
                b = self.buckets.get(k)
                if b:
                    found.update(b)
            if src is None:
                found.update(self.sall)
            else:
                for plen, table in self.sbuckets.items():
                    b = table.get(src >> (self.bits - plen))
                    if b:
                        found.update(b)
            rules = self.rules
            hit = [rules[i] for i in sorted(found)]
        if len(self.cache) > 20000:
            self.cache = {}
        self.cache[key] = hit
        return hit


class CompiledRuleset(object):
    """One family's model, compiled against the host facts in ``ctx``.

    ``tables`` hold the rules as the connection's first packet sees them; ``view(True)``
    compiles (once, on first use) the view of its reply packet.
    """

    def __init__(self, model, ctx):
        self.family = model.get("family", ctx.family)
        self.ctx = ctx
        self.model = model
        self.rule_count = 0
        self.tables = self._compile(False)
        self.reply_tables = None
        self._sensitivity()

    def _sensitivity(self):
        """What tells the packets of one exchange apart, to walk each distinct one once.

        ``data_as_ack``: no rule sees the client data's PSH flag and no rule changes the
        connection mark, so the data packet goes exactly the ACK's way;
        ``server_data_as_reply``: likewise the server's data and the SYN-ACK (flags SYN,
        PSH and status ASSURED unseen). ``matched_sets``: the ipsets rules match."""
        flagmask, status, ctmark, sets = 0, set(), False, set()
        for chains in self.tables.values():
            for chain in chains.values():
                for r in chain.rules:
                    flagmask |= r.flagmask
                    status.update(r.status)
                    if r.kind == "connmark" and any(
                            k in r.topts for k in ("set-mark", "set-xmark", "save-mark")):
                        ctmark = True
        for table in (self.model.get("tables") or {}).values():
            for chain in (table.get("chains") or {}).values():
                for rule in chain.get("rules") or ():
                    for m in rule.get("matches", ()):
                        for k, v in m.get("options", {}).items():
                            if k.split("#")[0] == "match-set" and isinstance(v, list) and v:
                                sets.add(v[0])
        self.matched_sets = frozenset(sets)
        self.data_as_ack = not flagmask & TCP_FLAGS["PSH"] and not ctmark
        self.server_data_as_reply = not flagmask & (TCP_FLAGS["SYN"] | TCP_FLAGS["PSH"]) \
            and "ASSURED" not in status and not ctmark

    def _compile(self, reply):
        tables = {}
        count = 0
        for tname, table in (self.model.get("tables") or {}).items():
            chains = table.get("chains") or {}
            names = frozenset(chains)
            compiled = {}
            for cname, chain in chains.items():
                cc = CompiledChain(tname, cname, chain.get("builtin", False), chain.get("policy"),
                                   addr.BITS[self.family])
                for n, rule in enumerate(chain.get("rules") or (), 1):
                    cc.rules.append(compile_rule(rule, self.ctx, tname, cname, n, names, reply))
                cc.index()
                count += len(cc.rules)
                compiled[cname] = cc
            tables[tname] = compiled
        self.rule_count = count
        return tables

    def view(self, reply):
        if not reply:
            return self.tables
        if self.reply_tables is None:
            self.reply_tables = self._compile(True)
        return self.reply_tables


def _mark_and(known, value, mask):
    """(known, value) & mask: bits outside the mask become known zeros."""
    return (known | (~mask & M32)) & M32, value & mask


def _mark_xor(a, b):
    known = a[0] & b[0]
    return known, (a[1] ^ b[1]) & known


def apply_mark(kind, topts, mark, ctmark):
    """MARK / CONNMARK on (known, value) pairs. Returns (mark, ctmark, effect) or a reason."""
    def val(text):
        v, _s, m = str(text).partition("/")
        return int(v, 0), (int(m, 0) if m else M32)
    if kind == "mark":
        for opt in ("set-xmark", "set-mark"):
            if opt in topts:
                v, m = val(topts[opt])
                if opt == "set-mark":  # --set-mark v/m: (mark & ~m) | v
                    kept = _mark_and(mark[0], mark[1], ~m & M32)
                    known = kept[0] | m
                    return (known, (kept[1] | v) & known), ctmark, "mark set to %#x/%#x" % (v, m)
                kept = _mark_and(mark[0], mark[1], ~m & M32)
                return _mark_xor(kept, (M32, v)), ctmark, "mark set to %#x/%#x" % (v, m)
        if "and-mark" in topts:
            m = int(str(topts["and-mark"]), 0)
            return _mark_and(mark[0], mark[1], m), ctmark, "mark &= %#x" % m
        if "or-mark" in topts:
            m = int(str(topts["or-mark"]), 0)
            known = mark[0] | m
            return (known, (mark[1] | m) & known), ctmark, "mark |= %#x" % m
        if "xor-mark" in topts:
            m = int(str(topts["xor-mark"]), 0)
            return (mark[0], (mark[1] ^ m) & mark[0]), ctmark, "mark ^= %#x" % m
        return "MARK options %s not understood" % ", ".join(sorted(topts))
    # CONNMARK
    nfmask = int(str(topts.get("nfmask", "0xffffffff")), 0)
    ctmask = int(str(topts.get("ctmask", "0xffffffff")), 0)
    mask = int(str(topts.get("mask", "0xffffffff")), 0)
    for opt in ("set-xmark", "set-mark"):
        if opt in topts:
            v, m = val(topts[opt])
            kept = _mark_and(ctmark[0], ctmark[1], ~m & M32)
            if opt == "set-mark":
                known = kept[0] | m
                return mark, (known, (kept[1] | v) & known), "connmark set to %#x/%#x" % (v, m)
            return mark, _mark_xor(kept, (M32, v)), "connmark set to %#x/%#x" % (v, m)
    if "save-mark" in topts:
        if "mask" in topts:
            nfmask = ctmask = mask
        a = _mark_and(ctmark[0], ctmark[1], ~ctmask & M32)
        b = _mark_and(mark[0], mark[1], nfmask)
        return mark, _mark_xor(a, b), "connmark saved from mark"
    if "restore-mark" in topts:
        if "mask" in topts:
            nfmask = ctmask = mask
        a = _mark_and(mark[0], mark[1], ~nfmask & M32)
        b = _mark_and(ctmark[0], ctmark[1], ctmask)
        return _mark_xor(a, b), ctmark, "mark restored from connmark"
    return "CONNMARK options %s not understood" % ", ".join(sorted(topts))


def parse_nat_to(text, family):
    """``172.18.0.2:80``, ``[fd00::2]:80``, ``fd00::2``, ``:80`` -> (address|None, port|None).

    Raises ValueError for what one connection cannot be pinned to (ranges).
    """
    text = str(text).strip()
    host, port = text, None
    if family == "ipv6":
        if text.startswith("["):
            host, _sep, rest = text[1:].partition("]")
            if rest.startswith(":"):
                port = rest[1:]
        elif text.startswith(":") and text.count(":") == 1:
            host, port = "", text[1:]
    else:
        host, _sep, port = text.partition(":")
        port = port or None
    address = None
    if host:
        lo, _s, hi = host.partition("-")
        if hi and hi != lo:
            raise ValueError("to an address range %s (each connection gets one of them)" % host)
        address = addr.parse_address(lo, family)
    pnum = None
    if port:
        if "/" in port:
            raise ValueError("to a port range with a base port %s" % port)
        plo, _s, phi = port.partition("-")
        if phi and phi != plo:
            raise ValueError("to a port range %s (each connection gets one of them)" % port)
        pnum = int(plo)
    return address, pnum


class Walker(object):
    """Walks hooks of one CompiledRuleset. ``trace=False`` skips building traces."""

    def __init__(self, ruleset, trace=True, assume=None, near=None, budget=20000,
                 iface_primary=None):
        self.rs = ruleset
        self.tracing = trace
        self.assume = assume or {}
        self.near = trace if near is None else near
        self.budget = budget
        self.iface_primary = iface_primary or {}
        self.family = ruleset.family

    # -- helpers ------------------------------------------------------------------

    def _tick(self):
        self.budget -= 1
        if self.budget < 0:
            raise WalkLimit("the walk split into too many cases")

    def _step(self, tr, r, effect):
        if tr is False:
            return False
        return ({"table": r.table, "chain": r.chain, "number": r.number, "rule": r.text,
                 "effect": effect}, tr)

    def _nat(self, r, pkt):
        """New packet after DNAT/REDIRECT/NETMAP, and the effect text; or a reason."""
        fam = self.family
        topts = r.topts
        if r.kind == "dnat":
            keys = [k for k in topts if k.split("#", 1)[0] == "to-destination"]
            if len(keys) != 1:
                return "DNAT with %d --to-destination options" % len(keys)
            try:
                dst, port = parse_nat_to(topts[keys[0]], fam)
            except ValueError as exc:
                return "DNAT %s" % exc
            new_dst = pkt.dst if dst is None else dst
            new_port = pkt.dport if port is None else port
            changed = new_dst != pkt.dst or new_port != pkt.dport
            new = pkt.replace(dst=new_dst, dport=new_port, dnat=pkt.dnat or changed)
            return new, "DNAT to %s" % _endpoint(new_dst, new_port, fam)
        if r.kind == "redirect":
            if pkt.in_iface == "lo":
                dst = addr.parse_address("127.0.0.1" if fam == "ipv4" else "::1")
            else:
                dst = self.iface_primary.get(pkt.in_iface)
                if dst is None:
                    return "REDIRECT: the address of %s is not known" % pkt.in_iface
            port = pkt.dport
            if "to-ports" in topts:
                text = str(topts["to-ports"])
                lo, _s, hi = text.partition("-")
                if hi and hi != lo:
                    return "REDIRECT to a port range %s" % text
                port = int(lo)
            new = pkt.replace(dst=dst, dport=port, dnat=True)
            return new, "REDIRECT to %s" % _endpoint(dst, port, fam)
        # NETMAP
        try:
            lo, hi = addr.parse_cidr(topts.get("to"), fam)
        except (ValueError, TypeError):
            return "NETMAP --to %r not understood" % (topts.get("to"),)
        hostmask = hi - lo
        dst = lo | (pkt.dst & hostmask)
        new = pkt.replace(dst=dst, dnat=pkt.dnat or dst != pkt.dst)
        return new, "NETMAP to %s" % addr.to_text(dst, fam)

    def _near_miss(self, r, pkt, tr):
        """A FORWARD/INPUT rule that would match the pre-DNAT address/port: say why not."""
        if r.table in ("raw", "nat") or not pkt.dnat:
            return tr
        orig = pkt.replace(dst=pkt.orig_dst, dport=pkt.orig_dport)
        if evaluate(r, orig) is not True:
            return tr
        fam = self.family
        bits = []
        if pkt.dport != pkt.orig_dport:
            bits.append("--dport sees the port after DNAT (%s), not the published %s: "
                        "match the original with -m conntrack --ctorigdstport %s"
                        % (pkt.dport, pkt.orig_dport, pkt.orig_dport))
        if pkt.dst != pkt.orig_dst:
            bits.append("-d sees the address after DNAT (%s), not %s: match the original "
                        "with -m conntrack --ctorigdst %s" % (
                            addr.to_text(pkt.dst, fam), addr.to_text(pkt.orig_dst, fam),
                            addr.to_text(pkt.orig_dst, fam)))
        return self._step(tr, r, "no match: " + "; ".join(bits))

    # -- the walk -----------------------------------------------------------------

    def hook(self, table, chain_name, sources, pkt, tr=None):
        """Walk builtin chain ``table/chain_name``; returns the outcome list."""
        if not self.tracing:
            tr = False
        out = []
        chains = self.rs.view(pkt.reply).get(table)
        if chains is None:  # table not loaded (iptables-save lists every loaded one)
            out.append((sources, "accept", pkt, tr, {"by": None, "absent": True}))
            return out
        chain = chains.get(chain_name)
        if chain is None:
            # A loaded table always has its builtin chains: this listing is partial
            # (``iptables -S`` excerpt); nothing says what the chain holds.
            if table == "nat":
                out.append((sources, "accept", pkt, tr, {"by": None, "absent": True}))
                return out
            ref = "%s/%s" % (table, chain_name)
            t = self._pstep(tr, table, chain_name, "chain not in the listing")
            out.append((sources, "unknown", pkt, t, {"by": ref, "reason":
                                                     "%s is not in the listing" % ref}))
            return out
        ends = self._run(chain, 0, sources, pkt, tr, 0, out)
        for s, p, t in ends:
            policy = chain.policy
            ref = "%s/%s" % (table, chain_name)
            if policy is None and table == "nat":
                policy = "ACCEPT"  # the nat table cannot drop
            if policy is None:
                t = self._pstep(t, table, chain_name, "policy not known (listing without -P)")
                out.append((s, "unknown", p, t, {"by": ref, "reason":
                                                 "the policy of %s is not known" % ref}))
            else:
                t = self._pstep(t, table, chain_name, "policy %s" % policy)
                out.append((s, "accept" if policy == "ACCEPT" else "drop", p, t,
                            {"by": ref + " policy", "policy": policy}))
        return out

    def _pstep(self, tr, table, chain, effect):
        if tr is False:
            return False
        return ({"table": table, "chain": chain, "number": None, "rule": None,
                 "effect": effect}, tr)

    def _run(self, chain, start, S, pkt, tr, depth, out):
        """Walk ``chain`` from candidate ``start``; terminal outcomes go to ``out``.

        Returns the pieces ``(sources, packet, trace)`` that reach the end of the chain
        or a RETURN. Each matching rule goes to the handler of its kind (``_HANDLERS``).
        """
        self._tick()
        one = S[0][0] if len(S) == 1 and S[0][0] == S[0][1] else None
        cur = _Cursor(chain, start, S, pkt, tr, depth, out)
        cands = chain.candidates(pkt, self.near, one)
        n = len(cands)
        while cur.i < n and cur.S:
            r = cands[cur.i]
            cur.i += 1
            hit = self._match(r, cur)
            if hit is not None:
                self._HANDLERS[r.kind](self, r, cur, hit[0], hit[1], hit[2])
        if cur.S:
            tr = cur.tr
            if not chain.builtin:
                tr = self._pstep(tr, chain.table, chain.name, "end of chain, RETURN")
            cur.ends.append((cur.S, cur.pkt, tr))
        return cur.ends

    def _match(self, r, cur):
        """``(M, rest, assumed)``: the sources the rule takes, the others and the trace
        prefix of an assumption; None when the rule does not apply."""
        pkt = cur.pkt
        st = evaluate(r, pkt)
        if st is False:
            if self.near and cur.tr is not False and pkt.dnat and not pkt.reply:
                cur.tr = self._near_miss(r, pkt, cur.tr)
            return None
        rs = r.src if not r.srcfns else source_set(r, pkt)
        if isinstance(rs, str):
            if st is True:
                st = rs
            rs = r.src
        S = cur.S
        if rs is None:
            M, rest = S, addr.EMPTY
        else:
            M = addr.intersect(S, rs)
            if not M:
                return None
            rest = addr.EMPTY if M is S else addr.subtract(S, M, self.family)
        if st is True:
            return M, rest, ""
        return self._assumption(r, cur, st, M, rest)

    def _assumption(self, r, cur, st, M, rest):
        """A rule that cannot be evaluated: unknown, or taken as ``assume`` says."""
        if r.kind == "noop":
            return None  # matches or not, nothing changes
        guess = self.assume.get(r.ref())
        if guess is None:
            self._end(cur, r, M, rest, "unknown", "cannot evaluate: %s" % st,
                      {"by": r.ref(), "reason": st, "rule": r, "fork": True})
            return None
        if guess is False:
            cur.tr = self._step(cur.tr, r, "cannot evaluate (%s); taken as not matching" % st)
            return None
        return M, rest, "cannot evaluate (%s); taken as matching: " % st

    def _end(self, cur, r, M, rest, kind, effect, info, pkt=None):
        """Sources ``M`` end here with ``kind``; the walk goes on with ``rest``."""
        cur.out.append((M, kind, cur.pkt if pkt is None else pkt,
                        self._step(cur.tr, r, effect), info))
        cur.S = rest

    def _go_on(self, cur, M, rest, pkt, tr):
        """Sources ``M`` go on in this chain as ``pkt`` with trace ``tr``."""
        if rest:
            cur.ends.extend(self._run(cur.chain, cur.i, M, pkt, tr, cur.depth, cur.out))
            cur.S = rest
        else:
            cur.pkt, cur.tr = pkt, tr

    def _unknown(self, cur, r, M, rest, reason):
        self._end(cur, r, M, rest, "unknown", "cannot evaluate: " + reason,
                  {"by": r.ref(), "reason": reason, "rule": r})

    # -- one handler per rule kind --------------------------------------------------

    def _on_verdict(self, r, cur, M, rest, assumed):
        info = {"by": r.ref()}
        effect = r.target
        if r.kind == "reject":
            info["reject_with"] = r.topts.get("reject-with", "icmp-port-unreachable")
            effect = "REJECT (%s)" % info["reject_with"]
        self._end(cur, r, M, rest, r.kind, assumed + effect, info)

    def _on_return(self, r, cur, M, rest, assumed):
        cur.ends.append((M, cur.pkt, self._step(cur.tr, r, assumed + "RETURN")))
        cur.S = rest

    def _on_jump(self, r, cur, M, rest, assumed):
        if cur.depth >= MAX_DEPTH:
            self._end(cur, r, M, rest, "unknown", "jump too deep",
                      {"by": r.ref(), "reason": "chains nest deeper than %d" % MAX_DEPTH,
                       "rule": r})
            return
        sub = self.rs.view(r.reply)[r.table][r.target]
        trj = self._step(cur.tr, r, assumed + ("goto %s" if r.goto else "jump %s") % r.target)
        back = self._run(sub, 0, M, cur.pkt, trj, cur.depth + 1, cur.out)
        if r.goto:
            cur.ends.extend(back)
        elif not rest and len(back) == 1:
            cur.S, cur.pkt, cur.tr = back[0]
            return
        else:
            key = cur.pkt.key()
            for s, p, t in back:
                if t is False and p.key() == key:
                    rest = addr.union(rest, s)  # came back unchanged: walk on with the rest
                else:
                    cur.ends.extend(self._run(cur.chain, cur.i, s, p, t, cur.depth, cur.out))
        cur.S = rest

    def _on_nat(self, r, cur, M, rest, assumed):
        res = self._nat(r, cur.pkt)
        if isinstance(res, str):
            self._unknown(cur, r, M, rest, res)
        else:
            self._end(cur, r, M, rest, "accept", assumed + res[1], {"by": r.ref(), "nat": True},
                      pkt=res[0])

    def _on_modify(self, r, cur, M, rest, assumed):
        """Targets that change the packet (or its connection) and go on."""
        pkt = cur.pkt
        if r.kind == "notrack":
            new, effect = pkt.replace(untracked=r.ref()), "NOTRACK (no conntrack, no NAT)"
        elif r.kind == "connmark" and not pkt.ct:
            new, effect = pkt, "CONNMARK without a connection: no effect"
        else:
            res = apply_mark(r.kind, r.topts, pkt.mark, pkt.ctmark)
            if isinstance(res, str):
                self._unknown(cur, r, M, rest, res)
                return
            new, effect = pkt.replace(mark=res[0], ctmark=res[1]), res[2]
        self._go_on(cur, M, rest, new, self._step(cur.tr, r, assumed + effect))

    def _on_ttl(self, r, cur, M, rest, assumed):
        """TTL / HL: the range the packet's TTL can then have (as the client sent it:
        2-255). Only the forwarding check (after PREROUTING) looks at it."""
        opts = dict((k.split("-", 1)[-1], v) for k, v in r.topts.items())
        lo, hi = (cur.pkt.ttl or (2, 255))[:2]
        try:
            if "set" in opts:
                lo = hi = int(opts["set"])
            elif "dec" in opts:
                n = int(opts["dec"])
                lo, hi = max(0, lo - n), max(0, hi - n)
            elif "inc" in opts:
                n = int(opts["inc"])
                lo, hi = min(255, lo + n), min(255, hi + n)
            else:
                raise ValueError(r.topts)
        except (TypeError, ValueError):
            self._unknown(cur, r, M, rest, "%s options %s not understood" % (r.target, r.topts))
            return
        effect = "%s now %s" % ("TTL" if r.target == "TTL" else "hop limit",
                                lo if lo == hi else "%d-%d" % (lo, hi))
        self._go_on(cur, M, rest, cur.pkt.replace(ttl=(lo, hi, r.ref())),
                    self._step(cur.tr, r, assumed + effect))

    def _on_hmark(self, r, cur, M, rest, assumed):
        """HMARK: mark = hash(tuple) % mod + offset; known only when mod is 1."""
        try:
            mod = int(str(r.topts.get("hmark-mod", "0")), 0)
            offset = int(str(r.topts.get("hmark-offset", "0")), 0)
        except ValueError:
            mod, offset = 0, 0
        if mod == 1:
            mark, effect = (M32, offset & M32), "mark set to %#x (HMARK, one bucket)" % offset
        else:
            mark, effect = (0, 0), "mark set to a hash of the packet (HMARK): not known"
        self._go_on(cur, M, rest, cur.pkt.replace(mark=mark),
                    self._step(cur.tr, r, assumed + effect))

    def _on_ctzone(self, r, cur, M, rest, assumed):
        """CT --zone N: the packet looks up (or creates) its connection in zone N."""
        zone = str(r.topts.get("zone", ""))
        if set(r.topts) & {"zone-orig", "zone-reply"} or not zone.isdigit():
            self._unknown(cur, r, M, rest, "CT zone %s not modelled (only --zone NUMBER)"
                          % ", ".join("--%s %s" % kv for kv in sorted(r.topts.items())))
            return
        self._go_on(cur, M, rest, cur.pkt.replace(zone=(int(zone), r.ref())),
                    self._step(cur.tr, r, assumed + "conntrack zone %s" % zone))

    def _on_set(self, r, cur, M, rest, assumed):
        """SET changes an ipset: it matters only when a rule matches that set."""
        names = [v[0] for k, v in r.topts.items() if k in ("add-set", "del-set")
                 and isinstance(v, list) and v]
        used = [n for n in names if n in self.rs.matched_sets]
        if used:
            self._unknown(cur, r, M, rest, "SET changes ipset %s, which rules match: their "
                          "verdict depends on earlier packets" % ", ".join(used))

    def _on_noop(self, r, cur, M, rest, assumed):
        pass

    def _on_opaque(self, r, cur, M, rest, assumed):
        self._unknown(cur, r, M, rest, "target %s decides outside the ruleset" % r.target)

    def _on_badtarget(self, r, cur, M, rest, assumed):
        self._unknown(cur, r, M, rest, "target %s is neither a chain of table %s nor a known "
                      "target" % (r.target, r.table))

    _HANDLERS = {
        "accept": _on_verdict, "drop": _on_verdict, "reject": _on_verdict,
        "return": _on_return, "jump": _on_jump,
        "dnat": _on_nat, "redirect": _on_nat, "netmap": _on_nat,
        "mark": _on_modify, "connmark": _on_modify, "notrack": _on_modify,
        "ttl": _on_ttl, "hmark": _on_hmark, "ctzone": _on_ctzone, "set": _on_set,
        "noop": _on_noop, "opaque": _on_opaque, "badtarget": _on_badtarget,
    }


class _Cursor(object):
    """Where a walk through one chain stands: the next candidate ``i``, the sources
    ``S`` still walking, their packet and trace; ``out`` terminal outcomes, ``ends``
    the pieces that leave the chain."""

    __slots__ = ("chain", "i", "S", "pkt", "tr", "depth", "out", "ends")

    def __init__(self, chain, i, S, pkt, tr, depth, out):
        self.chain, self.i, self.S, self.pkt, self.tr = chain, i, S, pkt, tr
        self.depth, self.out, self.ends = depth, out, []


def _endpoint(address, port, family):
    text = addr.to_text(address, family)
    if port is None:
        return text
    return ("[%s]:%s" if family == "ipv6" else "%s:%s") % (text, port)
