# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse ``nft -j list ruleset`` (libnftables JSON) into the nftables model.

The model is plain JSON-able data, the same that ``nftables_facts`` returns::

    {"available": True, "version": "1.0.6", "json_schema_version": 1,
     "tables": {"inet firewalld": TABLE, "ip docker-bridges": TABLE, ...},
     "base_chains": [BASE, ...],            # every base chain, by hook then priority
     "iptables_nft_tables": ["ip filter", ...],
     "counts": {"tables": .., "chains": .., "base_chains": .., "rules": .., "sets": ..,
                "maps": .., "elements": ..},
     "rule_count": N, "warnings": [...]}

    TABLE = {"family", "name", "handle", "flags", "iptables_nft": bool,
             "iptables_nft_reason": str or None,
             "chains": {NAME: CHAIN}, "sets": {NAME: SET}, "objects": [..]}
    CHAIN = {"name", "handle", "base": bool, "type", "hook", "priority" (int),
             "priority_name" (as nft names it, e.g. "filter - 10", or None), "policy",
             "devices", "rules": [RULE, ...]}      # type..devices are None on regular chains
    RULE  = {"handle", "text", "comment", "expr": [nft JSON statements, unchanged]}
    SET   = {"name", "handle", "kind": "set" | "map", "type" (str, or list for a
             concatenation), "map" (data type of a map, else None), "flags",
             "elements": [...], "elements_text": [...]}

Set elements keep nft's JSON values (``"10.0.0.1"``, ``{"prefix": {"addr", "len"}}``,
``{"range": [lo, hi]}``, ``{"concat": [..]}``) without the ``{"elem": {"val": ..}}``
wrapper nft adds for timeouts, counters or comments; a map element is ``[key, data]``.

A table "belongs to iptables-nft" when its rules carry ``xt`` expressions (matches or
targets nft cannot translate), or when it has the family and name of an iptables table
(``ip filter``, ``ip6 nat``, ``bridge filter``, ``arp filter``, ...) and every base chain
in it is an iptables built-in chain (``INPUT`` on hook input, ...) at that table's fixed
priority. Those tables are what ``iptables-save`` already shows: the engine reads them
from ``iptables_facts`` and skips them here, so nothing is counted twice.

Pure Python, no Ansible import. Errors are ``NftablesParseError`` (a ``ValueError``)
naming the place in the JSON (``nftables[12].rule.expr``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")
HOOKS = ("ingress", "prerouting", "input", "forward", "output", "postrouting", "egress")

# nft(8) "PRIORITY": the standard priority names and their values, per family.
_PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50,
               "srcnat": 100}
PRIORITY_NAMES = {
    "ip": _PRIORITIES, "ip6": _PRIORITIES, "inet": _PRIORITIES,
    "arp": {"filter": 0}, "netdev": {"filter": 0},
    "bridge": {"dstnat": -300, "filter": -200, "out": 100, "srcnat": 300},
}

# iptables-nft (and ebtables-nft / arptables-nft) tables: name -> built-in chain -> hook,
# priority. They are created by the xtables tools with exactly these.
_IPT = {
    "raw": {"PREROUTING": ("prerouting", -300), "OUTPUT": ("output", -300)},
    "mangle": {"PREROUTING": ("prerouting", -150), "INPUT": ("input", -150),
               "FORWARD": ("forward", -150), "OUTPUT": ("output", -150),
               "POSTROUTING": ("postrouting", -150)},
    "nat": {"PREROUTING": ("prerouting", -100), "INPUT": ("input", 100),
            "OUTPUT": ("output", -100), "POSTROUTING": ("postrouting", 100)},
    "filter": {"INPUT": ("input", 0), "FORWARD": ("forward", 0), "OUTPUT": ("output", 0)},
    "security": {"INPUT": ("input", 50), "FORWARD": ("forward", 50),
                 "OUTPUT": ("output", 50)},
}
XTABLES_CHAINS = {
    "ip": _IPT, "ip6": _IPT,
    "bridge": {"filter": {"INPUT": ("input", -200), "FORWARD": ("forward", -200),
                          "OUTPUT": ("output", -200)},
               "nat": {"PREROUTING": ("prerouting", -300), "OUTPUT": ("output", 100),
                       "POSTROUTING": ("postrouting", 300)}},
    "arp": {"filter": {"INPUT": ("input", 0), "OUTPUT": ("output", 0)}},
}

