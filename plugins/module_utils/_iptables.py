# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse ``iptables-save`` / ``ip6tables-save`` (and ``iptables -S``) text into a model.

The model is plain JSON-able data, the same that ``iptables_facts`` returns::

    {"family": "ipv4",
     "tables": {"filter": {"chains": {"INPUT": {"builtin": True, "policy": "ACCEPT",
                                                "counters": [0, 0], "rules": [RULE, ...]}}}}}

A RULE keeps its text (``rule``, normalised, without counters) and the parsed parts:
``source destination in_interface out_interface protocol fragment`` (present only when
given), ``negated`` (the names of those that carry ``!``), ``matches`` (list of
``{"name", "options", "negated"?, "known"?: False}``), ``target``, ``target_options``,
``goto`` and ``counters``. A match module (or option) this parser does not know is kept
with ``known: False`` and listed in the rule's ``unknown``; it is never dropped.

Pure Python, no Ansible import: usable by modules, filters and tests alike. Errors are
``IptablesParseError`` (a ``ValueError``) naming the line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex

BUILTIN_CHAINS = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}
TABLES = tuple(BUILTIN_CHAINS)
FAMILIES = ("ipv4", "ipv6")

# Rule parameters (iptables prints the short form) -> model key.
PARAMETERS = {
    "-s": "source", "--source": "source",
    "-d": "destination", "--destination": "destination",
    "-i": "in_interface", "--in-interface": "in_interface",
    "-o": "out_interface", "--out-interface": "out_interface",
    "-p": "protocol", "--protocol": "protocol",
}
PARAMETER_FLAGS = {"-f": "fragment", "--fragment": "fragment"}
SHORT = {"source": "-s", "destination": "-d", "in_interface": "-i",
         "out_interface": "-o", "protocol": "-p", "fragment": "-f"}

# Match modules whose options we know. Anything else is kept and marked unknown.
KNOWN_MATCHES = {
    "tcp": ("sport", "dport", "tcp-flags", "syn", "tcp-option", "source-port",
            "destination-port"),
    "udp": ("sport", "dport", "source-port", "destination-port"),
    "sctp": ("sport", "dport", "chunk-types"),
    "udplite": ("sport", "dport"),
    "dccp": ("sport", "dport"),
    "icmp": ("icmp-type",),
    "icmp6": ("icmpv6-type",),
    "icmpv6": ("icmpv6-type",),
    "multiport": ("sports", "dports", "ports", "source-ports", "destination-ports"),
    "conntrack": ("ctstate", "ctproto", "ctorigsrc", "ctorigdst", "ctreplsrc",
                  "ctrepldst", "ctorigsrcport", "ctorigdstport", "ctreplsrcport",
                  "ctrepldstport", "ctstatus", "ctexpire", "ctdir"),
    "state": ("state",),
    "addrtype": ("src-type", "dst-type", "limit-iface-in", "limit-iface-out"),
    "comment": ("comment",),
    "set": ("match-set", "return-nomatch", "update-counters", "update-subcounters",
            "packets-eq", "packets-lt", "packets-gt", "bytes-eq", "bytes-lt",
            "bytes-gt"),
    "mark": ("mark",),
    "connmark": ("mark",),
    "iprange": ("src-range", "dst-range"),
    "physdev": ("physdev-in", "physdev-out", "physdev-is-in", "physdev-is-out",
                "physdev-is-bridged"),
    "pkttype": ("pkt-type",),
    "limit": ("limit", "limit-burst"),
    "owner": ("uid-owner", "gid-owner", "socket-exists", "suppl-groups"),
    "mac": ("mac-source",),
    "length": ("length",),
    "ttl": ("ttl-eq", "ttl-gt", "ttl-lt"),
    "hl": ("hl-eq", "hl-gt", "hl-lt"),
    "recent": ("name", "set", "rcheck", "update", "remove", "seconds", "reap",
               "hitcount", "rttl", "rsource", "rdest", "mask"),
    "hashlimit": ("hashlimit-upto", "hashlimit-above", "hashlimit-burst",
                  "hashlimit-mode", "hashlimit-srcmask", "hashlimit-dstmask",
                  "hashlimit-name", "hashlimit-htable-size", "hashlimit-htable-max",
                  "hashlimit-htable-expire", "hashlimit-htable-gcinterval",
                  "hashlimit-rate-match", "hashlimit-rate-interval"),
    "connlimit": ("connlimit-upto", "connlimit-above", "connlimit-mask",
                  "connlimit-saddr", "connlimit-daddr"),
    "ipvs": ("ipvs", "vproto", "vaddr", "vport", "vdir", "vmethod", "vportctl"),
    "statistic": ("mode", "probability", "every", "packet"),
    "rpfilter": ("loose", "validmark", "accept-local", "invert"),
    "socket": ("transparent", "nowildcard", "restore-skmark"),
    "policy": ("dir", "pol", "strict", "reqid", "spi", "proto", "mode", "tunnel-src",
               "tunnel-dst", "next"),
    "string": ("algo", "from", "to", "string", "hex-string", "icase"),
    "devgroup": ("src-group", "dst-group"),
    "cgroup": ("path", "cgroup"),
    "u32": ("u32",),
    "ipv6header": ("header", "soft"),
    "frag": ("fragid", "fraglen", "fragres", "fragfirst", "fragmore", "fraglast"),
    "rt": ("rt-type", "rt-segsleft", "rt-len", "rt-0-res", "rt-0-addrs", "rt-0-not-strict"),
    "ah": ("ahspi",), "esp": ("espspi",),
    "helper": ("helper",),
    "tos": ("tos",), "dscp": ("dscp", "dscp-class"),
    "time": ("datestart", "datestop", "timestart", "timestop", "monthdays", "weekdays",
             "kerneltz", "contiguous"),
}

