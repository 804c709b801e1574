# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift: what changed in a host's exposure since its last audit.

``drift(previous, current)`` compares two host reports of ``_exposure_audit.audit_host``
(the previous one as the role kept it on the controller, ``<report dir>/<host>.json``)
row by row - a row is a published port on an input interface - and lists:

- ``new`` / ``removed`` published ports;
- exposure that ``widened`` (addresses that reach the port now and did not before, or a
  named source that gets in now) or ``narrowed`` (the reverse);
- a changed ``verdict`` (e.g. the expected exposure changed);
- ``rules_added`` / ``rules_removed``: rules on the packets' paths (every probe of the
  row, matched by table, chain and rule text, not by number: a rule inserted above
  renumbers the others without changing what they do).

A host's drift is ``first`` (no previous report), ``unchanged`` or ``changed``, and
``widened`` is true when any of its ports is reachable from more than before (a new
port reachable from anyone counts). Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as addr

DRIFT_VERSION = 1


def _load(report, what):
    """A host report from a dict, JSON text, or nothing (None, '')."""
    if report is None or report == "":
        return None
    if isinstance(report, (str, bytes)):
        try:
            report = json.loads(report)
        except ValueError as exc:
            raise ValueError("%s: not a JSON host report (%s)" % (what, exc))
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        raise ValueError("%s is not a host report of exposure_audit (no rows)" % what)
    return report


def _reach(row):
    fam = row["family"]
    return addr.normalize(addr.parse_cidr(c, fam) for c in row.get("reachable_cidrs") or ())


def _text(ivs, fam):
    return addr.compact(ivs, fam) if ivs else None


def _rules(row):
    """The rules the row's probes met: {(table, chain, rule text): ref}."""
    out = {}
    for probe in row.get("probes") or ():
        for step in probe.get("trace") or ():
            if step.get("rule"):
                out.setdefault((step["table"], step["chain"], step["rule"]), step.get("ref"))
    return out


def _named(row):
    return dict((p["source"]["name"], p) for p in row.get("probes") or () if p.get("role") == "named")


def _sources(old, new):
    """Named sources whose verdict changed: [{name, address, before, after}]."""
    pa, pb = _named(old), _named(new)
    out = []
    for name in sorted(set(pa) & set(pb)):
        if pa[name]["verdict"] != pb[name]["verdict"]:
            out.append({"name": name, "address": pb[name]["source"]["address"],
                        "before": pa[name]["verdict"], "after": pb[name]["verdict"]})
    return out


def _side(row):
    return {"verdict": row["verdict"], "reachable_from": row["reachable_from"]} if row else None


def _change(old, new):
    """The change of one row, or None when nothing of it changed."""
    row = new or old
    fam = row["family"]
    before = _reach(old) if old else ()
    after = _reach(new) if new else ()
    wider = addr.subtract(after, before, fam)
    narrower = addr.subtract(before, after, fam)
    sources = _sources(old, new) if old and new else []
    ra, rb = (_rules(old) if old else {}), (_rules(new) if new else {})
    added = [{"table": k[0], "chain": k[1], "rule": k[2], "ref": rb[k]} for k in rb if k not in ra]
    removed = [{"table": k[0], "chain": k[1], "rule": k[2], "ref": ra[k]} for k in ra if k not in rb]
    kinds = []
    if old is None:
        kinds.append("new")
    elif new is None:
        kinds.append("removed")
    else:
        if wider or any(s["after"] == "exposed" for s in sources):
            kinds.append("widened")
        if narrower or any(s["before"] == "exposed" for s in sources):
            kinds.append("narrowed")
        if old["verdict"] != new["verdict"]:
            kinds.append("verdict")
        if added or removed:
            kinds.append("path")
    if not kinds:
        return None
    widens = bool(wider) or any(s["after"] == "exposed" for s in sources)
    return {"id": row["id"], "port": row["port"], "container": row.get("container"),
            "interface": row["interface"], "family": fam, "kinds": kinds,
            "widens": widens, "before": _side(old), "after": _side(new),
            "widened_to": _text(wider, fam), "narrowed_from": _text(narrower, fam),
            "sources": sources, "rules_added": added if new else [],
            "rules_removed": removed if old else [],
            "text": _describe(row, kinds, wider, narrower, sources, added, old, new)}


def _describe(row, kinds, wider, narrower, sources, added, old, new):
    fam = row["family"]
    what = "%s (%s) on %s" % (row["port"], "container %s" % row["container"] if row.get("container")
                              else "no container", row["interface"])
    parts = []
    if "new" in kinds:
        parts.append("new published port, reachable from %s (%s)" % (new["reachable_from"], new["verdict"]))
    if "removed" in kinds:
        parts.append("no longer published (was reachable from %s)" % old["reachable_from"])
    if wider and old:
        parts.append("now also reachable from %s" % addr.compact(wider, fam))
    if narrower:
        parts.append("no longer reachable from %s" % addr.compact(narrower, fam))
    for s in sources:
        parts.append("%s (%s) %s -> %s" % (s["name"], s["address"], s["before"], s["after"]))
    if "verdict" in kinds:
        parts.append("verdict %s -> %s" % (old["verdict"], new["verdict"]))
    if old and new and added:
        parts.append("new rule(s) on the path: %s" % "; ".join(a["rule"] for a in added))
    elif old and new and "path" in kinds:
        parts.append("rule(s) left the path")
    return "%s: %s" % (what, ", ".join(parts))


def drift(previous, current, previous_time=None):
    """The host's drift since ``previous`` (a host report, its JSON text, or None).

    Returns ``{drift_version, host, status, previous_time, widened, counts, changes}``;
    ``status`` is ``first`` (no previous report), ``unchanged`` or ``changed``. A
    previous report of another host is refused (a report directory shared by mistake)."""
    new = _load(current, "current")
    old = _load(previous, "previous")
    host = new.get("host")
    if old is not None and old.get("host") not in (None, host):
        raise ValueError("previous report is of host %r, not %r" % (old.get("host"), host))
    out = {"drift_version": DRIFT_VERSION, "host": host,
           "previous_time": previous_time if previous_time is not None else
           (old or {}).get("audited_at"), "changes": []}
    if old is None:
        out.update(status="first", widened=False, counts={})
        return out
    before = dict((r["id"], r) for r in old["rows"])
    after = dict((r["id"], r) for r in new["rows"])

    def order(rid):
        port, _sep, proto = (after.get(rid) or before.get(rid))["port"].partition("/")
        return (int(port), proto, rid)
    for rid in sorted(set(before) | set(after), key=order):
        change = _change(before.get(rid), after.get(rid))
        if change is not None:
            out["changes"].append(change)
    counts = {}
    for c in out["changes"]:
        for k in c["kinds"]:
            counts[k] = counts.get(k, 0) + 1
    out.update(status="changed" if out["changes"] else "unchanged", counts=counts,
               widened=any(c["widens"] for c in out["changes"]))
    return out
