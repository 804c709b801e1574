# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet reports of the exposure audit: text, Markdown and a self-contained HTML page.

Input: a list of host reports (``_exposure_audit.audit_host``). Every format shows the
same things: a summary (hosts x published ports, by verdict), one row per published port
and interface, the findings, and per host and port the path each probe's packet takes,
drawn as boxes - source -> nat PREROUTING (DNAT) -> routing -> filter FORWARD
(DOCKER-USER, our chain, Docker's chains) -> the container; or -> filter INPUT -> the
host's socket for host networking. ``diagram(probe)`` builds those boxes once; each
format only lays them out. The HTML page has no script and loads nothing: its style
is inline.

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from html import escape

from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure import (
    PACKET_TITLES, packet_of, stopped_packet)
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import BUILTIN_CHAINS

VERDICT_ORDER = ("unexpected", "unknown", "expected", "filtered")
LABELS = {"unexpected": "UNEXPECTED", "unknown": "UNKNOWN", "expected": "expected",
          "filtered": "filtered", "exposed": "EXPOSED"}
MARKS = {"unexpected": u"\U0001F534", "unknown": u"\U0001F7E0", "expected": u"\U0001F7E2",
         "filtered": u"\u26AA", "pass": u"\U0001F7E2", "warn": u"\U0001F7E0",
         "fail": u"\U0001F534"}
ARROW = u"\u2192"
QUIET_TABLES = ("raw", "mangle", "security")


# --- the path as boxes --------------------------------------------------------------

def _step_line(s, decided_by):
    rule = s.get("rule") or ""
    prefix = "-A %s " % s["chain"] if s.get("chain") else ""
    if rule.startswith(prefix):
        rule = rule[len(prefix):]
    label = s["chain"] if s["number"] is None else "%s#%d" % (s["chain"], s["number"])
    decisive = decided_by is not None and decided_by in (s["ref"], s["ref"] + " policy")
    effect = s["effect"]
    loud = effect.upper()  # nft steps say "accept", "dnat to", "policy drop"
    if loud.startswith("DNAT") or loud.startswith("REDIRECT"):
        kind = "nat"
    elif loud in ("ACCEPT", "POLICY ACCEPT") and decisive:
        kind = "accept"
    elif loud.split(" ")[0] in ("DROP", "REJECT") or loud in ("POLICY DROP", "POLICY REJECT"):
        kind = "drop"
    else:
        kind = "pass"
    return {"label": label, "rule": rule, "effect": effect, "ref": s["ref"],
            "decisive": decisive, "kind": kind}


def _quiet(box):
    return (box["table"] in QUIET_TABLES or box.get("nft")) and not any(
        ln["decisive"] or ln["rule"] for ln in box["lines"])


def _end_box(probe, target=None):
    verdict = probe["verdict"]
    sent = (probe.get("probe") or {})
    where = probe.get("dnat") or "%s:%s" % (sent.get("destination"), sent.get("dport"))
    name = (target or {}).get("name")
    if verdict == "exposed":
        if probe.get("path") == "forward":
            title = "container %s%s" % ("%s at " % name if name else "", where)
        elif (target or {}).get("kind") == "host-network":
            title = "socket of %s (host network) on %s" % (name or "?", where)
        else:
            title = "socket on the host %s" % where
        text = probe.get("reason") or ""
        kind = "exposed"
    elif verdict == "filtered":
        action = probe.get("action") or "filtered"
        title = {"DROP": "dropped", "REJECT": "rejected", "closed": "nothing listens",
                 "martian": "dropped (martian)", "not-local": "not for this host"}.get(action, action)
        if probe.get("decided_by"):
            title += " by %s" % probe["decided_by"]
        text = probe.get("reason") or ""
        kind = "filtered"
    else:
        title = "unknown"
        text = probe.get("reason") or ""
        kind = "unknown"
    return {"kind": "end", "table": None, "title": title,
            "text": "" if text == title else text, "verdict": kind, "lines": []}


def diagram(probe, target=None):
    """The boxes of a probe's path: ``[{kind, title, text, lines, verdict}]``.

    ``kind`` is ``source``, ``hook`` (a table's built-in chain, with the rules met in it
    and in the chains it jumped to), ``routing``, ``reply`` (the answer's way back, shown
    only when it decided) or ``end``."""
    src = probe["source"]
    boxes = [{"kind": "source", "table": None, "title": "source %s" % src["address"],
              "text": "%s, arriving on %s" % (src["name"], src["interface"]), "lines": [],
              "verdict": None}]
    decided_by = probe.get("decided_by")
    if decided_by and decided_by.endswith(" (reply)"):
        decided_by = decided_by[:-len(" (reply)")]
    current = None
    segment = None
    stopped = stopped_packet(probe)
    for s in probe.get("trace") or ():
        if s["table"] == "routing":
            now = packet_of(s, segment)
            if now != segment:
                segment = now
                title = PACKET_TITLES[segment]
                text = s["effect"]
                if text.startswith(title):  # "the client's ACK (...), in eth0"
                    text = text[len(title):].lstrip(", :")
                current = {"kind": "reply", "table": "reply", "title": title,
                           "text": text, "lines": [], "verdict": None, "packet": segment}
                boxes.append(current)
                continue
            if segment is not None:
                continue
            boxes.append({"kind": "routing", "table": None, "title": "routing",
                          "text": s["effect"], "lines": [], "verdict": None})
            current = None
            continue
        # an nft base chain opens a box as an iptables built-in chain does
        builtin = s.get("base") if s.get("nft") else \
            s["chain"] in BUILTIN_CHAINS.get(s["table"], ())
        line = _step_line(s, decided_by)
        if segment is not None:
            if line["decisive"] or (line["rule"] and line["kind"] != "pass"):
                line["label"] = "%s %s" % (s["table"], line["label"])
                current["lines"].append(line)
            continue
        if current is None or (builtin and (s["table"], s["chain"]) != current["hook"]) \
                or s["table"] != current["table"]:
            current = {"kind": "hook", "table": s["table"], "hook": (s["table"], s["chain"]),
                       "title": "%s %s" % (s["table"], s["chain"]), "text": "", "lines": [],
                       "verdict": None, "nft": bool(s.get("nft"))}
            boxes.append(current)
        if line["rule"] or line["decisive"]:  # not the end-of-chain returns, policy ACCEPTs
            current["lines"].append(line)
    out = []
    for box in boxes:
        if box["kind"] == "hook" and _quiet(box):
            continue
        if box["kind"] == "reply" and box.pop("packet") != stopped:
            continue  # that packet got through: its way is in the full trace
        box.pop("hook", None)
        box.pop("nft", None)
        if box["kind"] == "hook" and box["table"] == "nat" and \
                not any(ln["kind"] == "nat" for ln in box["lines"]):
            box["text"] = "no DNAT: the destination stays the host's"
        out.append(box)
    out.append(_end_box(probe, target))
    return out


def diagram_text(probe, indent="  ", target=None):
    """The boxes one under the other, for a terminal or a Markdown code block."""
    lines = []
    for k, box in enumerate(diagram(probe, target)):
        if k:
            lines.append(indent + u"   \u2193")
        if box["kind"] == "end":
            mark = {"exposed": u"\u2714 REACHED", "filtered": u"\u2718 STOPPED",
                    "unknown": "? UNKNOWN"}[box["verdict"]]
            lines.append(u"%s[%s] %s" % (indent, mark, box["title"]))
            if box["text"]:
                lines.append(u"%s      %s" % (indent, box["text"]))
            continue
        head = u"%s[%s]" % (indent, box["title"])
        if box["text"]:
            head += u" %s" % box["text"]
        lines.append(head)
        for ln in box["lines"]:
            star = u"\u25B6" if ln["decisive"] else " "
            rule = (" " + ln["rule"]) if ln["rule"] else ""
            lines.append(u"%s   %s %s%s %s %s" % (
                indent, star, ln["label"], rule, ARROW, ln["effect"]))
    return u"\n".join(lines)


# --- shared bits ------------------------------------------------------------------------

def _hosts(reports):
    if isinstance(reports, dict):
        reports = [reports]
    if not isinstance(reports, (list, tuple)):
        raise ValueError("reports must be a list of host reports (exposure_audit), got %s"
                         % type(reports).__name__)
    out = []
    for k, r in enumerate(reports):
        if not isinstance(r, dict) or "rows" not in r or "summary" not in r:
            raise ValueError("reports[%d] is not a host report of exposure_audit" % k)
        out.append(r)
    return sorted(out, key=lambda r: str(r.get("host") or ""))


def _worst(verdicts):
    for v in VERDICT_ORDER:
        if v in verdicts:
            return v
    return None


def _port_key(port):
    number, _sep, proto = port.partition("/")
    return (int(number), proto)


def matrix(reports):
    """(ports, [(host, {port: verdict})]) - the summary grid, worst verdict per cell."""
    reports = _hosts(reports)
    ports = sorted(set(r["port"] for rep in reports for r in rep["rows"]), key=_port_key)
    grid = []
    for rep in reports:
        cells = {}
        for port in ports:
            cells[port] = _worst([r["verdict"] for r in rep["rows"] if r["port"] == port])
        grid.append((rep.get("host") or "?", cells))
    return ports, grid


def totals(reports):
    reports = _hosts(reports)
    out = dict((v, 0) for v in VERDICT_ORDER)
    out.update(hosts=len(reports), ports=0, failed=0, warned=0)
    for rep in reports:
        for v in VERDICT_ORDER:
            out[v] += rep["summary"].get(v, 0)
        out["ports"] += rep["summary"].get("ports", 0)
        out["failed"] += rep["summary"].get("status") == "fail"
        out["warned"] += rep["summary"].get("status") == "warn"
    return out


def not_audited_hosts(not_audited):
    """``[{host, reason, task}]`` from a list of such mappings or ``{host: reason}``."""
    if not not_audited:
        return []
    if isinstance(not_audited, dict):
        not_audited = [{"host": h, "reason": r} for h, r in not_audited.items()]
    if not isinstance(not_audited, (list, tuple)):
        raise ValueError("not_audited must be a list of {host, reason} or {host: reason}, got %s"
                         % type(not_audited).__name__)
    out = []
    for k, item in enumerate(not_audited):
        if not isinstance(item, dict) or not item.get("host"):
            raise ValueError("not_audited[%d]: %r has no host" % (k, item))
        reason = item.get("reason")
        if isinstance(reason, dict):   # a whole task result
            reason = reason.get("msg")
        out.append({"host": str(item["host"]), "reason": str(reason or "unknown reason"),
                    "task": item.get("task")})
    return sorted(out, key=lambda i: i["host"])


DRIFT_LABELS = {"new": "NEW PORT", "removed": "removed", "widened": "WIDENED",
                "narrowed": "narrowed", "verdict": "verdict", "path": "path"}


def drift_rows(reports):
    """(changes [(host, change)], first [hosts], unchanged [hosts]) over the reports that
    carry a ``drift`` (``_exposure_drift.drift``); None when none carries one."""
    if not any(rep.get("drift") for rep in _hosts(reports)):
        return None
    changes, first, unchanged = [], [], []
    for rep in _hosts(reports):
        d = rep.get("drift")
        host = rep.get("host") or "?"
        if not d:
            continue
        if d["status"] == "first":
            first.append(host)
        elif d["status"] == "unchanged":
            unchanged.append(host)
        for c in d.get("changes") or ():
            changes.append((host, c))
    return changes, first, unchanged


def _drift_kinds(change):
    return ", ".join(DRIFT_LABELS.get(k, k) for k in change["kinds"])


def _side_text(side):
    return "%s (%s)" % (side["reachable_from"], LABELS.get(side["verdict"], side["verdict"])) \
        if side else "-"


def _rows(rep):
    return sorted(rep["rows"], key=lambda r: (_port_key(r["port"]), r["family"], r["interface"],
                                              r.get("container") or ""))


# --- text (the console) -------------------------------------------------------------------

def render_text(reports, paths=True, not_audited=None):
    """What a person reads in the terminal: per host, what changed since the last audit,
    its rows and findings with paths; the hosts not audited."""
    out = []
    for item in not_audited_hosts(not_audited):
        out.append(u"%s: NOT AUDITED - %s" % (item["host"], item["reason"]))
    for rep in _hosts(reports):
        d = rep.get("drift")
        if d and d["status"] == "changed":
            out.append(u"%s: changed since the last audit%s%s:" % (
                rep.get("host") or "?", " (%s)" % d["previous_time"] if d.get("previous_time") else "",
                ", exposure WIDENED" if d["widened"] else ""))
            out.extend(u"  %s %s" % (_drift_kinds(c), c["text"]) for c in d["changes"])
    for rep in _hosts(reports):
        s = rep["summary"]
        out.append(u"%s: %s - %d published port(s): %d unexpected, %d unknown, %d expected, "
                   u"%d filtered" % (rep.get("host") or "?", s["status"].upper(), s["ports"],
                                     s["unexpected"], s["unknown"], s["expected"], s["filtered"]))
        for r in _rows(rep):
            out.append(u"  %-10s %-9s %-20s on %-6s reachable from %s (expected: %s)" % (
                LABELS[r["verdict"]], r["port"], r.get("container") or "-", r["interface"],
                r["reachable_from"], r["expected_from"]))
            for p in r["probes"]:
                out.append(u"    from %s: %s" % (p["source"]["name"], p["verdict"].upper()))
                if paths and (p["verdict"] == "exposed" or p["role"] == "named"):
                    out.append(diagram_text(p, indent="      ", target=r["target"]))
    return u"\n".join(out)


# --- Markdown -------------------------------------------------------------------------------

def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


NOT_COMPARED = "Not compared with an earlier audit (no report carries a drift)."


def _markdown_drift(reports, missing):
    compared = drift_rows(reports)
    changes, first, unchanged = compared or ([], [], [])
    out = ["## Changes since the last audit", ""]
    if compared is None:
        out.append(NOT_COMPARED)
    elif changes:
        out += ["| host | port | interface | change | before | after | what changed |",
                "|---|---|---|---|---|---|---|"]
        for host, c in changes:
            out.append("| %s | %s | %s | %s%s | %s | %s | %s |" % (
                _md(host), c["port"], _md(c["interface"]), "**%s**" % _drift_kinds(c),
                " (%s)" % c.get("container") if c.get("container") else "",
                _md(_side_text(c["before"])), _md(_side_text(c["after"])), _md(c["text"])))
    else:
        out.append("No change since the last audit.")
    if unchanged:
        out += ["", "Unchanged: %s." % ", ".join(unchanged)]
    if first:
        out += ["", "First audit (no previous report): %s." % ", ".join(first)]
    if missing:
        out += ["", "## Not audited", "", "| host | reason |", "|---|---|"]
        out += ["| %s | %s |" % (_md(i["host"]), _md(i["reason"])) for i in missing]
    return out + [""]


def render_markdown(reports, title="Docker exposure audit", generated=None, not_audited=None):
    reports = _hosts(reports)
    missing = not_audited_hosts(not_audited)
    t = totals(reports)
    out = ["# %s" % title, ""]
    if generated:
        out += ["Generated %s." % generated, ""]
    out += _markdown_drift(reports, missing)
    out += ["%d host(s), %d published port(s): %s %d unexpected, %s %d unknown, %s %d expected, "
            "%s %d filtered. %d host(s) failed%s." % (
                t["hosts"], t["ports"], MARKS["unexpected"], t["unexpected"], MARKS["unknown"],
                t["unknown"], MARKS["expected"], t["expected"], MARKS["filtered"], t["filtered"],
                t["failed"], ", %d not audited" % len(missing) if missing else ""), ""]
    ports, grid = matrix(reports)
    out += ["## Summary", ""]
    if ports:
        out.append("| host | " + " | ".join(ports) + " |")
        out.append("|---|" + "---|" * len(ports))
        for host, cells in grid:
            out.append("| %s | " % _md(host) + " | ".join(
                "%s %s" % (MARKS[cells[p]], LABELS[cells[p]]) if cells[p] else "" for p in ports)
                + " |")
    else:
        out.append("No published ports.")
    out += ["", "## Published ports", "",
            "| host | port | container | kind | interface | reachable from | expected from | verdict |",
            "|---|---|---|---|---|---|---|---|"]
    for rep in reports:
        for r in _rows(rep):
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s %s |" % (
                _md(rep.get("host") or "?"), r["port"], _md(r.get("container") or "-"), r["kind"],
                _md(r["interface"]), _md(r["reachable_from"]), _md(r["expected_from"]),
                MARKS[r["verdict"]], LABELS[r["verdict"]]))
    findings = [f for rep in reports for f in rep["findings"]]
    out += ["", "## Findings", ""]
    out += ["- %s **%s** %s" % (MARKS[f["verdict"]], LABELS[f["verdict"]], _md(f["text"]))
            for f in findings] or ["None: every published port is reachable only from where it "
                                   "is expected."]
    for rep in reports:
        s = rep["summary"]
        out += ["", "## %s %s - %s" % (MARKS[s["status"]], rep.get("host") or "?",
                                       s["status"].upper()), ""]
        out.append("Docker %s, iptables %s (%s). Interfaces audited: %s." % (
            rep["docker"].get("version") or "?", rep["iptables"].get("version") or "?",
            rep["iptables"].get("backend") or "?", ", ".join(rep["interfaces"]) or "none"))
        if rep["expected"]:
            out.append("")
            out.append("Expected: " + "; ".join(
                "%s %s/%s from %s" % (e["name"], ",".join(e["ports"]), e["protocol"],
                                      ", ".join(e["from"])) for e in rep["expected"]) + ".")
        for r in _rows(rep):
            out += ["", "### %s %s %s on %s (%s)" % (
                MARKS[r["verdict"]], r["port"], r.get("container") or "-", r["interface"],
                LABELS[r["verdict"]]), ""]
            out.append("%s, %s %s. Reachable from **%s**; expected from %s." % (
                r["kind"], r["family"], r["destination"], r["reachable_from"], r["expected_from"]))
            if r["verdict"] == "unexpected":
                out.append("Not expected: **%s**." % r["unexpected_from"])
            for p in r["probes"]:
                out += ["", "From %s (%s): **%s** (%s)." % (
                    _md(p["source"]["name"]), p["source"]["address"], p["verdict"].upper(),
                    p["judgement"]), "", "```", diagram_text(p, target=r["target"]), "```"]
    return "\n".join(out) + "\n"