_VERDICTS = ("accept", "drop", "continue", "return", "queue")
# meta keys nft prints without "meta " in front.
_BARE_META = frozenset(("iif", "iifname", "iiftype", "iifgroup", "oif", "oifname",
                        "oiftype", "oifgroup", "skuid", "skgid", "nftrace", "rtclassid",
                        "ibrname", "obrname", "ibrpvid", "ibrvproto", "pkttype", "cpu",
                        "cgroup", "ipsec", "iifkind", "oifkind"))
_STRING_KEYS = frozenset(("iifname", "oifname", "ibrname", "obrname", "iifkind",
                          "oifkind", "comment"))
_BINOPS = ("&", "|", "^", "<<", ">>")
_HOOK_ORDER = dict((h, i) for i, h in enumerate(HOOKS))


class NftablesParseError(ValueError):
    """Bad ``nft -j`` output; ``path`` names the place (``nftables[3].chain.prio``)."""

    def __init__(self, message, path="nftables"):
        self.path = path
        ValueError.__init__(self, "%s: %s" % (path, message))


# --------------------------------------------------------------------------- text
def _quote(value):
    return '"%s"' % value


def _is_string_ctx(expr):
    """Does a value compared with ``expr`` print quoted (interface names, comments)?"""
    if isinstance(expr, dict) and len(expr) == 1:
        body = list(expr.values())[0]
        return isinstance(body, dict) and body.get("key") in _STRING_KEYS
    return False