_COUNTERS = re.compile(r"^\[(\d+):(\d+)\]\Z")
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_-]+\Z")  # xtables_save_string() leaves these bare
# A "quoted string" (backslash escapes inside) standing alone, or a bare token.
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"(?=\s|\Z)|(\S+)')
_UNESCAPE = re.compile(r"\\(.)")
_ESCAPE = re.compile(r"[\\\"']")  # what xtables_save_string() escapes
_APPEND = re.compile(r"^(?:-A|--append)\s+(\S+)\s*(.*)\Z")
_SPEC_COUNTERS = re.compile(r"\s-c\s+\d+\s+\d+(?=\s|\Z)")


class _Quoted(str):
    """A token that was written in quotes: always a value, never an option."""


class IptablesParseError(ValueError):
    """Text that is not iptables-save / iptables -S output; names the line."""

    def __init__(self, message, lineno=None, line=None):
        if lineno is not None:
            message = "line %d: %s: %r" % (lineno, message, line)
        super(IptablesParseError, self).__init__(message)
        self.lineno = lineno
        self.line = line


def _split(line, lineno):
    """Tokenise one rule line; iptables-save quotes with "..." and escapes with \\."""
    if '"' not in line and "\\" not in line and "'" not in line:
        return line.split()
    tokens = []
    for quoted, bare in _TOKEN.findall(line):
        if bare:
            if '"' in bare or "'" in bare or "\\" in bare:
                break  # an unusual form: let shlex decide (or complain)
            tokens.append(bare)
        else:
            tokens.append(_Quoted(_UNESCAPE.sub(r"\1", quoted)))
    else:
        return tokens
    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:
        raise IptablesParseError("unbalanced quotes (%s)" % exc, lineno, line)


def quote(token):
    """Quote a string the way iptables-save quotes comments and other free text."""
    if token and _SAFE_TOKEN.match(token):
        return token
    return '"%s"' % _ESCAPE.sub(r"\\\g<0>", token)


