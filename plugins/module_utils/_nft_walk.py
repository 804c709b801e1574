# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Walk the native nftables base chains of one hook, for a set of source addresses at once.

``base_chains(model, family, hook)`` lists the base chains a packet of ``family`` meets
on ``hook`` (an ``inet`` table counts for both families; tables iptables-nft wrote are
left out: the engine reads them from the iptables model), by priority.

``NftWalker.chain(entry, sources, pkt, trace)`` walks one of them and returns outcomes
``(sources, kind, packet, trace, info)`` as ``_netfilter_walk.Walker.hook`` does: kind
``accept`` (the packet goes on to the next base chain), ``drop``, ``reject`` or
``unknown``. Statements: matches (``_nft_match``), vmaps, jump/goto/return/continue,
accept/drop/reject, dnat/redirect (the packet changes, the chain accepts),
snat/masquerade (accept), ``meta mark set``/``ct mark set``, notrack; counter, log,
limit-free rules' comments have no effect. Anything else is unknown naming the rule;
a match it cannot evaluate is taken as ``assume`` says (the engine tries both ways).

A rule is named ``inet firewalld filter_IN_public_allow#3`` (its place in the chain,
from 1) in traces and verdicts.

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as addr
from ansible_collections.dockerguard.firewall.plugins.module_utils import _nft_match as nm
from ansible_collections.dockerguard.firewall.plugins.module_utils._netfilter_walk import WalkLimit

MAX_DEPTH = 64
FAMILIES = {"ipv4": ("ip", "inet"), "ipv6": ("ip6", "inet")}
NO_EFFECT = ("counter", "log", "comment")
M32 = 0xFFFFFFFF


def base_chains(model, family, hook):
    """``[{"table", "chain", "type", "priority", "policy"}]`` on ``hook`` for ``family``."""
    out = []
    if not model:
        return out
    for key, table in (model.get("tables") or {}).items():
        if table.get("iptables_nft") or table.get("family") not in FAMILIES[family]:
            continue
        for name, chain in (table.get("chains") or {}).items():
            if chain.get("base") and chain.get("hook") == hook:
                out.append({"table": key, "chain": name, "type": chain.get("type"),
                            "priority": chain.get("priority") or 0,
                            "policy": chain.get("policy") or "accept"})
    out.sort(key=lambda c: (c["priority"], c["table"], c["chain"]))
    return out


class NftRule(object):
    """What verdicts and traces need of a rule: its ref and text."""

    __slots__ = ("table", "chain", "number", "text", "expr")

    def __init__(self, table, chain, number, rule):
        self.table, self.chain, self.number = table, chain, number
        self.text = rule.get("text") or ""
        self.expr = rule.get("expr") or []

    def ref(self):
        return "%s %s#%d" % (self.table, self.chain, self.number)