# --- HTML -------------------------------------------------------------------------------------

CSS = u"""
:root { --red:#c62828; --red-bg:#fdecea; --green:#2e7d32; --green-bg:#e8f5e9;
  --amber:#b26a00; --amber-bg:#fff4e0; --grey:#546e7a; --grey-bg:#eceff1; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  color: #1c2430; background: #f6f7f9; }
header { background: #1c2430; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: .85; }
main { padding: 8px 28px 40px; max-width: 1400px; }
h2 { margin: 28px 0 10px; font-size: 18px; }
h3 { margin: 18px 0 8px; font-size: 15px; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 12px; }
th, td { border: 1px solid #d5dae0; padding: 5px 9px; text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
.v { font-weight: 700; border-radius: 3px; padding: 1px 7px; white-space: nowrap; }
.v-unexpected, td.c-unexpected { background: var(--red-bg); color: var(--red); }
.v-expected, td.c-expected { background: var(--green-bg); color: var(--green); }
.v-filtered, td.c-filtered { background: var(--grey-bg); color: var(--grey); }
.v-unknown, td.c-unknown { background: var(--amber-bg); color: var(--amber); }
.v-fail { background: var(--red); color: #fff; } .v-pass { background: var(--green); color: #fff; }
.v-warn { background: var(--amber); color: #fff; }
td.c-none { background: #fafbfc; color: #9aa5b1; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 14px 0; }
.card { background: #fff; border: 1px solid #d5dae0; border-radius: 6px; padding: 10px 16px;
  min-width: 120px; }
.card b { display: block; font-size: 24px; }
.card.unexpected b { color: var(--red); } .card.expected b { color: var(--green); }
.card.filtered b { color: var(--grey); } .card.unknown b { color: var(--amber); }
section.host { background: #fff; border: 1px solid #d5dae0; border-radius: 6px;
  padding: 4px 18px 14px; margin: 18px 0; }
.port { border-left: 4px solid var(--grey); padding: 2px 0 6px 12px; margin: 14px 0; }
.port.unexpected { border-color: var(--red); } .port.expected { border-color: var(--green); }
.port.unknown { border-color: var(--amber); }
.probe { margin: 10px 0 4px; }
.path { display: flex; align-items: flex-start; flex-wrap: wrap; row-gap: 8px; margin: 6px 0; }
.box { border: 1px solid #b8c2cc; border-radius: 6px; background: #fff; padding: 6px 9px;
  min-width: 120px; max-width: 400px; }
.box .t { font-weight: 700; font-size: 12px; text-transform: none; }
.box .x { color: #52606d; font-size: 12px; }
.box.source { background: #eef1f4; }
.box.routing { background: #f3f0ff; border-color: #b9aee8; max-width: 260px; }
.box.reply { background: #f9fafb; border-style: dashed; }
.box.end.exposed { background: var(--red-bg); border-color: var(--red); }
.probe.expected .box.end.exposed { background: var(--green-bg); border-color: var(--green); }
.box.end.filtered { background: var(--grey-bg); border-color: var(--grey); }
.box.end.unknown { background: var(--amber-bg); border-color: var(--amber); }
.arrow { align-self: center; padding: 0 6px; color: #7b8794; font-size: 20px; }
.rl { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 11px;
  margin-top: 3px; padding: 2px 4px; border-radius: 3px; word-break: break-word; }
.rl.decisive { outline: 2px solid #1c2430; }
.rl.nat { background: #e3f2fd; } .rl.accept { background: var(--green-bg); }
.rl.drop { background: var(--red-bg); }
details { margin: 4px 0; } summary { cursor: pointer; color: #3e4c59; }
pre { background: #1c2430; color: #e4e7eb; padding: 10px; border-radius: 5px; overflow-x: auto;
  font-size: 12px; }
footer { color: #7b8794; padding: 0 28px 24px; font-size: 12px; }
[hidden] { display: none !important; }
.scroll { overflow-x: auto; max-width: 100%; }
#filters { position: sticky; top: 0; z-index: 2; background: #fff; border: 1px solid #d5dae0;
  border-radius: 6px; padding: 8px 12px; margin: 12px 0; }
#filters label { margin-right: 10px; } #filters .hint, #shown { color: #52606d; font-size: 12px; }
table.sortable th[data-key] { cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.dim { opacity: .3; }
td.d-widened { background: var(--red-bg); color: var(--red); }
td.d-other { background: var(--amber-bg); color: var(--amber); }
"""