def new_model(family="ipv4"):
    if family not in FAMILIES:
        raise ValueError("family must be one of %s, got %r" % (", ".join(FAMILIES), family))
    return {"family": family, "tables": {}}


def _table(model, name):
    tables = model["tables"]
    if name not in tables:
        tables[name] = {"chains": {}}
    return tables[name]


def _chain(table_model, table_name, name, policy=None, counters=None):
    chains = table_model["chains"]
    chain = chains.get(name)
    if chain is None:
        builtin = name in BUILTIN_CHAINS.get(table_name, ())
        chain = {"builtin": builtin, "policy": policy if builtin else None,
                 "counters": counters, "rules": []}
        chains[name] = chain
    elif policy is not None and chain["builtin"]:
        chain["policy"] = policy
        if counters is not None:
            chain["counters"] = counters
    return chain


def _is_option(token):
    return token.startswith("-") and len(token) > 1 and not token[1].isdigit()


class _RuleParser(object):
    """One rule being parsed: its tokens and what was read so far.

    ``run`` hands each token to the handler of its kind (``_BEFORE_TARGET`` /
    ``_AFTER_TARGET``; any other ``--name`` is an option of the current match, or of the
    target once there is one); a handler consumes its token at ``i`` and the arguments
    that follow it, and returns where the next token starts.
    """

    __slots__ = ("tokens", "quoted", "lineno", "line", "rule", "negated", "matches",
                 "unknown", "match", "target", "target_options", "negate")

    def __init__(self, tokens, lineno, line):
        self.quoted = ()
        if _Quoted in map(type, tokens):
            # quoted tokens are values even when they look like options
            self.quoted = frozenset(k for k, t in enumerate(tokens) if isinstance(t, _Quoted))
            tokens = [str(t) for t in tokens]
        self.tokens = tokens
        self.lineno, self.line = lineno, line
        self.rule = {}
        self.negated = []
        self.matches = []
        self.unknown = []
        self.match = None          # the match whose options follow
        self.target = None         # the target once -j/-g was seen (its options follow)
        self.target_options = {}
        self.negate = False

    def error(self, message):
        return IptablesParseError(message, self.lineno, self.line)

    def run(self):
        tokens = self.tokens
        n = len(tokens)
        before, after = _BEFORE_TARGET.get, _AFTER_TARGET.get
        i = 0
        while i < n:
            tok = tokens[i]
            if self.target is None:
                handler = before(tok, _RuleParser.match_option)
            else:
                handler = after(tok, _RuleParser.target_option)
            i = handler(self, tok, i)
        return self.result()

    def result(self):
        if self.negate:
            raise self.error("'!' with nothing after it")
        rule = self.rule
        if self.negated:
            rule["negated"] = self.negated
        if self.matches:
            rule["matches"] = self.matches
        if self.unknown:
            rule["unknown"] = self.unknown
        if self.target is not None:
            rule["target"] = self.target
            if self.target_options:
                rule["target_options"] = self.target_options
        return rule

    def _token_at(self, j, missing, *args):
        """The token at ``j``; an error saying ``missing % args`` when the rule ends before."""
        if j < len(self.tokens):
            return self.tokens[j]
        raise self.error(missing % args)

    def bang(self, tok, i):
        """``!``: negates what follows."""
        self.negate = True
        return i + 1

    def parameter(self, tok, i):
        """``-s -d -i -o -p`` VALUE, also in the old form ``-s ! VALUE``."""
        value = self._token_at(i + 1, "%s needs a value", tok)
        if value == "!":
            self.negate = True
            i += 1
            value = self._token_at(i + 1, "%s ! needs a value", tok)
        key = PARAMETERS[tok]
        self.rule[key] = value
        if self.negate:
            self.negated.append(key)
            self.negate = False
        self.match = None
        return i + 2

    def fragment(self, tok, i):
        """``-f``: a flag without value."""
        self.rule["fragment"] = True
        if self.negate:
            self.negated.append("fragment")
            self.negate = False
        return i + 1

    def match_module(self, tok, i):
        """``-m NAME``: the options that follow belong to this match."""
        self.match = self._add_match(self._token_at(i + 1, "-m needs a match name"))
        self.negate = False
        return i + 2

    def _add_match(self, name):
        match = {"name": name, "options": {}}
        if name not in KNOWN_MATCHES:
            match["known"] = False
            self.unknown.append(name)
        self.matches.append(match)
        return match

    def jump(self, tok, i):
        """``-j`` / ``-g TARGET``: the options that follow are the target's."""
        self.target = self._token_at(i + 1, "%s needs a target", tok)
        if tok in ("-g", "--goto"):
            self.rule["goto"] = True
        self.match = None
        return i + 2

    def counters(self, tok, i):
        """``-c PACKETS BYTES`` (iptables -S -v)."""
        try:
            self.rule["counters"] = [int(self.tokens[i + 1]), int(self.tokens[i + 2])]
        except (ValueError, IndexError):
            raise self.error("-c needs two numbers")
        self.match = None
        return i + 3

    def match_option(self, tok, i):
        """``--name [ARG...]`` of the current match (or of -p's implicit one)."""
        if not tok.startswith("--"):
            raise self.error("unexpected %r" % tok)
        value, j = self._arguments(i + 1)
        match, name = self.match or self._implicit_match(tok), tok[2:]
        known = KNOWN_MATCHES.get(match["name"])
        if known is not None and name not in known:
            match["known"] = False
            self.unknown.append("%s --%s" % (match["name"], name))
        _put(match["options"], name, value)
        if self.negate:
            match.setdefault("negated", []).append(name)
            self.negate = False
        return j

    def _implicit_match(self, tok):
        """An option before any -m: iptables' implicit protocol match (``-p tcp --dport 80``)."""
        proto = self.rule.get("protocol")
        if not proto:
            raise self.error("option %s belongs to no match (add -m MATCH)" % tok)
        self.match = self._add_match(proto)
        return self.match

    def target_option(self, tok, i):
        """``--name [ARG...]`` of the target (-j DNAT --to-destination ...)."""
        if not tok.startswith("--"):
            raise self.error("unexpected %r" % tok)
        value, j = self._arguments(i + 1)
        if self.negate:
            raise self.error("'!' before target option %s" % tok)
        _put(self.target_options, tok[2:], value)
        return j

    def _arguments(self, start):
        """An option's arguments from ``start`` up to the next option, and where that is.

        A flag gives True; one argument a string; several (--tcp-flags M C) a list. The
        old syntax ``--dport ! 80`` sets ``negate``.
        """
        tokens, j = self.tokens, self._next_option(start)
        if j == start and j + 1 < len(tokens) and tokens[j] == "!" and not _is_option(tokens[j + 1]):
            self.negate = True
            start = j + 1
            j = self._next_option(start)
        if j - start == 1:
            return tokens[start], j
        return (tokens[start:j] if j > start else True), j

    def _next_option(self, j):
        """Where the next option (or ``!``) at or after ``j`` starts; quoted tokens are values."""
        tokens, quoted, n = self.tokens, self.quoted, len(self.tokens)
        while j < n:
            tok = tokens[j]
            if (tok == "!" or _is_option(tok)) and j not in quoted:
                return j
            j += 1
        return j


