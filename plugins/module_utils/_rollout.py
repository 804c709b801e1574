# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The safe rollout: did a batch of hosts lose access it is expected to give?

A policy rolls out in batches (a canary first). Each host of a batch is audited before
the change and after it (``_exposure_audit.audit_host`` reports); this module compares
the two:

- ``regressions(before, after)``: one host. A regression is a published port that was
  reachable from sources it is expected to be reachable from (the report's
  ``expected``) and no longer is from some of them, or a named source that reached a
  port it is expected to reach and no longer does. A port that is no longer published
  at all counts too (what was served is not served any more); a port served another
  way after the change (same port, family, interface and address: a ``-p`` container
  migrated to the host's network) is compared with what serves it now. A port
  published only after the change (a service the rollout deployed, e.g.
  deploy_host_network) regresses when it serves none of the sources it is expected to
  serve, or misses a named source it is expected to serve: the new service does not do
  its job.
- ``batch(hosts)``: the batch's verdict: ``regressed`` when any host regressed or failed
  to apply (the whole batch is then put back), the regressions and a text.
- ``predict(previews)``: ``--check``: the same comparison on each host's preview
  (``_exposure_audit.preview``), so the fleet's before -> after, and the regressions a
  policy would cause, are known before any host is touched.
- ``chain_state(iptables_facts, chain, parent)`` and ``restored(...)``: our chain and its
  jump as read from the host, and whether a put-back host is exactly as it was.
- ``report(results, hosts)``: the fleet's rollout report (rolled out, regressed, put
  back, not started), as JSON-able data and text.

Pure Python, no Ansible import; the ``rollout_*`` filters expose it to playbooks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as addr
from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure_audit import (
    FAMILIES, expected_for, normalize_expected)

STATUSES = ("rolled out", "regressed", "put back", "failed", "not started")


def _check_report(report, what):
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        raise ValueError("%s must be a host's audit report (exposure_audit), got %r"
                         % (what, report if not isinstance(report, dict) else sorted(report)))


def _policy(report):
    """The expected exposure the report was judged against, normalized again."""
    entries = []
    for entry in report.get("expected") or ():
        sources = [s for s in entry.get("from") or () if s != "nobody"]
        entries.append(dict(entry, **{"from": sources}))
    return normalize_expected(entries)


def _cidr_set(cidrs, family):
    return addr.normalize(addr.parse_cidr(c, family) for c in cidrs or ())


def _reached(probe):
    return probe is not None and probe.get("verdict") == "exposed"


def _named(row):
    return dict((p["source"]["name"], p) for p in (row or {}).get("probes", ())
                if p.get("role") == "named")


def _row_regression(host, policy, old, new):
    family = old["family"]
    allowed, _names = expected_for(policy, old["target"])
    served = addr.intersect(allowed, _cidr_set(old.get("reachable_cidrs"), family))
    still = _cidr_set(new.get("reachable_cidrs"), family) if new else ()
    lost = addr.subtract(served, still, family)
    sources = []
    after = _named(new)
    for name, probe in sorted(_named(old).items()):
        if probe.get("allowed") and _reached(probe) and not _reached(after.get(name)):
            sources.append({"name": name, "address": probe["source"]["address"],
                            "before": probe["verdict"],
                            "after": after[name]["verdict"] if name in after else "not published",
                            "path": after[name].get("path_text") if name in after else None})
    if not lost and not sources:
        return None
    lost_text = addr.compact(lost, family) if lost else "nothing"
    text = "%s: %s on %s%s: expected from %s and reachable before; %s" % (
        host, old["port"], old["interface"],
        " (container %s)" % old["container"] if old.get("container") else "",
        old["expected_from"],
        "no longer published" if new is None else "no longer reachable from %s" % lost_text)
    for s in sources:
        text += "; %s (%s) lost access (%s -> %s)%s" % (
            s["name"], s["address"], s["before"], s["after"],
            ": " + s["path"] if s["path"] else "")
    return {"host": host, "id": old["id"], "port": old["port"], "family": family,
            "interface": old["interface"], "container": old.get("container"),
            "expected_from": old["expected_from"], "lost_from": lost_text,
            "before": old["verdict"], "after": new["verdict"] if new else "not published",
            "sources": sources, "text": text}


def _same_port(old, new):
    return all(old[k] == new[k] for k in ("port", "family", "interface")) and \
        old["target"].get("host_ip") == new["target"].get("host_ip")