# The page's only script: sorting (click a column title) and filtering (verdict, host,
# port). It reads its starting state from the query string (index.html?verdict=unexpected
# &host=web&port=8080&sort=port&dir=desc), so a link can share a view and a headless
# browser can check it. Without script the form stays hidden and every row shows.
SCRIPT = u"""
(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) { return; }
  var LEAVES = "tr.port-row, tr.drift-row, li.finding, div.port, tr.missing-row";
  function norm(x) { return (x || "").trim().toLowerCase(); }
  function want() {
    return {verdict: norm(form.elements.verdict.value), host: norm(form.elements.host.value),
            port: norm(form.elements.port.value)};
  }
  function portOk(f, port) {
    port = norm(port);
    return !f.port || port === f.port || port.split("/")[0] === f.port;
  }
  function leafOk(el, f) {
    if (f.host && norm(el.getAttribute("data-host")).indexOf(f.host) < 0) { return false; }
    if (el.hasAttribute("data-port") && !portOk(f, el.getAttribute("data-port"))) { return false; }
    if (f.verdict && el.hasAttribute("data-verdict") && el.getAttribute("data-verdict") !== f.verdict) {
      return false;
    }
    return true;
  }
  function apply() {
    var f = want();
    var all = document.querySelectorAll(LEAVES);
    for (var i = 0; i < all.length; i++) { all[i].hidden = !leafOk(all[i], f); }
    var grid = document.querySelectorAll("#summary tr.grid-row");
    for (i = 0; i < grid.length; i++) {
      var row = grid[i];
      var hostOk = !f.host || norm(row.getAttribute("data-host")).indexOf(f.host) >= 0;
      var cells = row.querySelectorAll("td[data-port]");
      var any = !f.port && !f.verdict;
      for (var k = 0; k < cells.length; k++) {
        var v = cells[k].getAttribute("data-verdict");
        var hit = v && portOk(f, cells[k].getAttribute("data-port")) && (!f.verdict || v === f.verdict);
        if (hit) { any = true; }
        cells[k].classList.toggle("dim", Boolean(f.verdict) && !hit);
      }
      row.hidden = !(hostOk && any);
    }
    var heads = document.querySelectorAll("#summary thead th");
    var colCells = document.querySelectorAll("#summary tbody tr");
    for (i = 1; i < heads.length; i++) {
      var off = !portOk(f, heads[i].textContent);
      heads[i].hidden = off;
      for (k = 0; k < colCells.length; k++) { colCells[k].children[i].hidden = off; }
    }
    var sections = document.querySelectorAll("section.host");
    for (i = 0; i < sections.length; i++) {
      var sec = sections[i];
      var ports = sec.querySelectorAll("div.port");
      var shown = sec.querySelectorAll("div.port:not([hidden])").length;
      var secHost = !f.host || norm(sec.getAttribute("data-host")).indexOf(f.host) >= 0;
      sec.hidden = !secHost || (ports.length > 0 && shown === 0) ||
        (ports.length === 0 && (f.port || f.verdict) !== "");
    }
    var rows = document.querySelectorAll("tr.port-row");
    var visible = document.querySelectorAll("tr.port-row:not([hidden])").length;
    document.getElementById("shown").textContent = visible + " of " + rows.length +
      " published port rows shown";
  }
  function key(row, col) {
    var cell = row.children[col];
    return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : norm(cell.textContent);
  }
  function sortBy(th, dir) {
    var table = th.closest("table");
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = dir === "descending" ? -1 : 1;
    rows.sort(function (a, b) {
      return sign * key(a, col).localeCompare(key(b, col), undefined, {numeric: true});
    });
    for (var i = 0; i < rows.length; i++) { body.appendChild(rows[i]); }
    var heads = th.parentNode.children;
    for (i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir);
  }
  var heads = document.querySelectorAll("table.sortable th[data-key]");
  for (var i = 0; i < heads.length; i++) {
    heads[i].addEventListener("click", function () {
      sortBy(this, this.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending");
    });
  }
  var q = new URLSearchParams(window.location.search);
  ["verdict", "host", "port"].forEach(function (name) {
    if (q.get(name)) { form.elements[name].value = q.get(name); }
  });
  if (q.get("sort")) {
    var tables = document.querySelectorAll("table.sortable");
    for (i = 0; i < tables.length; i++) {
      var th = tables[i].querySelector("th[data-key='" + q.get("sort").replace(/[^a-z]/g, "") + "']");
      if (th) { sortBy(th, q.get("dir") === "desc" ? "descending" : "ascending"); }
    }
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.hidden = false;
  apply();
  document.documentElement.setAttribute("data-report-js", "ready");
}());
"""


