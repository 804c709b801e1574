# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One netfilter hook across every table attached to it, in priority order.

The engine walks a hook as iptables steps (``("mangle", "FORWARD")``, ...).
``HookWalker.hook(table, chain, ...)`` walks that iptables table *and* the native
nftables base chains that step stands for: each step owns a priority range (below), its
base chains with a lower priority run before the iptables chain, the others after. An
accept ends one base chain and the packet goes on to the next; drop and reject end it
all. iptables tables sit at their fixed priorities (raw -300, mangle -150, nat -100 on
prerouting, filter 0, security 50).

Steps the engine walks per hook, and where the ranges are cut (conntrack runs at -200,
between raw and mangle)::

    PREROUTING  raw (< -200) | mangle (-200 .. -150) | nat (> -150)
    INPUT       mangle (<= -150) | filter (-149 .. 0) | security (> 0)
    FORWARD     mangle | filter | security           (as INPUT)
    OUTPUT      raw (< -200) | mangle | filter | security
    POSTROUTING mangle (all)

nat chains (iptables ``nat``, nft ``type nat``) see a connection's first packet only.
On a later packet of a DNATed connection conntrack translates it at -100 (the ``nat``
step), before the base chains after it.

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils._nft_walk import base_chains

IPT_PRIORITY = {"raw": -300, "mangle": -150, "filter": 0, "security": 50}
STEPS = {"PREROUTING": ("raw", "mangle", "nat"), "INPUT": ("mangle", "filter", "security"),
         "FORWARD": ("mangle", "filter", "security"),
         "OUTPUT": ("raw", "mangle", "filter", "security"), "POSTROUTING": ("mangle",)}
CONNTRACK = -200


def _priority(table, chain):
    if table == "nat":
        return -100 if chain in ("PREROUTING", "OUTPUT") else 100
    return IPT_PRIORITY[table]


def plan(nft_model, family, chain):
    """``{iptables table: (before, after)}``: the base chains each step walks."""
    steps = STEPS[chain]
    chains = base_chains(nft_model, family, chain.lower())
    out = {}
    for i, table in enumerate(steps):
        prio = _priority(table, chain)
        lo = None
        if i:
            prev = _priority(steps[i - 1], chain)
            lo = CONNTRACK if steps[i - 1] == "raw" else prev + 1
        hi = None
        if i + 1 < len(steps):
            nxt = _priority(steps[i + 1], chain)
            hi = CONNTRACK if table == "raw" else prio + 1
            hi = min(hi, nxt)
        mine = [c for c in chains if (lo is None or c["priority"] >= lo)
                and (hi is None or c["priority"] < hi)]
        out[table] = ([c for c in mine if c["priority"] < prio],
                      [c for c in mine if c["priority"] >= prio])
    return out


def first_packet(pkt):
    """nat chains see a connection's first packet only (and never an untracked one)."""
    return (pkt.phase in (None, "syn")) and not pkt.reply and not pkt.untracked


class HookWalker(object):
    """``hook(table, chain, sources, pkt, trace)`` over iptables and nft together."""

    def __init__(self, walker, nft_walker=None, nft_model=None, family="ipv4", plans=None):
        self.ipt = walker
        self.rs = walker.rs
        self.nft = nft_walker
        self.plans = {} if plans is None else plans  # kept across probes by the engine
        self.model = nft_model
        self.family = family

    def _plan(self, chain):
        hit = self.plans.get(chain)
        if hit is None:
            hit = plan(self.model, self.family, chain) if self.nft else {}
            self.plans[chain] = hit
        return hit

    def hook(self, table, chain, sources, pkt, tr=None):
        before, after = self._plan(chain).get(table, ((), ()))
        if not before and not after:
            if table == "nat" and pkt.xlat is not None and not pkt.untracked:
                pkt = pkt.replace(dst=pkt.xlat[0], dport=pkt.xlat[1], xlat=None)
            if table == "nat" and not first_packet(pkt):
                return [(sources, "accept", pkt, tr, {"by": None, "absent": True})]
            return self.ipt.hook(table, chain, sources, pkt, tr)
        stages = [("nft", c) for c in before] + [("ipt", None)] + [("nft", c) for c in after]
        pieces = [(sources, pkt, tr, None)]
        finals = []
        for kind, entry in stages:
            nxt = []
            for s, p, t, by in pieces:
                if kind == "ipt" and table == "nat" and p.xlat is not None and not p.untracked:
                    p = p.replace(dst=p.xlat[0], dport=p.xlat[1], xlat=None)
                if kind == "ipt":
                    if table == "nat" and not first_packet(p):
                        nxt.append((s, p, t, by))
                        continue
                    outcomes = self.ipt.hook(table, chain, s, p, t)
                elif entry["type"] == "nat" and not first_packet(p):
                    nxt.append((s, p, t, by))
                    continue
                else:
                    outcomes = self.nft.chain(entry, s, p, t)
                for o in outcomes:
                    if o[1] == "accept":
                        nxt.append((o[0], o[2], o[3], _by(by, o[4])))
                    else:
                        finals.append(o)
            pieces = nxt
        return finals + [(s, "accept", p, t, by or {"by": None, "absent": True})
                         for s, p, t, by in pieces]


def _by(prev, info):
    """The accept that names a verdict: an explicit rule over a policy or an absent table.
    ``named``: an nft rule accepted explicitly (the engine names it even outside the
    filter step, e.g. firewalld's filter_INPUT at priority filter + 10)."""
    if prev is None:
        out = info
    elif info.get("absent") or (info.get("policy") and not prev.get("absent")):
        out = prev
    else:
        out = info
    if out is info and not info.get("policy") and not info.get("absent") and \
            not info.get("nat") and " " in str(info.get("by") or ""):
        out = dict(info, named=True)
    return out