def _new_row_regression(host, policy, row):
    """A port the change started serving (a service deployed by the rollout): nobody lost
    access, but it regresses when it serves none of the sources it is expected to serve,
    or misses a named source it is expected to serve."""
    family = row["family"]
    allowed, _names = expected_for(policy, row["target"])
    if not allowed:
        return None
    served = addr.intersect(allowed, _cidr_set(row.get("reachable_cidrs"), family))
    sources = [{"name": name, "address": p["source"]["address"], "before": "not published",
                "after": p["verdict"], "path": p.get("path_text")}
               for name, p in sorted(_named(row).items()) if p.get("allowed") and not _reached(p)]
    if served and not sources:
        return None
    text = "%s: %s on %s%s: newly served, expected from %s but %s" % (
        host, row["port"], row["interface"],
        " (container %s)" % row["container"] if row.get("container") else "",
        row["expected_from"], "not reachable from %s" % row["missing_from"] if served
        else "reachable from none of them")
    for s in sources:
        text += "; %s (%s) not served (%s)%s" % (
            s["name"], s["address"], s["after"], ": " + s["path"] if s["path"] else "")
    return {"host": host, "id": row["id"], "port": row["port"], "family": family,
            "interface": row["interface"], "container": row.get("container"),
            "expected_from": row["expected_from"], "lost_from": row["missing_from"],
            "before": "not published", "after": row["verdict"], "sources": sources, "text": text}


def regressions(before, after, host=None):
    """One host's regressions from its audit ``before`` the change to the one ``after``."""
    _check_report(before, "before")
    _check_report(after, "after")
    host = host or before.get("host") or after.get("host") or "host"
    policy = _policy(before)
    new_rows = dict((r["id"], r) for r in after["rows"])
    out = []
    for old in before["rows"]:
        new = new_rows.pop(old["id"], None)
        if new is None:
            # The same port now served another way (deploy_host_network: the -p container
            # replaced by the service on the host's network): compare with that.
            rid = next((k for k, r in sorted(new_rows.items()) if _same_port(old, r)), None)
            new = new_rows.pop(rid) if rid is not None else None
        found = _row_regression(host, policy, old, new)
        if found:
            out.append(found)
    for row in new_rows.values():
        found = _new_row_regression(host, policy, row)
        if found:
            out.append(found)
    return out


def batch(hosts):
    """The verdict of one batch: ``hosts`` is a list of ``{host, before, after, error}``
    (``error``: why the policy could not be applied there, if it could not)."""
    if not isinstance(hosts, list):
        raise ValueError("hosts must be a list of {host, before, after, error}, got %r" % (hosts,))
    found, failed, names = [], {}, []
    for item in hosts:
        if not isinstance(item, dict) or not item.get("host"):
            raise ValueError("batch entry %r has no host" % (item,))
        names.append(item["host"])
        if item.get("error"):
            failed[item["host"]] = str(item["error"])
            continue
        found.extend(regressions(item.get("before"), item.get("after"), item["host"]))
    regressed = sorted(set(r["host"] for r in found))
    verdict = "REGRESSED, put back" if found or failed else "no regression"
    lines = ["batch %s: %s" % (", ".join(names), verdict)]
    lines.extend("  " + r["text"] for r in found)
    lines.extend("  %s: the policy could not be applied: %s" % (h, e) for h, e in sorted(failed.items()))
    return {"hosts": names, "regressed": bool(found or failed), "regressed_hosts": regressed,
            "failed": failed, "regressions": found,
            "ports": sorted(set("%s %s" % (r["host"], r["port"]) for r in found)),
            "sources": sorted(set(s["name"] for r in found for s in r["sources"])),
            "text": "\n".join(lines)}


def predict(previews):
    """``--check`` over the fleet: each host's status and the regressions its preview shows."""
    if not isinstance(previews, list):
        raise ValueError("previews must be a list of exposure_preview results, got %r" % (previews,))
    hosts, found = [], []
    for pv in previews:
        if not isinstance(pv, dict) or "before" not in pv or "after" not in pv:
            raise ValueError("preview %r is not an exposure_preview result" % (pv,))
        host = pv.get("host") or pv["before"].get("host") or "host"
        regs = regressions(pv["before"], pv["after"], host)
        found.extend(regs)
        hosts.append({"host": host, "before": pv["before"]["summary"]["status"],
                      "after": pv["after"]["summary"]["status"],
                      "changed_ports": sum(1 for c in pv.get("changes", ()) if c.get("changed")),
                      "regressions": regs})
    lines = ["%s: %s -> %s, %d port(s) change%s" % (
        h["host"], h["before"].upper(), h["after"].upper(), h["changed_ports"],
        ", %d REGRESSION(S)" % len(h["regressions"]) if h["regressions"] else "")
        for h in hosts]
    lines.extend("  " + r["text"] for r in found)
    verdict = ("the rollout would stop: %d regression(s) on %s" % (
        len(found), ", ".join(sorted(set(r["host"] for r in found)))) if found
        else "no regression predicted on %d host(s)" % len(hosts))
    return {"hosts": hosts, "regressions": found, "regressed": bool(found),
            "text": "\n".join(["fleet: " + verdict] + lines)}