class NftWalker(object):
    """Walks base chains of an nftables model (``_nftables`` parse output)."""

    def __init__(self, model, ctx, trace=True, assume=None, budget=None, iface_primary=None,
                 shared=None):
        """``shared``: a dict kept across walks of one engine (rule and set caches)."""
        self.model = model
        self.ctx = ctx
        self.tracing = trace
        self.assume = assume or {}
        self.budget = budget
        self.iface_primary = iface_primary or {}
        shared = {} if shared is None else shared
        self.rules = shared.setdefault("rules", {})
        self.sets = shared.setdefault("sets", {})   # intervals of named sets, computed once

    def _rules(self, tkey, chain):
        key = (tkey, chain)
        hit = self.rules.get(key)
        if hit is None:
            table = self.model["tables"][tkey]
            hit = [NftRule(tkey, chain, n, r)
                   for n, r in enumerate(table["chains"][chain].get("rules") or (), 1)]
            self.rules[key] = hit
        return hit

    def _base(self, table, chain):
        return bool(self.model["tables"][table]["chains"][chain].get("base"))

    def _step(self, tr, r, effect):
        if tr is False or not self.tracing:
            return False
        return ({"table": r.table, "chain": r.chain, "number": r.number, "rule": r.text,
                 "effect": effect, "nft": True, "base": self._base(r.table, r.chain)}, tr)

    def _pstep(self, tr, table, chain, effect):
        if tr is False or not self.tracing:
            return False
        return ({"table": table, "chain": chain, "number": None, "rule": None,
                 "effect": effect, "nft": True, "base": self._base(table, chain)}, tr)

    def _tick(self):
        if self.budget is not None:
            self.budget[0] -= 1
            if self.budget[0] < 0:
                raise WalkLimit("the walk split into too many cases")

    # -- one base chain --------------------------------------------------------------

    def chain(self, entry, sources, pkt, tr=None):
        if not self.tracing:
            tr = False
        out = []
        tkey, name = entry["table"], entry["chain"]
        ends = self._run(tkey, name, sources, pkt, tr, 0, out)
        policy = entry.get("policy") or "accept"
        ref = "%s %s" % (tkey, name)
        for s, p, t in ends:
            t = self._pstep(t, tkey, name, "policy %s" % policy)
            out.append((s, "accept" if policy == "accept" else "drop", p, t,
                        {"by": ref + " policy", "policy": policy}))
        return out

    def _run(self, tkey, name, S, pkt, tr, depth, out):
        """Walk a chain; returns pieces ``(sources, packet, trace)`` that reach its end
        or a return."""
        self._tick()
        pieces = [(S, pkt, tr)]
        ends = []
        for r in self._rules(tkey, name):
            nxt = []
            for s, p, t in pieces:
                cont, rets = self._rule(r, s, p, t, depth, out)
                nxt.extend(cont)
                ends.extend(rets)
            pieces = _merge(nxt)
            if not pieces:
                break
        chain = self.model["tables"][tkey]["chains"][name]
        for s, p, t in pieces:
            if not chain.get("base"):
                t = self._pstep(t, tkey, name, "end of chain, return")
            ends.append((s, p, t))
        return ends

    def _rule(self, r, S, pkt, tr, depth, out):
        """One rule for sources ``S``: ``(go on with the next rule, returned)``."""
        cont, rets = [], []
        work = [(0, S, pkt, tr, "")]
        n = len(r.expr)
        while work:
            j, s, p, t, pre = work.pop()
            if j >= n:
                cont.append((s, p, t))
                continue
            stmt = r.expr[j]
            kind, body = list(stmt.items())[0]
            if kind == "match":
                self._on_match(r, j, s, p, t, pre, body, work, cont, out)
            elif kind in NO_EFFECT:
                work.append((j + 1, s, p, t, pre))
            elif kind == "vmap":
                self._on_vmap(r, j, s, p, t, pre, body, depth, work, cont, rets, out)
            elif kind in ("accept", "drop", "reject", "return", "jump", "goto", "continue"):
                self._verdict(r, kind, body, s, p, t, pre, depth, cont, rets, out)
            elif kind in ("dnat", "redirect"):
                res = self._nat(kind, body, p)
                if isinstance(res, str):
                    self._unknown(r, s, p, t, res, out)
                else:
                    out.append((s, "accept", res[0], self._step(t, r, pre + res[1]),
                                {"by": r.ref(), "nat": True}))
            elif kind in ("snat", "masquerade"):
                out.append((s, "accept", p, self._step(t, r, pre + kind),
                            {"by": r.ref(), "nat": True}))
            elif kind == "mangle":
                res = self._mangle(body, p)
                if isinstance(res, str):
                    self._unknown(r, s, p, t, res, out)
                else:
                    work.append((j + 1, s, res[0], self._step(t, r, pre + res[1]), pre))
            elif kind == "notrack":
                work.append((j + 1, s, p.replace(untracked=r.ref()),
                             self._step(t, r, pre + "notrack (no conntrack, no NAT)"), pre))
            else:
                self._unknown(r, s, p, t, "statement %s is not modelled" % kind, out)
        return cont, rets

    def _unknown(self, r, s, p, t, reason, out, fork=False):
        info = {"by": r.ref(), "reason": reason, "rule": r}
        if fork:
            info["fork"] = True
        out.append((s, "unknown", p, self._step(t, r, "cannot evaluate: " + reason), info))

    def _on_match(self, r, j, s, p, t, pre, body, work, cont, out):
        res = nm.match(body, p, self.ctx, self.model["tables"][r.table], self.sets)
        if res is True:
            work.append((j + 1, s, p, t, pre))
        elif res is False:
            cont.append((s, p, t))
        elif isinstance(res, str):
            guess = self.assume.get(r.ref())
            if guess is None:
                self._unknown(r, s, p, t, res, out, fork=True)
            elif guess:
                work.append((j + 1, s, p, t, pre + "cannot evaluate (%s); taken as "
                             "matching: " % res))
            else:
                cont.append((s, p, self._step(t, r, "cannot evaluate (%s); taken as not "
                                                    "matching" % res)))
        else:
            m = addr.intersect(s, res)
            rest = addr.subtract(s, m, p.family) if m else s
            if m:
                work.append((j + 1, m, p, t, pre))
            if rest:
                cont.append((rest, p, t))

    def _on_vmap(self, r, j, s, p, t, pre, body, depth, work, cont, rets, out):
        res = nm.lookup(body.get("key"), body.get("data"), p, self.ctx,
                        self.model["tables"][r.table], self.sets)
        if isinstance(res, str):
            self._unknown(r, s, p, t, res, out)
            return
        picks, missed = res
        left = s
        for ivs, data in picks:
            took = left if ivs is None else addr.intersect(left, ivs)
            if not took:
                continue
            left = addr.EMPTY if ivs is None else addr.subtract(left, took, p.family)
            if isinstance(data, str):
                data = {data: None}
            if not isinstance(data, dict) or len(data) != 1:
                self._unknown(r, took, p, t, "map data %r not understood" % (data,), out)
                continue
            kind, vbody = list(data.items())[0]
            self._verdict(r, kind, vbody, took, p, t, pre, depth, cont, rets, out)
        if left and missed is not False:
            cont.append((left, p, t))

    def _verdict(self, r, kind, body, s, p, t, pre, depth, cont, rets, out):
        if kind in ("accept", "drop"):
            out.append((s, kind, p, self._step(t, r, pre + kind), {"by": r.ref()}))
        elif kind == "reject":
            body = body or {}
            why = "%s %s" % (body.get("type") or "icmp", body.get("expr") or "port-unreachable")
            out.append((s, "reject", p, self._step(t, r, pre + "reject (%s)" % why.strip()),
                        {"by": r.ref(), "reject_with": why.strip()}))
        elif kind == "return":
            rets.append((s, p, self._step(t, r, pre + "return")))
        elif kind == "continue":
            cont.append((s, p, t))
        elif kind in ("jump", "goto"):
            target = (body or {}).get("target")
            if target not in self.model["tables"][r.table]["chains"]:
                self._unknown(r, s, p, t, "%s to chain %s, not in the table" % (kind, target),
                              out)
                return
            if depth >= MAX_DEPTH:
                self._unknown(r, s, p, t, "chains nest deeper than %d" % MAX_DEPTH, out)
                return
            trj = self._step(t, r, pre + "%s %s" % (kind, target))
            back = self._run(r.table, target, s, p, trj, depth + 1, out)
            (rets if kind == "goto" else cont).extend(back)
        else:
            self._unknown(r, s, p, t, "verdict %s is not modelled" % kind, out)

    def _nat(self, kind, body, p):
        body = body or {}
        fam = p.family
        port = body.get("port")
        try:
            port = None if port is None else nm._int(port)
        except nm.Unknown as exc:
            return str(exc)
        if kind == "redirect":
            dst = self.iface_primary.get(p.in_iface)
            if dst is None:
                return "redirect: the address of %s is not known" % p.in_iface
        else:
            target = body.get("addr")
            if isinstance(target, dict) or (body.get("family") and
                                            nm.L3.get(body["family"], fam) != fam):
                return "dnat to %r is not modelled" % (target,)
            if target is None:
                dst = p.dst
            else:
                try:
                    dst = addr.parse_address(str(target), fam)
                except ValueError:
                    return "dnat to %r is not modelled" % (target,)
        new_port = p.dport if port is None else port
        changed = dst != p.dst or new_port != p.dport
        new = p.replace(dst=dst, dport=new_port, dnat=p.dnat or changed or kind == "redirect")
        text = addr.to_text(dst, fam)
        if new_port is not None:
            text = ("[%s]:%s" if fam == "ipv6" else "%s:%s") % (text, new_port)
        return new, "%s to %s" % (kind, text)

    @staticmethod
    def _mangle(body, p):
        key = body.get("key") or {}
        v = body.get("value")
        if not isinstance(v, int) or isinstance(v, bool):
            return "mark set to %r is not modelled" % (v,)
        if key == {"meta": {"key": "mark"}}:
            return p.replace(mark=(M32, v & M32)), "mark set to %#x" % v
        if key == {"ct": {"key": "mark"}} and p.ct and not p.untracked:
            return p.replace(ctmark=(M32, v & M32)), "ct mark set to %#x" % v
        return "set %r is not modelled" % (key,)


def _merge(pieces):
    """Pieces with the same packet and no trace walk on as one."""
    if len(pieces) < 2:
        return pieces
    out, seen = [], {}
    for s, p, t in pieces:
        if t is not False:
            out.append((s, p, t))
            continue
        k = p.key()
        if k in seen:
            i = seen[k]
            out[i] = (addr.union(out[i][0], s), p, False)
        else:
            seen[k] = len(out)
            out.append((s, p, t))
    return out