def value_text(value, quoted=False):
    """nft's notation of a JSON value or expression (``10.0.0.0/8``, ``{ 80, 443 }``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        if quoted and not value.startswith("@"):
            return _quote(value)
        return value
    if value is None:
        return ""
    if isinstance(value, list):
        # a flag list (ct state established,related) or a map element [key, data]
        if len(value) == 2 and isinstance(value[1], dict) and _is_verdict(value[1]):
            return "%s : %s" % (value_text(value[0], quoted), value_text(value[1]))
        return ",".join(value_text(v, quoted) for v in value)
    if not isinstance(value, dict) or len(value) != 1:
        return json.dumps(value, sort_keys=True)
    kind, body = list(value.items())[0]
    if kind in _VERDICTS:
        return kind
    if kind in ("jump", "goto"):
        return "%s %s" % (kind, body.get("target") if isinstance(body, dict) else body)
    if kind == "prefix":
        return "%s/%s" % (value_text(body.get("addr")), body.get("len"))
    if kind == "range":
        return "%s-%s" % (value_text(body[0], quoted), value_text(body[1], quoted))
    if kind == "concat":
        return " . ".join(value_text(v, quoted) for v in body)
    if kind == "set":
        items = body if isinstance(body, list) else [body]
        return "{ %s }" % ", ".join(_elem_text(v, quoted) for v in items)
    if kind == "elem":
        return value_text(body.get("val"), quoted)
    if kind == "payload":
        if "protocol" in body:
            return "%s %s" % (body["protocol"], body.get("field"))
        return "@%s,%s,%s" % (body.get("base"), body.get("offset"), body.get("len"))
    if kind == "meta":
        key = body.get("key")
        return key if key in _BARE_META else "meta %s" % key
    if kind == "ct":
        parts = ["ct"]
        if body.get("dir"):
            parts.append(body["dir"])
        if body.get("family"):
            parts.append(body["family"])
        parts.append(body.get("key"))
        return " ".join(str(p) for p in parts)
    if kind == "fib":
        flags = body.get("flags") or []
        flags = [flags] if isinstance(flags, str) else flags
        return "fib %s %s" % (" . ".join(flags), body.get("result"))
    if kind in ("rt", "socket", "ipsec", "osf", "numgen"):
        return "%s %s" % (kind, " ".join("%s" % v for v in body.values()
                                         if not isinstance(v, (dict, list))))
    if kind == "exthdr":
        return "exthdr %s %s" % (body.get("name"), body.get("field", ""))
    if kind == "tcp option":
        return "tcp option %s %s" % (body.get("name"), body.get("field", ""))
    if kind in _BINOPS:
        return (" %s " % kind).join(value_text(v, quoted) for v in body)
    if kind == "map":
        return "%s map %s" % (value_text(body.get("key")), value_text(body.get("data")))
    return "%s %s" % (kind, json.dumps(body, sort_keys=True))


def _elem_text(value, quoted=False):
    if isinstance(value, list) and len(value) == 2:     # map element
        return "%s : %s" % (_elem_text(value[0], quoted), value_text(value[1]))
    if isinstance(quoted, list):     # per part of a concatenation
        if isinstance(value, dict) and "concat" in value:
            return " . ".join(value_text(v, q) for v, q in zip(value["concat"], quoted))
        quoted = quoted[0] if quoted else False
    return value_text(value, quoted)


def _is_verdict(value):
    return len(value) == 1 and (list(value)[0] in _VERDICTS or list(value)[0] in ("jump", "goto"))


def _match_text(body):
    left = body.get("left")
    op = body.get("op", "==")
    if isinstance(body.get("right"), bool) and isinstance(left, dict) and "fib" in left:
        # fib ... oif false: the route lookup found no output interface
        check = "missing" if body["right"] is False else "exists"
        flags = left["fib"].get("flags") or []
        flags = [flags] if isinstance(flags, str) else flags
        return "fib %s check %s%s" % (" . ".join(flags), "" if op == "==" else op + " ", check)
    right = value_text(body.get("right"), _is_string_ctx(left))
    binop = isinstance(left, dict) and any(k in _BINOPS for k in left)
    op = "" if op in ("==", "in") and not binop else op + " "
    return "%s %s%s" % (value_text(left), op, right)


def _nat_text(kind, body):
    if not body:
        return kind
    parts = [kind]
    if body.get("family"):
        parts.append(body["family"])
    target = ""
    if "addr" in body:
        addr = value_text(body["addr"])
        if ":" in addr and "port" in body and "." not in addr:
            addr = "[%s]" % addr
        target = addr
    if "port" in body:
        target += ":%s" % value_text(body["port"])
    if target:
        parts.append("to " + target)
    flags = body.get("flags")
    if flags:
        parts.append(",".join(flags) if isinstance(flags, list) else flags)
    return " ".join(parts)


def statement_text(stmt):
    """One statement of a rule as nft writes it (counters left out)."""
    if not isinstance(stmt, dict) or len(stmt) != 1:
        return json.dumps(stmt, sort_keys=True)
    kind, body = list(stmt.items())[0]
    if kind == "match":
        return _match_text(body)
    if kind in _VERDICTS or kind in ("jump", "goto"):
        return value_text(stmt)
    if kind == "counter":
        return "counter" if not isinstance(body, str) else "counter name %s" % body
    if kind in ("dnat", "snat", "masquerade", "redirect"):
        return _nat_text(kind, body)
    if kind == "vmap":
        return "%s vmap %s" % (value_text(body.get("key")), value_text(body.get("data")))
    if kind == "mangle":
        return "%s set %s" % (value_text(body.get("key")), value_text(body.get("value")))
    if kind == "reject":
        if not body:
            return "reject"
        if body.get("type") == "tcp reset":
            return "reject with tcp reset"
        if body.get("type") == "icmpx" and body.get("expr") == "port-unreachable":
            return "reject"     # inet's default: nft prints it bare
        return "reject with %s %s" % (body.get("type", "icmpx"), body.get("expr", ""))
    if kind == "log":
        if not body:
            return "log"
        return "log " + " ".join('%s "%s"' % (k, v) if k == "prefix" else "%s %s" % (k, v)
                                 for k, v in sorted(body.items()))
    if kind == "limit":
        return "limit rate %s%s/%s" % ("over " if body.get("inv") else "", body.get("rate"),
                                       body.get("per", "second"))
    if kind == "xt":
        if not body:
            return "xt ?"
        return "xt %s %s" % (body.get("type"), _quote(body.get("name")))
    if kind == "set":
        return "%s %s { %s }" % (body.get("op"), body.get("set"), value_text(body.get("elem")))
    if kind == "notrack":
        return "notrack"
    return "%s %s" % (kind, json.dumps(body, sort_keys=True))


def rule_text(expr, comment=None):
    """The readable text of a rule from its statements (``tcp dport 80 accept``)."""
    text = " ".join(t for t in (statement_text(s) for s in expr) if t)
    if comment:
        text += ' comment "%s"' % comment
    return text


# --------------------------------------------------------------------------- parse
def _need(obj, key, path, kinds=None):
    if not isinstance(obj, dict) or key not in obj:
        raise NftablesParseError("missing field '%s' (nft version without it?)" % key, path)
    value = obj[key]
    if kinds and not isinstance(value, kinds):
        raise NftablesParseError("field '%s' should be %s, got %r" % (
            key, "/".join(k.__name__ for k in kinds), value), path + "." + key)
    return value


def priority_value(prio, family, path="priority"):
    """A chain priority as a number: ``-10``, ``"filter"``, ``"dstnat + 10"``, ``"-100"``."""
    if isinstance(prio, bool):
        raise NftablesParseError("priority should be a number or a name, got %r" % prio, path)
    if isinstance(prio, int):
        return prio, None
    if not isinstance(prio, str):
        raise NftablesParseError("priority should be a number or a name, got %r" % (prio,),
                                 path)
    text = " ".join(prio.split())
    try:
        return int(text), None
    except ValueError:
        pass
    names = PRIORITY_NAMES.get(family, _PRIORITIES)
    for sign in ("+", "-"):
        head, sep, tail = text.partition(" %s " % sign)
        if sep:
            try:
                offset = int(tail)
            except ValueError:
                break
            if head in names:
                return names[head] + (offset if sign == "+" else -offset), text
    if text in names:
        return names[text], text
    raise NftablesParseError("unknown priority %r for family %s (known: %s)" % (
        prio, family, ", ".join(sorted(names))), path)


def _unwrap(elem):
    """Drop nft's {"elem": {"val": .., "timeout": ..}} wrapper around a set element."""
    if isinstance(elem, dict) and "elem" in elem and len(elem) == 1:
        return elem["elem"].get("val")
    if isinstance(elem, list) and len(elem) == 2:
        return [_unwrap(elem[0]), elem[1]]
    return elem