def chain_state(iptables_facts, chain, parent="DOCKER-USER"):
    """Our chain's rules and the jumps to it, per family, as read from the host:
    ``{family: {"rules": [...] or None, "jumps": n}}`` (``rules: None``: no chain)."""
    if not isinstance(iptables_facts, dict):
        raise ValueError("iptables facts must be a dict, got %s" % type(iptables_facts).__name__)
    out = {}
    for family in FAMILIES:
        model = iptables_facts.get(family) or {}
        chains = ((model.get("tables") or {}).get("filter") or {}).get("chains") or {}
        ours = chains.get(chain)
        jumps = sum(1 for r in (chains.get(parent) or {}).get("rules", ())
                    if r.get("rule") == "-A %s -j %s" % (parent, chain))
        out[family] = {"rules": [r["rule"] for r in ours["rules"]] if ours else None,
                       "jumps": jumps}
    return out


def restored(before_state, after_state, before_report=None, after_report=None):
    """What differs between a host before the change and after it was put back: our
    chain's rules and jumps, and (with both audits) any port or named source whose
    reachability differs. ``[]`` when the host is exactly as it was."""
    diffs = []
    for family in FAMILIES:
        a = (before_state or {}).get(family) or {"rules": None, "jumps": 0}
        b = (after_state or {}).get(family) or {"rules": None, "jumps": 0}
        if a != b:
            diffs.append("%s: our chain %s, %d jump(s) before; %s, %d jump(s) now" % (
                family, "absent" if a["rules"] is None else "%d rules" % len(a["rules"]), a["jumps"],
                "absent" if b["rules"] is None else "%d rules" % len(b["rules"]), b["jumps"]))
    if before_report is not None and after_report is not None:
        new = dict((r["id"], r) for r in after_report["rows"])
        for old in before_report["rows"]:
            row = new.get(old["id"])
            if row is None or row["reachable_cidrs"] != old["reachable_cidrs"]:
                diffs.append("%s: reachable from %s before, %s now" % (
                    old["id"], old["reachable_from"],
                    row["reachable_from"] if row else "not published"))
            elif dict((n, p["verdict"]) for n, p in _named(old).items()) != \
                    dict((n, p["verdict"]) for n, p in _named(row).items()):
                diffs.append("%s: a named source's verdict differs" % old["id"])
    return diffs


def report(results, hosts):
    """The fleet's rollout report: ``results`` is each rolled-out host's result (``{host,
    status, batch, regressions, restore}``), ``hosts`` every host of the rollout."""
    by_host = dict((r["host"], r) for r in results or () if isinstance(r, dict) and r.get("host"))
    rows = []
    for host in hosts:
        r = by_host.get(host) or {"host": host, "status": "not started"}
        if r.get("status") not in STATUSES:
            raise ValueError("%s: status %r is not one of %s" % (host, r.get("status"), ", ".join(STATUSES)))
        rows.append(r)
    stopped = any(r["status"] != "rolled out" for r in rows)
    counts = dict((s, sum(1 for r in rows if r["status"] == s)) for s in STATUSES)
    tally = ", ".join("%d %s" % (counts[s], s) for s in STATUSES if counts[s])
    lines = ["rollout %s: %s" % ("STOPPED" if stopped else "complete", tally)]
    for r in rows:
        lines.append("  %s: %s" % (r["host"], r["status"]))
        lines.extend("    " + g["text"] for g in r.get("regressions") or ())
        if "restore" in r:  # what restored() found: [] = exactly as before
            lines.append("    put back: " + ("exactly as before" if not r["restore"] else
                                             "DIFFERS: " + "; ".join(r["restore"])))
    return {"status": "stopped" if stopped else "complete", "counts": counts, "hosts": rows,
            "text": "\n".join(lines)}
