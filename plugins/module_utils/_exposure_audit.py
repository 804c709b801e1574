# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet audit: a host's exposure compared with the exposure it is expected to have.

- ``normalize_expected(expected)``: the expected-exposure policy, e.g.
  ``[{"name": "https", "ports": [443], "from": "anywhere"},
  {"name": "postgres", "ports": [5432], "from": ["10.0.0.0/8"]}]``; a published port no
  entry names is expected to be reachable from nobody. Raises ``ValueError`` naming the
  bad value.
- ``audit_host(iptables_facts, docker_facts, expected, ...)``: one row per published port
  and input interface - who reaches it (the engine's reachability over the whole address
  space), who is expected to, the verdict (``unexpected``, ``expected``, ``filtered``,
  ``unknown``) and, per port, probes with their rule path: each named source, plus a
  representative of the sources that should not get in (or of those that do) - and the
  findings that fail the host.
- ``splice_chain(iptables_facts, chain, families, parent)``: the ruleset as it will be
  once a policy module (docker_user_policy, host_input_policy) has written ``chain``:
  its check-mode result (``families.<f>.rules``) put into the parsed model, so the engine
  can evaluate the change before it touches a host. ``preview(...)`` audits both and
  lists what changes.

Pure Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.dockerguard.firewall.plugins.module_utils import _allowlist as check
from ansible_collections.dockerguard.firewall.plugins.module_utils import _netfilter_addr as addr
from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_scan as scan
from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure import (
    packet_of, stopped_packet)
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_spec
from ansible_collections.dockerguard.firewall.plugins.module_utils._nft_policy import TABLES
from ansible_collections.dockerguard.firewall.plugins.module_utils._nftables import with_tables

FAMILIES = ("ipv4", "ipv6")
ROW_VERDICTS = ("unexpected", "unknown", "expected", "filtered")
ANYWHERE = ("0.0.0.0/0", "::/0")
REPORT_VERSION = 1
_EXPECTED_KEYS = ("name", "ports", "protocol", "from", "container")


# --- the expected-exposure policy ---------------------------------------------------

def _sources(value, where):
    if value in ("anywhere", "any", "all"):
        value = list(ANYWHERE)
    elif value in (None, "nobody", "none"):
        value = []
    elif isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError("%s.from: %r should be a list of addresses or CIDRs, or 'anywhere'"
                         % (where, value))
    sets = dict((fam, ()) for fam in FAMILIES)
    texts = []
    for item in value:
        if item in ("anywhere", "any", "all"):
            for cidr in ANYWHERE:
                sets[addr.family_of(cidr)] = addr.universe(addr.family_of(cidr))
            texts.extend(ANYWHERE)
            continue
        net = check.network(item, where + ".from")
        fam = "ipv4" if net.version == 4 else "ipv6"
        lo, hi = int(net.network_address), int(net.broadcast_address)
        sets[fam] = addr.normalize(tuple(sets[fam]) + ((lo, hi),))
        texts.append(str(net))
    return sets, texts


def normalize_expected(expected):
    """The policy as ``[{name, ports, protocol, from, from_text, container}]``."""
    if expected is None:
        return []
    if isinstance(expected, dict):
        expected = [expected]
    if not isinstance(expected, (list, tuple)):
        raise ValueError("expected must be a list of {name, ports, protocol, from}, got %r"
                         % (expected,))
    out = []
    for k, raw in enumerate(expected, 1):
        where = "expected[%d]" % k
        if not isinstance(raw, dict):
            raise ValueError("%s: %r should be a mapping with ports and from" % (where, raw))
        extra = sorted(set(raw) - set(_EXPECTED_KEYS))
        if extra:
            raise ValueError("%s: unknown key(s) %s (known: %s)"
                             % (where, ", ".join(extra), ", ".join(_EXPECTED_KEYS)))
        if "ports" not in raw:
            raise ValueError("%s: ports is required" % where)
        protocol = check.choice(raw.get("protocol") or "tcp", ("tcp", "udp", "all"),
                                where + ".protocol")
        sets, texts = _sources(raw.get("from", "anywhere"), where)
        container = raw.get("container")
        if container is not None and not isinstance(container, str):
            raise ValueError("%s.container: %r is not a container name" % (where, container))
        out.append({"name": str(raw.get("name") or "expected%d" % k),
                    "ports": check.port_ranges(raw["ports"], where + ".ports"), "protocol": protocol,
                    "from": sets, "from_text": texts or ["nobody"], "container": container})
    return out