_SCALARS = (str, int, float, bool, type(None))


class _Interner(object):
    """``object_pairs_hook`` that makes equal JSON objects (and lists) one shared object.

    A ruleset repeats the same expressions thousands of times (``{"payload": {"protocol":
    "tcp", "field": "dport"}}``, ``{"accept": null}``, counters); sharing them keeps a
    50k-rule model small. The model is read-only, so sharing is safe.
    """

    def __init__(self):
        self.memo = {}

    def _key(self, value):
        if isinstance(value, _SCALARS):
            return (type(value).__name__, value)
        return ("#", id(value))

    def _list(self, items):
        items = [self._list(v) if isinstance(v, list) else v for v in items]
        key = ("L",) + tuple(self._key(v) for v in items)
        return self.memo.setdefault(key, items)

    def __call__(self, pairs):
        pairs = [(k, self._list(v) if isinstance(v, list) else v) for k, v in pairs]
        key = tuple((k, self._key(v)) for k, v in pairs)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = dict(pairs)
        return found


def _decode(data):
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        if not data.strip():
            raise NftablesParseError("empty input: expected the output of 'nft -j list ruleset'")
        try:
            data = json.loads(data, object_pairs_hook=_Interner())
        except ValueError as exc:
            raise NftablesParseError("not JSON (%s): expected the output of "
                                     "'nft -j list ruleset'" % exc)
    if isinstance(data, list):       # the list alone, without {"nftables": ...}
        data = {"nftables": data}
    if not isinstance(data, dict) or not isinstance(data.get("nftables"), list):
        raise NftablesParseError("expected an object with an 'nftables' list, got %s"
                                 % type(data).__name__, "$")
    return data["nftables"]


def _table_key(family, name):
    return "%s %s" % (family, name)


def _new_table(obj, path):
    family = _need(obj, "family", path, (str,))
    if family not in FAMILIES:
        raise NftablesParseError("unknown family %r (known: %s)" % (family, ", ".join(FAMILIES)),
                                 path + ".family")
    return {"family": family, "name": _need(obj, "name", path, (str,)),
            "handle": obj.get("handle"), "flags": obj.get("flags") or [],
            "iptables_nft": False, "iptables_nft_reason": None,
            "chains": {}, "sets": {}, "objects": []}


def _owner(tables, obj, path):
    family = _need(obj, "family", path, (str,))
    name = _need(obj, "table", path, (str,))
    key = _table_key(family, name)
    if key not in tables:
        raise NftablesParseError("refers to table '%s', which the ruleset does not list" % key,
                                 path + ".table")
    return tables[key]


def _new_chain(obj, table, path):
    name = _need(obj, "name", path, (str,))
    chain = {"name": name, "handle": obj.get("handle"), "base": "hook" in obj,
             "type": None, "hook": None, "priority": None, "priority_name": None,
             "policy": None, "devices": None, "rules": []}
    if chain["base"]:
        chain["type"] = _need(obj, "type", path, (str,))
        chain["hook"] = _need(obj, "hook", path, (str,))
        chain["priority"], chain["priority_name"] = priority_value(
            _need(obj, "prio", path), table["family"], path + ".prio")
        chain["policy"] = obj.get("policy", "accept")
        dev = obj.get("dev", obj.get("device"))
        if dev is not None:
            chain["devices"] = dev if isinstance(dev, list) else [dev]
    return chain