def _e(text):
    return escape(u"%s" % (text,), quote=True)


def _badge(verdict, text=None):
    return u'<span class="v v-%s">%s</span>' % (_e(verdict), _e(text or LABELS.get(verdict, verdict)))


def _box_html(box):
    cls = ["box", box["kind"]]
    if box["kind"] == "end":
        cls.append(box["verdict"])
    parts = [u'<div class="%s" data-kind="%s">' % (" ".join(cls), _e(box["kind"])),
             u'<div class="t">%s</div>' % _e(box["title"])]
    if box["text"]:
        parts.append(u'<div class="x">%s</div>' % _e(box["text"]))
    for ln in box["lines"]:
        cls_line = "rl %s%s" % (ln["kind"], " decisive" if ln["decisive"] else "")
        parts.append(u'<div class="%s" title="%s">%s%s %s %s</div>' % (
            cls_line, _e(ln["ref"]), _e(ln["label"]), _e(" " + ln["rule"] if ln["rule"] else ""),
            ARROW, _e(ln["effect"])))
    parts.append(u"</div>")
    return u"".join(parts)


def diagram_html(probe, target=None):
    boxes = [_box_html(b) for b in diagram(probe, target)]
    arrow = u'<span class="arrow">%s</span>' % ARROW
    return u'<div class="path">%s</div>' % arrow.join(boxes)