def expected_for(policy, target):
    """(allowed address set of the target's family, names of the entries that apply)."""
    fam = target["family"]
    allowed = ()
    names = []
    for entry in policy:
        if entry["protocol"] not in ("all", target["protocol"]):
            continue
        if entry["container"] and entry["container"] != target.get("name"):
            continue
        if not any(lo <= target["host_port"] <= hi for lo, hi in entry["ports"]):
            continue
        allowed = addr.union(allowed, entry["from"][fam])
        names.append(entry["name"])
    return addr.normalize(allowed), names


def _pick(ivs, fam):
    """A representative address of a set: the documentation 'internet' address when the
    set holds it, else the first address that is not a network's zero address."""
    public = addr.parse_address(scan.PUBLIC[fam], fam)
    if addr.contains(ivs, public):
        return scan.PUBLIC[fam]
    lo, hi = ivs[0]
    return addr.to_text(lo + 1 if lo < hi and lo % 256 == 0 else lo, fam)


def _set_from_cidrs(cidrs, fam):
    return addr.normalize(addr.parse_cidr(c, fam) for c in cidrs)


# --- the rule path in one line ----------------------------------------------------------

def path_steps(result):
    """The steps of the forward walk worth naming (no policy-ACCEPT of untouched hooks,
    no end-of-chain returns, nothing of a later packet of the exchange - the SYN-ACK,
    the ACK, the data - unless that packet was stopped)."""
    out = []
    stopped = stopped_packet(result)
    segment = None
    for s in result.get("trace") or ():
        segment = packet_of(s, segment)
        if segment is not None and segment != stopped:
            continue
        if s["rule"] is None and s["table"] != "routing":
            decisive = result.get("decided_by") in (s["ref"], s["ref"] + " policy")
            if not decisive and (s["effect"].startswith("end of chain")
                                 or s["effect"] == "policy ACCEPT"):
                continue
        out.append(s)
    return out


def _short_effect(s):
    effect = s["effect"]
    if s["table"] == "routing":
        if "local delivery" in effect:
            return "local delivery (INPUT)"
        m = re.search(r"forward \(FORWARD, -o (\S+)\)", effect)
        if m:
            return "forward to %s" % m.group(1)
        return effect
    return "%s %s" % (s["ref"], effect)


def path_text(result):
    """``nat/PREROUTING#1 jump DOCKER -> nat/DOCKER#2 DNAT to ... -> ... = exposed``."""
    parts = [_short_effect(s) for s in path_steps(result)]
    parts.append("= %s (%s)" % (result["verdict"], result.get("reason") or ""))
    return u" \u2192 ".join(parts)


# --- the audit of one host --------------------------------------------------------------

def _probe(host_scan, target, iface, dst, source, role, allowed):
    fam = target["family"]
    r = host_scan.probe(target, iface, dst, source)
    inside = addr.contains(allowed, addr.parse_address(source["address"], fam))
    verdict = r["verdict"]
    if verdict == "exposed":
        judgement = "expected" if inside else "unexpected"
    elif verdict == "unknown":
        judgement = "expected" if inside else "unknown"
    else:
        judgement = "filtered"
    out = {"source": dict(source, interface=iface), "role": role, "verdict": verdict,
           "judgement": judgement, "allowed": inside}
    for key in ("action", "decided_by", "reason", "path", "dnat", "out_interface",
                "direction", "unknown_rule", "regardless_of", "probe", "trace"):
        if r.get(key) is not None:
            out[key] = r[key]
    out["path_text"] = path_text(r)
    return out