# Token -> handler. Before -j/-g every kind counts; after it only ``!`` and another
# -j/-g do. Any other token is an option (``--name``) of the match, or of the target.
_AFTER_TARGET = dict.fromkeys(("-j", "--jump", "-g", "--goto"), _RuleParser.jump)
_AFTER_TARGET["!"] = _RuleParser.bang
_BEFORE_TARGET = dict(_AFTER_TARGET)
_BEFORE_TARGET.update(dict.fromkeys(PARAMETERS, _RuleParser.parameter))
_BEFORE_TARGET.update(dict.fromkeys(PARAMETER_FLAGS, _RuleParser.fragment))
_BEFORE_TARGET.update(dict.fromkeys(("-m", "--match"), _RuleParser.match_module))
_BEFORE_TARGET.update(dict.fromkeys(("-c", "--set-counters"), _RuleParser.counters))


def parse_rule(tokens, lineno=None, line=None):
    """Parse the tokens after ``-A CHAIN`` into a rule dict (without ``rule``/counters)."""
    return _RuleParser(tokens, lineno, line).run()


def _put(options, name, value):
    """Set an option; a repeated one is kept as ``name#2``, ``name#3``... in order."""
    key, k = name, 1
    while key in options:
        k += 1
        key = "%s#%d" % (name, k)
    options[key] = value