def _new_set(obj, kind, path):
    name = _need(obj, "name", path, (str,))
    _need(obj, "type", path, (str, list))
    elements = [_unwrap(e) for e in (obj.get("elem") or [])]
    return {"name": name, "handle": obj.get("handle"), "kind": kind, "type": obj["type"],
            "map": _need(obj, "map", path, (str, list)) if kind == "map" else None,
            "flags": obj.get("flags") or [], "elements": elements,
            "elements_text": [_elem_text(e, _quoting(obj["type"])) for e in elements]}


def _quoting(set_type):
    """Which parts of a set's elements nft prints quoted (interface names)."""
    types = set_type if isinstance(set_type, list) else [set_type]
    return [t in ("ifname", "string") for t in types]


def _new_rule(obj, path):
    expr = _need(obj, "expr", path, (list,))
    for i, stmt in enumerate(expr):
        if not isinstance(stmt, dict) or len(stmt) != 1:
            raise NftablesParseError("a statement should be an object with one key, got %r"
                                     % (stmt,), "%s.expr[%d]" % (path, i))
    comment = obj.get("comment")
    return {"handle": obj.get("handle"), "text": rule_text(expr, comment),
            "comment": comment, "expr": expr}


def _has_xt(rules):
    for rule in rules:
        for stmt in rule["expr"]:
            if "xt" in stmt:
                return True
    return False


def classify_iptables_nft(table):
    """(True, why) when ``table`` was written by iptables-nft (or eb/arptables-nft)."""
    rules = [r for c in table["chains"].values() for r in c["rules"]]
    if _has_xt(rules):
        return True, "its rules carry xt (iptables extension) expressions"
    builtins = XTABLES_CHAINS.get(table["family"], {}).get(table["name"])
    if builtins is None:
        return False, None
    bases = [c for c in table["chains"].values() if c["base"]]
    for chain in bases:
        if builtins.get(chain["name"]) != (chain["hook"], chain["priority"]):
            return False, None
    if table["sets"]:       # iptables-nft never names sets (ipset stays outside)
        return False, None
    return True, "table %s %s with only iptables built-in base chains at their fixed " \
        "priorities" % (table["family"], table["name"])


def parse(data):
    """The model of ``nft -j list ruleset`` output (JSON text, bytes, or parsed)."""
    items = _decode(data)
    model = {"available": True, "version": None, "json_schema_version": None, "tables": {},
             "base_chains": [], "iptables_nft_tables": [], "warnings": []}
    tables = model["tables"]
    for index, item in enumerate(items):
        path = "nftables[%d]" % index
        if not isinstance(item, dict) or len(item) != 1:
            raise NftablesParseError("expected an object with one key (table, chain, rule, "
                                     "set, map, ...), got %r" % (item,), path)
        kind, obj = list(item.items())[0]
        path += "." + kind
        if kind == "metainfo":
            if isinstance(obj, dict):
                model["version"] = obj.get("version")
                model["json_schema_version"] = obj.get("json_schema_version")
            continue
        if not isinstance(obj, dict):
            raise NftablesParseError("expected an object, got %r" % (obj,), path)
        if kind == "table":
            table = _new_table(obj, path)
            tables.setdefault(_table_key(table["family"], table["name"]), table)
        elif kind == "chain":
            table = _owner(tables, obj, path)
            chain = _new_chain(obj, table, path)
            table["chains"][chain["name"]] = chain
        elif kind == "rule":
            table = _owner(tables, obj, path)
            name = _need(obj, "chain", path, (str,))
            if name not in table["chains"]:
                raise NftablesParseError("refers to chain '%s', which table '%s %s' does not "
                                         "list" % (name, table["family"], table["name"]),
                                         path + ".chain")
            table["chains"][name]["rules"].append(_new_rule(obj, path))
        elif kind in ("set", "map"):
            table = _owner(tables, obj, path)
            new = _new_set(obj, kind, path)
            table["sets"][new["name"]] = new
        elif kind == "element":
            table = _owner(tables, obj, path)
            name = _need(obj, "name", path, (str,))
            if name not in table["sets"]:
                raise NftablesParseError("elements of unknown set '%s'" % name, path + ".name")
            extra = [_unwrap(e) for e in (obj.get("elem") or [])]
            table["sets"][name]["elements"].extend(extra)
            quoting = _quoting(table["sets"][name]["type"])
            table["sets"][name]["elements_text"].extend(_elem_text(e, quoting) for e in extra)
        else:   # flowtables and named stateful objects: kept, not interpreted
            table = tables.get(_table_key(obj.get("family"), obj.get("table")))
            if table is not None:
                table["objects"].append({"kind": kind, "name": obj.get("name"), "data": obj})
    _finish(model)
    return model


