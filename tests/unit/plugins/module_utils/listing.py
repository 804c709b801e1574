# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only reader of ``iptables -L -n [-v] [--line-numbers]`` listings.

The seed articles show rule sets as ``iptables -L`` listings; the fixtures transcribe
them into ``iptables-save`` text. This reader lets a test compare the two: it reads a
listing into plain data, and ``compare`` checks a parsed model (``_iptables.parse``)
against it chain by chain, so a transcription mistake fails a test.

Only what a listing really shows is compared. The columns are taken from the column
header line, so listings with the ``num``/``pkts``/``bytes`` columns and the article
excerpts that drop columns are read alike. Listings copied from blogs may elide parts:
a line such as ``中略`` ("omitted") marks the chain above it as incomplete.
"""

from __future__ import absolute_import, division, print_function

import re

_CHAIN = re.compile(
    r"^Chain (?P<name>\S+) \((?:policy (?P<policy>\S+)"
    r"(?: (?P<pkts>\S+) packets, (?P<bytes>\S+) bytes)?|(?P<refs>\d+) references)\)$")
COLUMNS = ("num", "pkts", "bytes", "target", "prot", "opt", "in", "out", "source",
           "destination")
# Protocol column: names (iptables <= 1.8.9) or numbers (1.8.10+, e.g. Docker 28 hosts).
PROTOCOLS = {"0": "all", "1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp",
             "132": "sctp", "icmpv6": "ipv6-icmp"}
ELISIONS = ("中略", "...", "…")


class ListingError(ValueError):
    pass


def read_listing(text, elisions=ELISIONS):
    """Read an ``iptables -L`` listing.

    Returns ``{"chains": {name: CHAIN}, "partial": bool}`` (chains in listing order), with
    CHAIN ``{"policy", "counters", "references", "columns", "rules", "elided"}`` and each
    rule a dict of the listing's columns plus ``extra`` (the match/target text after the
    columns, whitespace collapsed). Raises ``ListingError`` on a line it cannot place.
    """
    chains = {}
    chain = None
    partial = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line in elisions:
            partial = True
            if chain is not None:
                chain["elided"] = True
            continue
        m = _CHAIN.match(line)
        if m:
            name = m.group("name")
            if name in chains:
                raise ListingError("line %d: chain %s listed twice" % (lineno, name))
            chain = {"policy": m.group("policy"),
                     "counters": _counters(m.group("pkts"), m.group("bytes")),
                     "references": int(m.group("refs")) if m.group("refs") else None,
                     "columns": None, "rules": [], "elided": False}
            chains[name] = chain
            continue
        if chain is None:
            raise ListingError("line %d: text before the first Chain line: %r" % (lineno, raw))
        tokens = line.split()
        if "target" in tokens and "prot" in tokens:
            if chain["columns"] is not None or chain["rules"]:
                raise ListingError("line %d: second column header in chain" % lineno)
            unknown = [t for t in tokens if t not in COLUMNS]
            if unknown:
                raise ListingError("line %d: unknown columns %s" % (lineno, unknown))
            chain["columns"] = tokens
            continue
        columns = chain["columns"]
        if columns is None:
            raise ListingError("line %d: rule before the column header: %r" % (lineno, raw))
        if len(tokens) < len(columns):
            raise ListingError("line %d: %d columns expected: %r" % (lineno, len(columns), raw))
        rule = dict(zip(columns, tokens))
        rule["extra"] = " ".join(tokens[len(columns):])
        if "num" in rule:
            if not rule["num"].isdigit():
                raise ListingError("line %d: bad rule number: %r" % (lineno, raw))
            rule["num"] = int(rule["num"])
        if "opt" in rule and rule["opt"] not in ("--", "-f", "!f"):
            raise ListingError("line %d: bad opt column %r (columns misread?)" % (lineno, rule["opt"]))
        chain["rules"].append(rule)
    return {"chains": chains, "partial": partial}


def _counters(pkts, nbytes):
    """Exact counters, or None when absent or rounded (``5894K``)."""
    if pkts is None or not (pkts.isdigit() and nbytes.isdigit()):
        return None
    return [int(pkts), int(nbytes)]


# ---------------------------------------------------------------------------
# How a parsed rule (the _iptables model) shows in a listing.

def _negatable(value, negated):
    return ("!" if negated else "") + value


def _address(value, family):
    if value is None:
        return "::/0" if family == "ipv6" else "0.0.0.0/0"
    if "/" in value:
        addr, prefix = value.split("/", 1)
        if prefix == ("128" if ":" in addr else "32"):
            return addr  # -L prints a host address without its prefix
    return value


def protocol_name(value):
    neg = value.startswith("!")
    value = value.lstrip("!")
    value = PROTOCOLS.get(value.lower(), value.lower())
    return ("!" if neg else "") + value


def _port(value, negated, single, plural):
    neg = "!" if negated else ""
    if ":" in value:
        return "%ss:%s%s" % (plural, neg, value)
    return "%s:%s%s" % (single, neg, value)


def _match_text(match):
    """The text iptables -L prints for the matches the seed fixtures use."""
    name, opts = match["name"], match["options"]
    neg = match.get("negated", ())
    out = []
    if name in ("tcp", "udp"):
        words = [name]
        if "sport" in opts:
            words.append(_port(opts["sport"], "sport" in neg, "spt", "spt"))
        if "dport" in opts:
            words.append(_port(opts["dport"], "dport" in neg, "dpt", "dpt"))
        extra = set(opts) - {"sport", "dport"}
        if extra:
            raise ListingError("no listing text for %s options %s" % (name, sorted(extra)))
        out.append(" ".join(words))
    elif name == "conntrack":
        for key, value in opts.items():
            out.append("%s%s %s" % ("! " if key in neg else "", key, value))
    elif name == "state":
        out.append("%sstate %s" % ("! " if "state" in neg else "", opts["state"]))
    elif name == "addrtype":
        words = ["ADDRTYPE match"]
        for key in ("src-type", "dst-type"):
            if key in opts:
                words.append("%s%s %s" % (key, " !" if key in neg else "", opts[key]))
        out.append(" ".join(words))
    else:
        raise ListingError("no listing text for match %r" % name)
    return out


def rule_extra(rule):
    """The trailing text ``iptables -L -n`` prints for this parsed rule."""
    out = []
    for match in rule.get("matches", ()):
        out.extend(_match_text(match))
    target = rule.get("target")
    topts = rule.get("target_options", {})
    if target == "DNAT":
        out.append("to:%s" % topts["to-destination"])
    elif target == "SNAT":
        out.append("to:%s" % topts["to-source"])
    elif target == "REJECT" and topts:
        out.append("reject-with %s" % topts["reject-with"])
    elif topts and target not in ("MASQUERADE",):
        raise ListingError("no listing text for target %s %s" % (target, topts))
    return " ".join(" ".join(out).split())


def listed_rule(rule, family="ipv4"):
    """The listing columns of a parsed rule (what ``iptables -L -n -v`` shows)."""
    negated = rule.get("negated", ())
    proto = rule.get("protocol", "all")
    return {
        "target": rule.get("target", ""),
        "prot": protocol_name(_negatable(proto, "protocol" in negated)),
        "in": _negatable(rule.get("in_interface", "*"), "in_interface" in negated),
        "out": _negatable(rule.get("out_interface", "*"), "out_interface" in negated),
        "source": _negatable(_address(rule.get("source"), family), "source" in negated),
        "destination": _negatable(_address(rule.get("destination"), family),
                                  "destination" in negated),
        "extra": rule_extra(rule),
    }


def _listing_side(lrule, defaults, redact):
    out = {}
    for key in ("target", "prot", "in", "out", "source", "destination"):
        value = lrule.get(key, defaults.get(key))
        if value is None:
            continue
        value = redact.get(value, value)
        out[key] = protocol_name(value) if key == "prot" else value
    out["extra"] = " ".join(redact.get(w, w) for w in lrule["extra"].split())
    return out


def compare(listing, model, table, partial=False, prefix=(), defaults=None, redact=None):
    """Differences between a listing and the model's ``table``; an empty list if none.

    ``partial``: the listing shows only some chains (an excerpt). ``prefix``: chains whose
    listed rules may be followed by more (``grep -A`` cut them). A chain the listing
    marks as elided also compares as a prefix. Rules listed with ``num`` are compared
    with the model's rule of that number. ``defaults``: values for columns the listing
    dropped; ``redact``: listing value -> transcribed value (redacted addresses).
    """
    defaults = defaults or {}
    redact = redact or {}
    problems = []
    tbl = model["tables"].get(table)
    if tbl is None:
        return ["table %s missing from the model" % table]
    mchains = tbl["chains"]
    if not (partial or listing["partial"]):
        if list(listing["chains"]) != list(mchains):
            problems.append("%s chains: listing %s, model %s"
                            % (table, list(listing["chains"]), list(mchains)))
    for name, lchain in listing["chains"].items():
        mchain = mchains.get(name)
        where = "%s/%s" % (table, name)
        if mchain is None:
            problems.append("%s: chain missing from the model" % where)
            continue
        if (lchain["policy"] is None) != (not mchain["builtin"]):
            problems.append("%s: builtin in one, user chain in the other" % where)
        if lchain["policy"] != mchain["policy"]:
            problems.append("%s: policy %s, model %s" % (where, lchain["policy"], mchain["policy"]))
        if lchain["counters"] is not None and lchain["counters"] != mchain["counters"]:
            problems.append("%s: policy counters %s, model %s"
                            % (where, lchain["counters"], mchain["counters"]))
        mrules = mchain["rules"]
        lrules = lchain["rules"]
        numbered = bool(lrules) and "num" in lrules[0]
        complete = not (lchain["elided"] or name in prefix or numbered and
                        [r["num"] for r in lrules] != list(range(1, len(lrules) + 1)))
        if complete and len(lrules) != len(mrules):
            problems.append("%s: %d rules listed, model has %d" % (where, len(lrules), len(mrules)))
        for pos, lrule in enumerate(lrules):
            index = lrule["num"] - 1 if numbered else pos
            if index >= len(mrules):
                problems.append("%s#%d: missing from the model" % (where, index + 1))
                continue
            mrule = mrules[index]
            want = _listing_side(lrule, defaults, redact)
            try:
                got = listed_rule(mrule, model["family"])
            except (ListingError, KeyError) as exc:
                problems.append("%s#%d: %s" % (where, index + 1, exc))
                continue
            for key, value in want.items():
                if got[key] != value:
                    problems.append("%s#%d %s: listing %r, model %r (%s)"
                                    % (where, index + 1, key, value, got[key], mrule["rule"]))
            lcount = _counters(lrule.get("pkts"), lrule.get("bytes"))
            if lcount is not None and "counters" in mrule and lcount != mrule["counters"]:
                problems.append("%s#%d counters: listing %s, model %s"
                                % (where, index + 1, lcount, mrule["counters"]))
    return problems