def _slug(*parts):
    text = "-".join(str(p) for p in parts)
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()


def _html_drift(reports, missing):
    compared = drift_rows(reports)
    changes, first, unchanged = compared or ([], [], [])
    h = [u'<h2 id="drift">Changes since the last audit</h2>']
    if compared is None:
        h.append(u'<p id="drift-none">%s</p>' % _e(NOT_COMPARED))
    elif changes:
        h.append(u'<table id="drift-table" class="sortable"><thead><tr><th data-key="host">host</th>'
                 u'<th data-key="port">port</th><th>interface</th><th data-key="change">change</th>'
                 u"<th>before</th><th>after</th><th>what changed</th></tr></thead><tbody>")
        for host, c in changes:
            widens = "widened" if c["widens"] else "other"
            h.append(u'<tr class="drift-row" data-host="%s" data-port="%s" data-verdict="%s" '
                     u'data-change="%s"><td>%s</td><td data-sort="%s">%s</td><td>%s</td>'
                     u'<td class="d-%s"><b>%s</b></td><td class="mono">%s</td>'
                     u'<td class="mono">%s</td><td>%s</td></tr>' % (
                         _e(host), _e(c["port"]), _e((c["after"] or c["before"])["verdict"]),
                         _e(" ".join(c["kinds"])), _e(host), _port_sort(c["port"]), _e(c["port"]),
                         _e(c["interface"]), widens, _e(_drift_kinds(c)), _e(_side_text(c["before"])),
                         _e(_side_text(c["after"])), _e(c["text"])))
        h.append(u"</tbody></table>")
    else:
        h.append(u'<p id="drift-none">No change since the last audit.</p>')
    if unchanged:
        h.append(u"<p>Unchanged: %s.</p>" % _e(", ".join(unchanged)))
    if first:
        h.append(u"<p>First audit (no previous report): %s.</p>" % _e(", ".join(first)))
    if missing:
        h.append(u'<h2 id="not-audited">Not audited</h2><table id="not-audited-table"><thead><tr>'
                 u"<th>host</th><th>reason</th></tr></thead><tbody>")
        h.extend(u'<tr class="missing-row" data-host="%s"><td>%s</td><td class="mono">%s%s</td></tr>' % (
            _e(i["host"]), _e(i["host"]), _e(i["reason"]),
            _e(" (task: %s)" % i["task"]) if i.get("task") else "") for i in missing)
        h.append(u"</tbody></table>")
    return h