def _finish(model):
    counts = dict.fromkeys(("tables", "chains", "base_chains", "rules", "sets", "maps",
                            "elements"), 0)
    for key, table in model["tables"].items():
        table["iptables_nft"], table["iptables_nft_reason"] = classify_iptables_nft(table)
        if table["iptables_nft"]:
            model["iptables_nft_tables"].append(key)
        counts["tables"] += 1
        for chain in table["chains"].values():
            counts["chains"] += 1
            counts["rules"] += len(chain["rules"])
            if chain["base"]:
                counts["base_chains"] += 1
                model["base_chains"].append({
                    "table": key, "family": table["family"], "chain": chain["name"],
                    "type": chain["type"], "hook": chain["hook"],
                    "priority": chain["priority"], "policy": chain["policy"],
                    "iptables_nft": table["iptables_nft"]})
        for one in table["sets"].values():
            counts["maps" if one["kind"] == "map" else "sets"] += 1
            counts["elements"] += len(one["elements"])
    model["base_chains"].sort(key=lambda b: (_HOOK_ORDER.get(b["hook"], len(HOOKS)),
                                             b["priority"]))
    model["counts"] = counts
    model["rule_count"] = counts["rules"]


def with_tables(model, data, remove=()):
    """A copy of ``model`` with the tables of ``data`` (``nft -j`` JSON, e.g. a table a
    policy module would write) put in, replacing tables of the same name, and the tables
    ``remove`` (``"inet dockerguard"``) taken out: the ruleset as it will be."""
    extra = parse(data) if data is not None else {"tables": {}}
    out = json.loads(json.dumps(model))
    for key in remove:
        out["tables"].pop(key, None)
    out["tables"].update(extra["tables"])
    out["base_chains"], out["iptables_nft_tables"] = [], []
    _finish(out)
    return out


def chain_rules(model, table, chain):
    """The rules of ``table`` (``"inet firewalld"``) / ``chain``; KeyError names what is missing."""
    if table not in model["tables"]:
        raise KeyError("no table '%s' (tables: %s)" % (table, ", ".join(model["tables"])))
    chains = model["tables"][table]["chains"]
    if chain not in chains:
        raise KeyError("no chain '%s' in table '%s'" % (chain, table))
    return chains[chain]["rules"]


# --------------------------------------------------------------------------- host
# nft's messages when the host cannot answer at all (no nf_tables in the kernel, an nft
# built without JSON): the facts say so instead of failing the play.
_UNAVAILABLE = ("protocol not supported", "json support not compiled", "unknown option",
                "syntax error")


def unavailable(reason):
    return {"available": False, "reason": reason}


def gather(run, which):
    """Read the host's ruleset: the model, or ``{"available": False, "reason": ...}``.

    ``run(argv) -> (rc, stdout, stderr)`` and ``which(name) -> path or None`` are given by
    the caller (the module's command runner). Raises ``RuntimeError`` for failures a user
    must fix (not root), ``NftablesParseError`` for output it cannot read.
    """
    nft = which("nft")
    if not nft:
        return unavailable("nft not found: the host has no nftables userspace (package "
                           "'nftables'); native nftables tables, if any, were not read")
    rc, out, err = run([nft, "-j", "list", "ruleset"])
    if rc != 0:
        message = (err or out or "").strip()
        if "operation not permitted" in message.lower():
            raise RuntimeError("'nft -j list ruleset' needs root (become: true): %s" % message)
        if any(m in message.lower() for m in _UNAVAILABLE):
            return unavailable("'nft -j list ruleset' failed: %s" % message)
        raise RuntimeError("'nft -j list ruleset' failed (rc=%d): %s" % (rc, message))
    if not out.strip():         # an empty ruleset: some nft versions print nothing
        out = '{"nftables": []}'
    return parse(out)