def _option_tokens(name, value, negated=False):
    out = ["!"] if negated else []
    out.append("--" + name.split("#", 1)[0])
    if value is True:
        return out
    return out + [quote(v) for v in (value if isinstance(value, list) else [value])]


def _add_rule(chain, chain_name, body, counters, lineno, line):
    """Parse ``body`` (the rule text after ``-A CHAIN``) and append it to the chain."""
    tokens = _split(body, lineno)
    rule = parse_rule(tokens, lineno, line)
    if counters is not None:
        rule["counters"] = counters
    elif "counters" in rule:
        # "-c P B" of iptables -S -v: the counters move out, the text keeps the rest.
        body = _SPEC_COUNTERS.sub("", " " + body).strip()
    rule["rule"] = ("-A %s %s" % (chain_name, body)).rstrip()
    chain["rules"].append(rule)


def parse_save(text, family="ipv4"):
    """Parse ``iptables-save`` (optionally ``-c``) output. Returns the model."""
    if not isinstance(text, str):
        raise IptablesParseError("iptables-save output must be text, got %s" % type(text).__name__)
    model = new_model(family)
    table = None
    table_name = None
    table_at = (None, None)
    for lineno, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.strip()
        if not line or line[0] == "#":
            continue
        head = line[0]
        if head == "*":
            if table is not None:
                raise IptablesParseError("table %s not closed by COMMIT" % table_name, lineno, raw_line)
            table_name = line[1:].strip()
            table_at = (lineno, raw_line)
            if table_name not in BUILTIN_CHAINS:
                raise IptablesParseError("unknown table %r" % table_name, lineno, raw_line)
            table = _table(model, table_name)
            continue
        if line == "COMMIT":
            if table is None:
                raise IptablesParseError("COMMIT outside a table", lineno, raw_line)
            table = None
            continue
        if table is None:
            raise IptablesParseError("not inside a table (expected '*filter' or similar first)",
                                     lineno, raw_line)
        if head == ":":
            parts = line[1:].split()
            if len(parts) < 2:
                raise IptablesParseError("chain line needs a name and a policy", lineno, raw_line)
            counters = None
            if len(parts) > 2:
                m = _COUNTERS.match(parts[2])
                if not m:
                    raise IptablesParseError("bad chain counters", lineno, raw_line)
                counters = [int(m.group(1)), int(m.group(2))]
            policy = None if parts[1] == "-" else parts[1]
            _chain(table, table_name, parts[0], policy, counters)
            continue
        counters = None
        if head == "[":
            end = line.find("]")
            m = _COUNTERS.match(line[:end + 1]) if end > 0 else None
            if not m:
                raise IptablesParseError("bad rule counters", lineno, raw_line)
            counters = [int(m.group(1)), int(m.group(2))]
            line = line[end + 1:].lstrip()
        m = _APPEND.match(line)
        if not m:
            raise IptablesParseError("expected '-A CHAIN ...'", lineno, raw_line)
        chain_name = m.group(1)
        chain = table["chains"].get(chain_name)
        if chain is None:
            raise IptablesParseError("rule for undeclared chain %r" % chain_name, lineno, raw_line)
        _add_rule(chain, chain_name, m.group(2), counters, lineno, raw_line)
    if table is not None:
        raise IptablesParseError("table %s opened here is not closed by COMMIT (truncated output?)"
                                 % table_name, table_at[0], table_at[1])
    return model