def _row(host_scan, target, iface, dst, policy, named):
    fam = target["family"]
    allowed, names = expected_for(policy, target)
    whole = host_scan.reach(target, iface, dst)
    exposed = _set_from_cidrs(whole["exposed_cidrs"], fam)
    outside = addr.complement(allowed, fam)
    if not outside:
        unexpected, unknown_out = (), "nothing"
    elif not allowed:
        unexpected, unknown_out = exposed, whole["unknown"]
    else:
        out_reach = host_scan.reach(target, iface, dst, sources=addr.to_cidrs(outside, fam))
        unexpected = _set_from_cidrs(out_reach["exposed_cidrs"], fam)
        unknown_out = out_reach["unknown"]
    if unexpected:
        verdict = "unexpected"
    elif unknown_out != "nothing":
        verdict = "unknown"
    elif exposed:
        verdict = "expected"
    else:
        verdict = "filtered"
    row = {
        "id": "%s on %s" % (scan.describe_target(target), iface),
        "target": target, "container": target.get("name"), "kind": target["kind"],
        "port": "%s/%s" % (target["host_port"], target["protocol"]),
        "family": fam, "interface": iface, "destination": dst,
        "reachable_from": whole["exposed"], "reachable_cidrs": whole["exposed_cidrs"],
        "unknown_from": whole["unknown"],
        "expected_from": addr.compact(allowed, fam) if allowed else "nobody",
        "expected_by": names,
        "unexpected_from": addr.compact(unexpected, fam) if unexpected else "nothing",
        "missing_from": (addr.compact(addr.subtract(allowed, exposed, fam), fam)
                         if allowed and addr.subtract(allowed, exposed, fam) else "nothing"),
        "verdict": verdict,
    }
    probes = [_probe(host_scan, target, iface, dst, s, "named", allowed)
              for s in named if s["interface"] == iface
              and addr.family_of(s["address"]) == fam]
    # A representative: someone who should not get in (and does, when anyone does), or,
    # when only expected sources get in, one of them.
    pick = None
    if unexpected:
        if not any(p["judgement"] == "unexpected" for p in probes):
            pick = ("outsider", _pick(unexpected, fam))
    elif exposed:
        if not any(p["verdict"] == "exposed" for p in probes):
            pick = ("allowed", _pick(exposed, fam))
    elif not probes:
        pick = ("outsider", _pick(outside or addr.universe(fam), fam))
    if pick is not None:
        role, address = pick
        name = {"outsider": "not expected", "allowed": "expected"}[role]
        probes.append(_probe(host_scan, target, iface, dst,
                             {"name": "%s (%s)" % (address, name), "address": address},
                             role, allowed))
    row["probes"] = probes
    return row


def _finding(host, row):
    probe = next((p for p in row["probes"] if p["judgement"] == row["verdict"]), None)
    target = row["target"]
    what = "%s %s (%s%s)" % (host + ":" if host else "", row["port"],
                             "container %s" % target["name"] if target.get("name") else
                             "no container", ", %s" % target["kind"])
    text = ("%s on %s is reachable from %s; expected from %s"
            % (what, row["interface"], row["unexpected_from"] if row["verdict"] == "unexpected"
               else "(unknown) " + row["unknown_from"], row["expected_from"]))
    if probe is not None:
        text += "; path of %s (%s): %s" % (probe["source"]["name"], probe["source"]["address"],
                                           probe["path_text"])
    return {"verdict": row["verdict"], "id": row["id"], "port": row["port"],
            "container": target.get("name"), "interface": row["interface"],
            "reachable_from": row["reachable_from"],
            "unexpected_from": row["unexpected_from"], "unknown_from": row["unknown_from"],
            "expected_from": row["expected_from"],
            "path": probe["path_text"] if probe else None, "text": text}