def _port_sort(port):
    number, proto = _port_key(port)
    return "%05d/%s" % (number, proto)


FILTERS = (u'<form id="filters" hidden><b>Filter</b> '
           u'<label>verdict <select name="verdict"><option value="">any</option>%s</select></label> '
           u'<label>host <input name="host" size="14" placeholder="part of a name"></label> '
           u'<label>port <input name="port" size="9" placeholder="8080 or 8080/tcp"></label> '
           u'<button type="reset">clear</button> <span id="shown"></span> '
           u'<span class="hint">click a column title to sort</span></form>')


def render_html(reports, title="Docker exposure audit", generated=None, not_audited=None):
    """A self-contained page (inline style and script, nothing loaded): the changes since
    the last audit first, the hosts not audited, then the summary, a row per published
    port and a section per host. Sorting and filtering are the script's; without it the
    page shows everything."""
    reports = _hosts(reports)
    missing = not_audited_hosts(not_audited)
    t = totals(reports)
    h = [u"<!DOCTYPE html>", u'<html lang="en"><head><meta charset="utf-8">',
         u'<meta name="viewport" content="width=device-width, initial-scale=1">',
         u"<title>%s</title><style>%s</style></head><body>" % (_e(title), CSS),
         u"<header><h1>%s</h1><p>%d host(s), %d published port(s)%s%s</p></header><main>" % (
             _e(title), t["hosts"], t["ports"],
             _e(", %d host(s) not audited" % len(missing)) if missing else "",
             _e(", generated %s" % generated) if generated else "")]
    h.extend(_html_drift(reports, missing))
    h.append(u'<div class="cards" id="totals">')
    for v in VERDICT_ORDER:
        h.append(u'<div class="card %s"><b>%d</b>%s</div>' % (v, t[v], _e(LABELS[v])))
    h.append(u'<div class="card"><b>%d</b>host(s) failed</div>' % t["failed"])
    if missing:
        h.append(u'<div class="card unexpected"><b>%d</b>not audited</div>' % len(missing))
    h.append(u"</div>")
    h.append(FILTERS % u"".join(u'<option value="%s">%s</option>' % (v, LABELS[v])
                                for v in VERDICT_ORDER))

    ports, grid = matrix(reports)
    h.append(u"<h2>Summary: hosts \u00d7 published ports</h2>")
    if ports:
        h.append(u'<div class="scroll"><table id="summary"><thead><tr><th>host</th>%s</tr></thead><tbody>'
                 % u"".join(u"<th>%s</th>" % _e(p) for p in ports))
        for host, cells in grid:
            h.append(u'<tr class="grid-row" data-host="%s"><th><a href="#%s">%s</a></th>%s</tr>' % (
                _e(host), _e(_slug("host", host)), _e(host), u"".join(
                    u'<td class="c-%s" data-verdict="%s" data-port="%s">%s</td>' % (
                        cells[p] or "none", cells[p] or "", _e(p), _e(LABELS[cells[p]]) if cells[p]
                        else u"\u2013") for p in ports)))
        h.append(u"</tbody></table></div>")
    else:
        h.append(u"<p>No published ports.</p>")

    h.append(u"<h2>Published ports</h2>")
    h.append(u'<table id="ports" class="sortable"><thead><tr><th data-key="host">host</th>'
             u'<th data-key="port">port</th><th data-key="container">container</th>'
             u'<th data-key="kind">kind</th><th data-key="interface">interface</th>'
             u"<th>reachable from</th><th>expected from</th>"
             u'<th data-key="verdict">verdict</th></tr></thead><tbody>')
    for rep in reports:
        host = rep.get("host") or "?"
        for r in _rows(rep):
            h.append(u'<tr class="port-row" data-host="%s" data-port="%s" data-verdict="%s">'
                     u'<td>%s</td><td data-sort="%s"><a href="#%s">%s</a></td><td>%s</td><td>%s</td>'
                     u'<td>%s</td><td class="mono">%s</td><td class="mono">%s</td>'
                     u'<td class="c-%s" data-sort="%d">%s</td></tr>' % (
                         _e(host), _e(r["port"]), _e(r["verdict"]), _e(host), _port_sort(r["port"]),
                         _e(_slug(host, r["id"])), _e(r["port"]), _e(r.get("container") or "-"),
                         _e(r["kind"]), _e(r["interface"]), _e(r["reachable_from"]),
                         _e(r["expected_from"]), _e(r["verdict"]), VERDICT_ORDER.index(r["verdict"]),
                         _e(LABELS[r["verdict"]])))
    h.append(u"</tbody></table>")

    findings = [(rep.get("host") or "?", f) for rep in reports for f in rep["findings"]]
    h.append(u"<h2>Findings</h2>")
    if findings:
        h.append(u'<ul id="findings">%s</ul>' % u"".join(
            u'<li class="finding" data-host="%s" data-port="%s" data-verdict="%s">%s %s</li>' % (
                _e(host), _e(f["port"]), _e(f["verdict"]), _badge(f["verdict"]), _e(f["text"]))
            for host, f in findings))
    else:
        h.append(u'<p id="findings">None: every published port is reachable only from where it '
                 u"is expected.</p>")

    for rep in reports:
        host = rep.get("host") or "?"
        s = rep["summary"]
        h.append(u'<section class="host" id="%s" data-host="%s" data-status="%s"><h2>%s %s</h2>' % (
            _e(_slug("host", host)), _e(host), _e(s["status"]), _e(host),
            _badge(s["status"], s["status"].upper())))
        h.append(u"<p>Docker %s, iptables %s (%s backend). Interfaces audited: %s.</p>" % (
            _e(rep["docker"].get("version") or "?"), _e(rep["iptables"].get("version") or "?"),
            _e(rep["iptables"].get("backend") or "?"), _e(", ".join(rep["interfaces"]) or "none")))
        if rep["expected"]:
            h.append(u"<p>Expected: %s.</p>" % _e("; ".join(
                "%s %s/%s from %s" % (e["name"], ",".join(e["ports"]), e["protocol"],
                                      ", ".join(e["from"])) for e in rep["expected"])))
        if not rep["rows"]:
            h.append(u"<p>No published ports.</p>")
        for r in _rows(rep):
            h.append(u'<div class="port %s" id="%s" data-host="%s" data-port="%s" data-verdict="%s">'
                     u"<h3>%s %s %s on %s</h3>" % (
                         _e(r["verdict"]), _e(_slug(host, r["id"])), _e(host), _e(r["port"]),
                         _e(r["verdict"]), _badge(r["verdict"]), _e(r["port"]),
                         _e(r.get("container") or "-"), _e(r["interface"])))
            h.append(u"<p>%s, %s, destination <code>%s</code>. Reachable from <b class=\"mono\">%s"
                     u"</b>; expected from <span class=\"mono\">%s</span>%s.</p>" % (
                         _e(r["kind"]), _e(r["family"]), _e(r["destination"]),
                         _e(r["reachable_from"]), _e(r["expected_from"]),
                         _e("; not expected: %s" % r["unexpected_from"])
                         if r["verdict"] == "unexpected" else ""))
            for p in r["probes"]:
                h.append(u'<div class="probe %s" data-source="%s" data-probe="%s">' % (
                    _e(p["judgement"]), _e(p["source"]["name"]), _e(p["verdict"])))
                h.append(u"<div>From <b>%s</b> (%s): %s</div>" % (
                    _e(p["source"]["name"]), _e(p["source"]["address"]),
                    _badge(p["judgement"] if p["verdict"] != "filtered" else "filtered",
                           p["verdict"].upper())))
                h.append(diagram_html(p, r["target"]))
                h.append(u"<details><summary>every step</summary><pre>%s</pre></details>" % _e(
                    u"\n".join(s["text"] for s in p.get("trace") or ())))
                h.append(u"</div>")
            h.append(u"</div>")
        h.append(u"</section>")
    h.append(u"</main><footer>dockerguard.firewall exposure audit. Verdicts come from a walk "
             u"of each host's netfilter rules (nat PREROUTING, routing, filter FORWARD / "
             u"INPUT, and the reply).</footer><script>%s</script></body></html>" % SCRIPT)
    return u"\n".join(h) + u"\n"


