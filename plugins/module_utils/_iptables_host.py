# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a host's iptables state: which binaries, which backend, the saved text.

Kept apart from the parser so the parser stays pure. ``run`` is any callable
``run(argv) -> (rc, stdout, stderr)`` (AnsibleModule.run_command fits), ``which``
any callable ``which(name) -> path or None``; tests pass real ones.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import (
    IptablesParseError,
    count_rules,
    parse_save,
)

SAVE_COMMANDS = {"ipv4": "iptables-save", "ipv6": "ip6tables-save"}
VERSION_COMMANDS = {"ipv4": "iptables", "ipv6": "ip6tables"}
# iptables >= 1.6 ships both backends side by side under these names.
BACKEND_SAVE = {
    "nf_tables": {"ipv4": "iptables-nft-save", "ipv6": "ip6tables-nft-save"},
    "legacy": {"ipv4": "iptables-legacy-save", "ipv6": "ip6tables-legacy-save"},
}
_VERSION = re.compile(r"v(\d+(?:\.\d+)*)(?:\s+\((\w+)\))?")
# Chains of the dockerd managing this network namespace: DOCKER, DOCKER-USER, DOCKER-FORWARD,
# DOCKER-ISOLATION-STAGE-1 ... Not DOCKER_OUTPUT / DOCKER_POSTROUTING: those are the
# embedded DNS resolver's nat rules that the engine *running* this host as a container
# writes (a node on a user-defined network, a CI runner), in that engine's backend.
DOCKER_CHAIN = re.compile(r"^:(DOCKER(?:-\S+)?)\s", re.M)


def parse_version(text):
    """``iptables v1.8.9 (nf_tables)`` -> ("1.8.9", "nf_tables"); legacy if unmarked."""
    m = _VERSION.search(text or "")
    if not m:
        return None, None
    return m.group(1), m.group(2) or "legacy"


def rule_count(text):
    return sum(1 for line in text.splitlines() if line.startswith("-A ") or line.startswith("["))


def probe_backends(run, which, families):
    """Count rules and Docker chains each backend holds (where both tools exist).

    Returns ({backend: {family: {"rules": n, "docker_chains": [...]}}}, [warnings]).
    """
    found = {}
    for backend, commands in BACKEND_SAVE.items():
        for family in families:
            path = which(commands[family])
            if not path:
                continue
            rc, out, err = run([path])
            if rc != 0:
                continue
            found.setdefault(backend, {})[family] = {
                "rules": rule_count(out),
                "docker_chains": sorted(set(DOCKER_CHAIN.findall(out))),
            }
    warnings = []
    for family in families:
        holders = [b for b in sorted(found) if found[b].get(family, {}).get("rules")]
        if len(holders) > 1:
            warnings.append(
                "%s rules exist in both the nf_tables and the legacy iptables backend "
                "(%s): the kernel evaluates both, but each tool shows only its own; "
                "rules written to the backend Docker does not use may be invisible or "
                "ineffective." % (family, ", ".join(
                    "%s: %d" % (b, found[b][family]["rules"]) for b in holders)))
    return found, warnings


def docker_backend(backends):
    """The backend holding Docker's chains (IPv4 decides), or None."""
    holders = [b for b in sorted(backends)
               if backends[b].get("ipv4", {}).get("docker_chains")]
    if len(holders) == 1:
        return holders[0]
    if len(holders) > 1:
        return "both"
    return None


def save_family(run, which, family, tables=None, counters=False):
    """Run <family>-save and parse it. Returns the model with ``available``.

    A missing ip6tables (or a kernel without IPv6) gives ``available: False`` and a
    reason; a missing iptables-save for IPv4 raises LookupError for the caller.
    """
    command = SAVE_COMMANDS[family]
    path = which(command)
    if not path:
        if family == "ipv4":
            raise LookupError(
                "%s not found: install the 'iptables' package (Debian/Ubuntu: "
                "apt-get install iptables; RHEL: dnf install iptables-nft)" % command)
        return {"family": family, "available": False, "reason": "%s not found" % command}
    args = [path] + (["-c"] if counters else [])
    texts = []
    for table in tables or [None]:
        rc, out, err = run(args + (["-t", table] if table else []))
        if rc != 0:
            reason = "%s failed (rc=%d): %s" % (" ".join(args + (["-t", table] if table else [])),
                                                rc, (err or out).strip())
            if family == "ipv4":
                raise RuntimeError(reason)
            return {"family": family, "available": False, "reason": reason}
        texts.append(out)
    text = "".join(texts)
    try:
        model = parse_save(text, family)
    except IptablesParseError as exc:
        raise RuntimeError("could not parse %s output: %s" % (command, exc))
    model["available"] = True
    model["rule_count"] = count_rules(model)
    notes = [line.lstrip("# ").strip() for line in text.splitlines()
             if line.startswith("# Warning")]
    if notes:
        model["notes"] = notes
    return model


def parse_ipset_save(text):
    """``ipset save`` text -> ``{name: {"type", "family", "netmask", "members",
    "nomatch"}}``: each set's members as written (``10.0.0.0/24``, ``10.0.0.1-10.0.0.9``,
    ``10.0.0.1,tcp:80`` for sets of more than one dimension)."""
    sets = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3:
            continue
        if words[0] == "create":
            opts = words[3:]
            entry = {"type": words[2], "family": "inet", "netmask": None, "members": [],
                     "nomatch": []}
            for key in ("family", "netmask"):
                if key in opts[:-1]:
                    entry[key] = opts[opts.index(key) + 1]
            sets[words[1]] = entry
        elif words[0] == "add" and words[1] in sets:
            where = "nomatch" if "nomatch" in words[3:] else "members"
            sets[words[1]][where].append(words[2])
    return sets


def save_ipsets(run, which):
    """The host's ipsets (``parse_ipset_save``), or None and why not."""
    path = which("ipset")
    if not path:
        return None, None  # no ipset tool: no set can exist that iptables matches
    rc, out, err = run([path, "save"])
    if rc != 0:
        return None, "ipset save failed (rc=%d): %s; rules matching ipsets stay unknown" % (
            rc, (err or out).strip())
    return parse_ipset_save(out), None


class GatherError(Exception):
    """The host's iptables state cannot be read: the message says what to fix."""


def gather(run, which, families=("ipv4", "ipv6"), tables=None, counters=False, backends=True):
    """The host's iptables facts (what iptables_facts returns as ``ansible_facts.iptables``).

    ``warnings`` holds backend mismatches and the save tools' notes. Raises GatherError."""
    families = list(dict.fromkeys(families))
    facts = {"warnings": []}
    binary = which(VERSION_COMMANDS["ipv4"])
    if not binary:
        raise GatherError("iptables not found: install the 'iptables' package "
                          "(Debian/Ubuntu: apt-get install iptables)")
    rc, out, err = run([binary, "--version"])
    facts["version"], facts["backend"] = parse_version(out or err)

    for family in ("ipv4", "ipv6"):
        if family not in families:
            facts[family] = {"family": family, "available": False, "reason": "not gathered"}
            continue
        try:
            facts[family] = save_family(run, which, family, tables, counters)
        except (LookupError, RuntimeError) as exc:
            raise GatherError(str(exc))
        facts["warnings"].extend(facts[family].pop("notes", []))

    facts["ipsets"], warning = save_ipsets(run, which)
    if warning:
        facts["warnings"].append(warning)
    facts["docker_backend"] = None
    if backends:
        facts["backends"], warnings = probe_backends(run, which, families)
        facts["docker_backend"] = docker_backend(facts["backends"])
        facts["warnings"].extend(warnings)
    return facts