def audit_host(iptables_facts, docker_facts, expected=None, sources=None, interfaces=None,
               host=None, fail_on_unknown=False, include_loopback=False, nftables=None):
    """The host's report: rows (one per published port and interface), findings and a
    summary whose ``status`` is ``fail`` (an unexpected exposure, or an unknown one
    with ``fail_on_unknown``), ``warn`` (unknown) or ``pass``. ``nftables``: the native
    nftables model (``nftables_facts``), judged with the iptables tables."""
    host_scan = scan.Scan(iptables_facts, docker_facts, nftables=nftables)
    model = host_scan.docker
    policy = normalize_expected(expected)
    named = scan.normalize_sources(sources, model)
    interfaces = host_scan.interfaces(interfaces)
    rows = [_row(host_scan, target, iface, dst, policy, named)
            for target, iface, dst in host_scan.points(interfaces,
                                                       include_loopback=include_loopback)]
    findings = [_finding(host, r) for r in rows if r["verdict"] in ("unexpected", "unknown")]
    counts = dict((v, sum(1 for r in rows if r["verdict"] == v)) for v in ROW_VERDICTS)
    if counts["unexpected"] or (fail_on_unknown and counts["unknown"]):
        status = "fail"
    elif counts["unknown"]:
        status = "warn"
    else:
        status = "pass"
    daemon = model.get("daemon") or {}
    facts = iptables_facts if isinstance(iptables_facts, dict) else {}
    return {
        "report_version": REPORT_VERSION,
        "host": host,
        "docker": {"version": daemon.get("server_version"), "iptables": daemon.get("iptables"),
                   "ip6tables": daemon.get("ip6tables"),
                   "userland_proxy": daemon.get("userland_proxy")},
        "iptables": {"version": facts.get("version"), "backend": facts.get("backend"),
                     "docker_backend": facts.get("docker_backend")},
        "interfaces": list(interfaces),
        "sources": named,
        "expected": [{"name": e["name"], "ports": ["%d" % lo if lo == hi else "%d-%d" % (lo, hi)
                                                   for lo, hi in e["ports"]],
                      "protocol": e["protocol"], "from": e["from_text"],
                      "container": e["container"]} for e in policy],
        "rows": rows,
        "findings": findings,
        "summary": dict(counts, ports=len(rows), status=status),
    }


# --- what a policy module is about to write --------------------------------------------

def _family_model(facts, family):
    if "tables" in facts and facts.get("family", family) == family:
        return facts
    return facts.get(family)


def _plain_copy(value):
    """A deep copy made of plain dicts and lists.

    Filter arguments are lazy containers on ansible-core 2.19 and later: copy.deepcopy
    of one copies its templar too (slow, and the plugin loaders it holds warn of a
    deprecation on 2.21). Walking it yields the templated values instead."""
    if isinstance(value, dict):
        return dict((key, _plain_copy(item)) for key, item in value.items())
    if isinstance(value, tuple):
        return tuple(_plain_copy(item) for item in value)
    if isinstance(value, list):
        return [_plain_copy(item) for item in value]
    return value


def splice_chain(iptables_facts, chain, families, parent="DOCKER-USER"):
    """A copy of ``iptables_facts`` with ``chain`` holding ``families[f]["rules"]`` (rule
    bodies, as docker_user_policy / host_input_policy return them, also in check mode)
    and jumped to from the top of ``parent``; ``rules: None`` removes the chain and its
    jumps. A family marked ``skipped`` (or whose ``parent`` does not exist) is left as
    it is, because the module writes nothing there."""
    if not isinstance(iptables_facts, dict):
        raise ValueError("iptables facts must be a dict, got %s" % type(iptables_facts).__name__)
    if not isinstance(families, dict):
        raise ValueError("families must be the policy module's result families "
                         "({ipv4: {rules: [...]}}), got %r" % (families,))
    out = _plain_copy(iptables_facts)
    jump = "-A %s -j %s" % (parent, chain)
    for family, info in families.items():
        if family not in FAMILIES:
            raise ValueError("families: %r is not ipv4 or ipv6" % (family,))
        if not isinstance(info, dict) or info.get("skipped"):
            continue
        model = _family_model(out, family)
        if not model or model.get("available") is False or "tables" not in model:
            continue
        chains = model["tables"].get("filter", {}).get("chains", {})
        if parent not in chains:
            continue
        rules = info.get("rules")
        chains[parent]["rules"] = [r for r in chains[parent]["rules"] if r["rule"] != jump]
        if rules is None:
            chains.pop(chain, None)
            continue
        text = "-N %s\n" % chain + "".join("-A %s %s\n" % (chain, body) for body in rules)
        text += jump + "\n"
        parsed = parse_spec(text, "filter", family)["tables"]["filter"]["chains"]
        chains[chain] = parsed[chain]
        chains[parent]["rules"].insert(0, parsed[parent]["rules"][0])
    return out