def parse_spec(text, table="filter", family="ipv4", model=None):
    """Parse ``iptables [-t TABLE] -S`` output (``-P``, ``-N``, ``-A`` lines) into a model.

    Several tables' listings can be merged by passing the same ``model`` again.
    """
    if table not in BUILTIN_CHAINS:
        raise IptablesParseError("unknown table %r" % (table,))
    if model is None:
        model = new_model(family)
    tbl = _table(model, table)
    for lineno, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.strip()
        if not line or line[0] == "#":
            continue
        m = _APPEND.match(line)
        if m:
            chain = tbl["chains"].get(m.group(1))
            if chain is None:  # -S lists -N before -A, but be lenient with excerpts
                chain = _chain(tbl, table, m.group(1))
            _add_rule(chain, m.group(1), m.group(2), None, lineno, raw_line)
            continue
        tokens = _split(line, lineno)
        op = tokens[0]
        if op in ("-P", "--policy") and len(tokens) >= 3:
            counters = None
            if len(tokens) > 3:
                if len(tokens) != 6 or tokens[3] != "-c" or not (tokens[4].isdigit() and tokens[5].isdigit()):
                    raise IptablesParseError("expected -P CHAIN POLICY [-c PACKETS BYTES]", lineno, raw_line)
                counters = [int(tokens[4]), int(tokens[5])]
            _chain(tbl, table, tokens[1], tokens[2], counters)
        elif op in ("-N", "--new-chain", "--new") and len(tokens) == 2:
            _chain(tbl, table, tokens[1])
        else:
            raise IptablesParseError("expected -P, -N or -A", lineno, raw_line)
    return model


def parse(text, family="ipv4", table="filter"):
    """Parse either format: iptables-save if it has a ``*table`` line, else ``-S``."""
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] == "#":
            continue
        if s[0] in "*:[":
            return parse_save(text, family)
        break
    return parse_spec(text, table, family)


def render(model, counters=True):
    """Render a model back to iptables-save text (what iptables-restore reads)."""
    out = []
    for table_name, table in model["tables"].items():
        out.append("*" + table_name)
        for name, chain in table["chains"].items():
            c = chain.get("counters")
            line = ":%s %s" % (name, chain["policy"] or "-")
            if counters and c is not None:
                line += " [%d:%d]" % (c[0], c[1])
            out.append(line)
        for name, chain in table["chains"].items():
            for rule in chain["rules"]:
                c = rule.get("counters")
                if counters and c is not None:
                    out.append("[%d:%d] %s" % (c[0], c[1], rule["rule"]))
                else:
                    out.append(rule["rule"])
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


def count_rules(model):
    return sum(len(c["rules"]) for t in model["tables"].values() for c in t["chains"].values())


def rule_text(rule):
    """Rebuild a rule's iptables text from its parsed parts (not from ``rule``).

    Used to prove that the parsed fields hold everything: for any parsed rule, the
    tokens of ``rule_text(rule)`` equal those of its own text after ``-A CHAIN``.
    """
    parts = []
    negated = rule.get("negated", ())
    for key in ("source", "destination", "in_interface", "out_interface", "protocol"):
        if key in rule:
            parts.extend((["!"] if key in negated else []) + [SHORT[key], quote(rule[key])])
    if rule.get("fragment"):
        parts.extend((["!"] if "fragment" in negated else []) + ["-f"])
    for match in rule.get("matches", ()):
        parts.extend(["-m", match["name"]])
        mneg = match.get("negated", ())
        for name, value in match["options"].items():
            parts.extend(_option_tokens(name, value, name in mneg))
    if "target" in rule:
        parts.extend(["-g" if rule.get("goto") else "-j", rule["target"]])
        for name, value in rule.get("target_options", {}).items():
            parts.extend(_option_tokens(name, value))
    return " ".join(parts)