def render(reports, fmt="html", title="Docker exposure audit", generated=None, not_audited=None):
    if fmt == "html":
        return render_html(reports, title=title, generated=generated, not_audited=not_audited)
    if fmt == "markdown":
        return render_markdown(reports, title=title, generated=generated, not_audited=not_audited)
    if fmt == "text":
        return render_text(reports, not_audited=not_audited)
    raise ValueError("format must be html, markdown or text, got %r" % (fmt,))


# --- a preview: before -> after ---------------------------------------------------------

def render_preview(preview):
    """The predicted change of a policy (``_exposure_audit.preview``), port by port."""
    before, after = preview["before"], preview["after"]
    host = preview.get("host") or before.get("host") or "?"
    out = [u"%s: %s -> %s with %s (jumped to from %s)" % (
        host, before["summary"]["status"].upper(), after["summary"]["status"].upper(),
        preview.get("chain"), preview.get("parent"))]
    for c in preview["changes"]:
        b, a = c["before"] or {}, c["after"] or {}
        mark = "*" if c["changed"] else " "
        out.append(u" %s %-9s %-20s on %-6s %s %s %s" % (
            mark, c["port"], c.get("container") or "-", c["interface"],
            LABELS.get(b.get("verdict"), "-"), ARROW, LABELS.get(a.get("verdict"), "-")))
        out.append(u"      reachable from %s %s %s" % (
            b.get("reachable_from", "-"), ARROW, a.get("reachable_from", "-")))
        for s in c["sources"]:
            out.append(u"      from %s (%s): %s %s %s" % (
                s["name"], s["address"], (s["before"] or "-").upper(), ARROW,
                (s["after"] or "-").upper()))
    if not preview["changes"]:
        out.append(u"  no published ports")
    return u"\n".join(out)