def compare(before, after):
    """What changes from one audit of a host to the next, row by row."""
    old = dict((r["id"], r) for r in before["rows"])
    new = dict((r["id"], r) for r in after["rows"])
    changes = []
    for rid in list(old) + [k for k in new if k not in old]:
        a, b = old.get(rid), new.get(rid)
        entry = {"id": rid, "port": (a or b)["port"], "container": (a or b)["container"],
                 "interface": (a or b)["interface"],
                 "before": {"verdict": a["verdict"], "reachable_from": a["reachable_from"]}
                 if a else None,
                 "after": {"verdict": b["verdict"], "reachable_from": b["reachable_from"]}
                 if b else None, "sources": []}
        pa = dict((p["source"]["name"], p) for p in (a or {}).get("probes", ()) if p["role"] == "named")
        pb = dict((p["source"]["name"], p) for p in (b or {}).get("probes", ()) if p["role"] == "named")
        for name in list(pa) + [n for n in pb if n not in pa]:
            entry["sources"].append({
                "name": name, "address": (pa.get(name) or pb.get(name))["source"]["address"],
                "before": pa[name]["verdict"] if name in pa else None,
                "after": pb[name]["verdict"] if name in pb else None,
                "after_path": pb[name]["path_text"] if name in pb else None})
        entry["changed"] = (entry["before"] != entry["after"]
                            or any(s["before"] != s["after"] for s in entry["sources"]))
        changes.append(entry)
    return changes


def preview(iptables_facts, docker_facts, policy_result, parent="DOCKER-USER", docker_after=None,
            **audit_args):
    """Audit the host now and as it will be once the policy module's result is applied.

    ``policy_result`` is the registered result of docker_user_policy / host_input_policy
    (``chain`` and ``families``; with the nftables backend ``table`` and ``nft_table``,
    put into ``nftables``), typically from check mode. ``docker_after``: the Docker facts
    as they will be then, when the change also starts a service (host_network)."""
    if not isinstance(policy_result, dict) or "families" not in policy_result:
        raise ValueError("policy_result must be the registered result of docker_user_policy "
                         "or host_input_policy (with chain and families), got %r"
                         % (policy_result,))
    chain = policy_result.get("chain") or "DOCKERGUARD"
    nftables = audit_args.pop("nftables", None)
    after_nft = nftables
    if policy_result.get("backend") == "nftables":
        # our table replaces itself in the ruleset; our iptables chain is migrated away
        if not isinstance(nftables, dict) or nftables.get("available") is False:
            raise ValueError("the policy uses the nftables backend: give the nftables facts "
                             "(nftables=ansible_facts.nftables) to judge our table")
        after_nft = with_tables(_plain_copy(nftables), _plain_copy(policy_result.get("nft_table")),
                                remove=[policy_result["table"]])
        gone = dict((f, dict(i, rules=None)) for f, i in policy_result["families"].items())
        after_facts = splice_chain(iptables_facts, chain, gone, parent)
    else:
        after_facts = splice_chain(iptables_facts, chain, policy_result["families"], parent)
        if isinstance(nftables, dict) and nftables.get("available") is not False:
            after_nft = with_tables(_plain_copy(nftables), None,
                                    remove=["inet " + TABLES.get(parent, "")])
    before = audit_host(iptables_facts, docker_facts, nftables=nftables, **audit_args)
    after = audit_host(after_facts, docker_facts if docker_after is None else docker_after,
                       nftables=after_nft, **audit_args)
    return {"host": audit_args.get("host"), "chain": chain, "parent": parent,
            "before": before, "after": after, "changes": compare(before, after)}
