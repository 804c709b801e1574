# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An allow-list policy rendered as one nftables table of ours, and compared by meaning.

Pure logic, the nftables twin of ``_policy.chain_rules``. ``render(policy, families)``
gives a ``Table``: the ``nft -f`` script that replaces our table whole, and the same
table in comparable form; ``comparable(model_table)`` turns a table read back with
``nft -j list table`` (parsed by ``_nftables``) into that form, so "is the kernel's table
what we render" is one ``==``, whatever nft's spelling (prefixes or ranges, element
order, icmpx defaults).

One table per module, never shared (``inet dockerguard`` for docker_user_policy,
``inet dockerguard_input`` for host_input_policy): each run replaces its own table whole
in one transaction, so one module can never delete or half-rewrite the other's chain.
An ``inet`` table serves both families. Its layout mirrors the iptables chains::

    chain forward (or input): a base chain at priority filter - 10, below Docker's
        (filter) and firewalld's (filter + 10) filter chains, policy accept:
        replies (ct state established,related) accept; container bridges accept;
        [input: loopback accept]; meta nfproto ipv4 jump ipv4; ... ipv6 jump ipv6
    chain ipv4 / ipv6: per entry, interface, protocol and port range:
        [iifname I] meta l4proto P ct direction original ct original proto-dst PORT
            ip saddr @allow_K_ipv4 accept         (a named interval set: one lookup)
        [iifname I] meta l4proto P ct direction original ct original proto-dst PORT drop
        (input: ``P dport PORT`` instead; the host's own ports are not translated)

``accept`` in our base chain hands the packet to the next base chain (Docker's,
firewalld's), as ``RETURN`` from our iptables chain hands it back to DOCKER-USER.
Every rule carries a ``dockerguard:`` comment: the ownership mark a read can see.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    COMMENT_PREFIX,
    HOOK_DOCKER_USER,
    HOOK_INPUT,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._nftables import (
    rule_text,
    value_text,
)

FAMILIES = ("ipv4", "ipv6")
TABLES = {HOOK_DOCKER_USER: "dockerguard", HOOK_INPUT: "dockerguard_input"}
BASE_CHAINS = {HOOK_DOCKER_USER: ("forward", "forward"), HOOK_INPUT: ("input", "input")}
# Below Docker 29's filter-FORWARD (filter, 0) and firewalld's filter_FORWARD /
# filter_INPUT (filter + 10), and iptables-nft's filter table (0).
PRIORITY = -10
PRIORITY_TEXT = "filter - 10"
_ADDR = {"ipv4": ("ip", "ipv4_addr", ipaddress.IPv4Network),
         "ipv6": ("ip6", "ipv6_addr", ipaddress.IPv6Network)}
MARK = COMMENT_PREFIX + ":"


def table_name(policy):
    return TABLES[policy["hook"]]


def _match(left, right, op="=="):
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key, value):
    return _match({"meta": {"key": key}}, value)


def _iface(name):
    """iptables' ``eth+`` wildcard is nft's ``eth*``; ``+`` alone is any interface."""
    if not name or name == "+":
        return []
    return [_meta("iifname", name[:-1] + "*" if name.endswith("+") else name)]


def _ports(low, high):
    return low if low == high else {"range": [low, high]}


def _address(net):
    """A network as nft's JSON writes it: a host without its /32 or /128."""
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _verdict(action, protocol):
    if action == "drop":
        return {"drop": None}
    # inet's plain reject is ICMP(v6) port unreachable, per family: iptables' choice
    return {"reject": {"type": "tcp reset"}} if protocol == "tcp" else {"reject": None}


ACCEPT = {"accept": None}
REPLIES = _match({"ct": {"key": "state"}}, ["established", "related"], "in")
ORIGINAL = _match({"ct": {"key": "direction"}}, "original")


def set_name(index, family):
    return "allow_%d_%s" % (index, family)


class Table(object):
    """One rendered table: nft's JSON objects (``items``), ``script`` (nft -f),
    ``body`` (nft's text, the diff), ``form`` (comparable)."""

    def __init__(self, family, name):
        self.family, self.name = family, name
        self.chains = []        # [(name, base (type, hook, priority, policy) or None, [(expr, comment)])]
        self.sets = []          # [(name, type, [networks])]

    @property
    def key(self):
        return "%s %s" % (self.family, self.name)

    def body(self):
        lines = ["table %s {" % self.key]
        for name, type_, nets in self.sets:
            elements = ", ".join(value_text(_address(n)) for n in nets)
            lines += ["\tset %s {" % name, "\t\ttype %s" % type_, "\t\tflags interval",
                      "\t\telements = { %s }" % elements, "\t}"]
        for name, base, rules in self.chains:
            lines.append("\tchain %s {" % name)
            if base:
                lines.append("\t\ttype %s hook %s priority %s; policy %s;" % (
                    base[0], base[1], PRIORITY_TEXT if base[2] == PRIORITY else base[2],
                    base[3]))
            lines += ["\t\t%s" % rule_text(expr, comment) for expr, comment in rules]
            lines.append("\t}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def script(self):
        """Replace our table whole: declare (so delete never fails), delete, write."""
        return "%s%s" % (replace_head(self.key), self.body())

    def items(self):
        """The table as ``nft -j list table`` lists it (what ``_nftables.parse`` reads)."""
        where = {"family": self.family, "table": self.name}
        out = [{"table": {"family": self.family, "name": self.name}}]
        for name, type_, nets in self.sets:
            out.append({"set": dict(where, name=name, type=type_, flags=["interval"],
                                    elem=[_address(n) for n in nets])})
        for name, base, rules in self.chains:
            chain = dict(where, name=name)
            if base:
                chain.update(type=base[0], hook=base[1], prio=base[2], policy=base[3])
            out.append({"chain": chain})
        for name, base, rules in self.chains:
            for expr, comment in rules:
                out.append({"rule": dict(where, chain=name, expr=expr, comment=comment)})
        return out

    def form(self):
        return {"chains": dict((n, (b, [canonical_rule(rule_text(e, c)) for e, c in rules]))
                               for n, b, rules in self.chains),
                "sets": dict((n, (t, intervals(nets))) for n, t, nets in self.sets)}

    def family_rules(self, family):
        """The rules of one family's chain as nft writes them (the result's ``rules``)."""
        for name, dummy, rules in self.chains:
            if name == family:
                return [rule_text(e, c) for e, c in rules]
        return None


def replace_head(key):
    """``table X`` then ``delete table X``: removes X in the same transaction, existing or not."""
    return "table %s\ndelete table %s\n" % (key, key)


def _mark(text):
    return "%s %s" % (MARK, text)


def render(policy, families):
    """Our table for ``policy`` enforcing ``families`` (an inet table, both in one)."""
    hook = policy["hook"]
    table = Table("inet", table_name(policy))
    base_name, base_hook = BASE_CHAINS[hook]
    base = [([REPLIES, ACCEPT], _mark("replies"))]
    for bridge in policy["bridges"]:
        base.append((_iface(bridge) + [ACCEPT], _mark("from containers")))
    if hook == HOOK_INPUT:
        base.append(([_meta("iifname", "lo"), ACCEPT], _mark("loopback")))
    chains = []
    for family in FAMILIES:
        if family not in families:
            continue
        base.append(([_meta("nfproto", family), {"jump": {"target": family}}], _mark(family)))
        chains.append((family, None, _family_rules(policy, family, table)))
    table.chains = [(base_name, ("filter", base_hook, PRIORITY, "accept"), base)] + chains
    return table


def _family_rules(policy, family, table):
    proto_kw, set_type, kind = _ADDR[family]
    forwarded = policy["hook"] == HOOK_DOCKER_USER
    rules = []
    if not forwarded:
        for net in policy["ssh_sources"]:
            if isinstance(net, kind):
                rules.append(([_match({"payload": {"protocol": proto_kw, "field": "saddr"}},
                                      _address(net)),
                               _match({"payload": {"protocol": "tcp", "field": "dport"}},
                                      policy["ssh_port"]),
                               ACCEPT], _mark("controller ssh")))
    for index, entry in enumerate(policy["entries"], 1):
        allow = list(ipaddress.collapse_addresses(n for n in entry["allow"] if isinstance(n, kind)))
        name = set_name(index, family)
        if allow:
            table.sets.append((name, set_type, allow))
        protocols = ("tcp", "udp") if entry["protocol"] == "all" else (entry["protocol"],)
        for iface in entry["interfaces"] or [None]:
            for proto in protocols:
                for low, high in entry["ports"]:
                    if forwarded:   # after Docker's DNAT: the published port is conntrack's
                        match = [_meta("l4proto", proto), ORIGINAL,
                                 _match({"ct": {"key": "proto-dst", "dir": "original"}},
                                        _ports(low, high))]
                    else:
                        match = [_match({"payload": {"protocol": proto, "field": "dport"}},
                                        _ports(low, high))]
                    match = _iface(iface) + match
                    if allow:
                        saddr = _match({"payload": {"protocol": proto_kw, "field": "saddr"}},
                                       "@" + name)
                        rules.append((match + [saddr, ACCEPT], _mark(entry["name"] + " allow")))
                    rules.append((match + [_verdict(entry["action"], proto)],
                                  _mark(entry["name"] + " deny")))
    if policy["default"] == "deny":
        rules.append(([_match({"ct": {"key": "status"}}, "dnat", "in"), ORIGINAL, {"drop": None}],
                      _mark("default deny")))
    return rules


# --------------------------------------------------------------------------- compare
# Spellings nft prints for what we write plainly (reject in an inet chain).
_SAME = (("reject with icmpx port-unreachable", "reject"),
         ("reject with icmpx type port-unreachable", "reject"))


def canonical_rule(text):
    text = " ".join(text.split())
    for long_form, short in _SAME:
        text = text.replace(long_form, short)
    return text


def _interval(value):
    """A set element (nft JSON as ``_nftables`` keeps it) as (first, last) integers."""
    if isinstance(value, dict) and "prefix" in value:
        net = ipaddress.ip_network("%s/%s" % (value["prefix"]["addr"], value["prefix"]["len"]))
        return int(net.network_address), int(net.broadcast_address)
    if isinstance(value, dict) and "range" in value:
        low, high = value["range"]
        return int(ipaddress.ip_address(low)), int(ipaddress.ip_address(high))
    if isinstance(value, str):
        addr = int(ipaddress.ip_address(value))
        return addr, addr
    raise ValueError("set element %r is not an address, prefix or range" % (value,))


def _merge(pairs):
    out = []
    for low, high in sorted(pairs):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def intervals(networks):
    return _merge((int(n.network_address), int(n.broadcast_address)) for n in networks)


def comparable(table):
    """The comparable form of a table of the ``_nftables`` model (``render(...).form()``)."""
    chains = {}
    for name, chain in table["chains"].items():
        base = None
        if chain["base"]:
            base = (chain["type"], chain["hook"], chain["priority"], chain["policy"])
        chains[name] = (base, [canonical_rule(rule_text(r["expr"], r.get("comment")))
                               for r in chain["rules"]])
    sets = {}
    for name, one in table["sets"].items():
        try:
            elements = _merge(_interval(e) for e in one["elements"])
        except ValueError:
            elements = one["elements"]      # not ours: compares unequal
        kind = one["type"] if one["kind"] == "set" else (one["type"], one["map"])
        sets[name] = (kind, elements)
    return {"chains": chains, "sets": sets}


def owned(table):
    """Whether a table read back (``_nftables`` model) is ours: its rules carry our mark.

    A table named like ours that nothing of ours marks is someone else's; we never
    replace it."""
    comments = [r.get("comment") or "" for c in table["chains"].values() for r in c["rules"]]
    return any(c.startswith(MARK) for c in comments)
