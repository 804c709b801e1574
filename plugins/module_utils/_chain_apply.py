# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put one chain of ours (and its jump from a parent chain) in place, atomically.

Shared by the DOCKER-USER policy and the host-network INPUT policy. For each family:
read the filter table, compare our chain and jump with what is wanted, test the
``iptables-restore --noflush`` payload, then apply all families; if a later family
fails, the earlier ones are put back as they were. ``run(argv, data=None) -> (rc, out,
err)`` is the caller's (``_cmd_runner.CmdRunner.run``). These are the iptables hooks of
the one policy transaction, ``_policy_transaction``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import (
    parse_save,
    rule_text,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    COMMENT_PREFIX,
    HOOK_DOCKER_USER,
    HOOK_INPUT,
    removal_payload,
    restore_payload,
)

TOOLS = {"ipv4": ("iptables-save", "iptables-restore"),
         "ipv6": ("ip6tables-save", "ip6tables-restore")}


# Putting a family back after a failure waits at least this long for the xtables lock
# (legacy backend): a writer that made the apply give up after ``wait`` seconds (a long
# ``iptables -L`` resolving names, a big restore) must not also make the rollback give
# up, which would leave IPv4 and IPv6 with different policies.
UNDO_WAIT = 30


class ApplyError(RuntimeError):
    """A policy could not be put in place; nothing is left half-applied.

    The one error type of the policy transaction (``_policy_transaction``). ``details``
    are extra result keys for the module (``rolled_back``, ``wanted``/``found``, ...).
    """

    def __init__(self, msg, **details):
        super(ApplyError, self).__init__(msg)
        self.details = details


def undo_wait(wait):
    """Seconds to wait for the xtables lock when putting a family back."""
    return max(wait, UNDO_WAIT)


def _canonical_address(value):
    """None for "everyone" (iptables-save drops ``-s 0.0.0.0/0``), else one spelling."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return value
    return None if net.prefixlen == 0 else str(net)


def canonical(rules, family):
    """Rule bodies in one canonical form, for comparing what we wrote with what
    iptables-save prints back: both sides go through the project's own parser, then
    the spellings iptables normalises are made equal (``-s 0.0.0.0/0`` / ``::/0`` and
    ``-i +`` dropped, as iptables-save drops them; an IPv4-mapped IPv6 address, a bare
    address and its /32 or /128 written one way). None stays None (no chain).
    """
    if rules is None:
        return None
    text = "*filter\n:C - [0:0]\n%sCOMMIT\n" % "".join("-A C %s\n" % r for r in rules)
    out = []
    for rule in parse_save(text, family)["tables"]["filter"]["chains"]["C"]["rules"]:
        negated = rule.get("negated", ())
        for key in ("source", "destination"):
            if key in rule and key not in negated:
                value = _canonical_address(rule[key])
                if value is None:
                    del rule[key]
                else:
                    rule[key] = value
            elif key in rule:
                rule[key] = _canonical_address(rule[key]) or rule[key]
        for key in ("in_interface", "out_interface"):
            if rule.get(key) == "+" and key not in negated:
                del rule[key]
        out.append(rule_text(rule))
    return out


def same_rules(found, wanted, family):
    """Whether the kernel's rule bodies ``found`` mean ``wanted`` (None: no chain)."""
    return canonical(found, family) == canonical(wanted, family)


# Our chains are ours only. Every rule we write carries a "dockerguard: ..." comment
# (the ownership mark a read can check), and only the INPUT chain has the loopback rule,
# which tells host_input_policy's chain from docker_user_policy's.
_MARK = COMMENT_PREFIX + ":"
_INPUT_MARK = _MARK + " loopback"


def owner(rules):
    """Whose chain parsed ``rules`` are: HOOK_INPUT, HOOK_DOCKER_USER or None (not ours)."""
    comments = [m["options"].get("comment", "") for r in rules for m in r.get("matches", ())
                if m["name"] == "comment"]
    marks = [c for c in comments if c.startswith(_MARK)]
    if not marks:
        return None
    return HOOK_INPUT if _INPUT_MARK in marks else HOOK_DOCKER_USER


_MODULES = {HOOK_DOCKER_USER: "docker_user_policy", HOOK_INPUT: "host_input_policy"}


class FamilyPlan(object):
    """What is there and what is wanted for one family."""

    def __init__(self, family, chain, parent):
        self.family = family
        self.chain = chain
        self.parent = parent
        self.save = self.restore = None
        self.parent_exists = False
        self.before = None          # our chain's rule bodies, None when it does not exist
        self.initial = None         # ``before`` as first read: the diff, and what undo restores
        self.was_read = False
        self.jump_count = 0
        self.jump_first = False
        self.jump_positions = []
        self.after = None           # wanted rule bodies, None for "absent"
        self.create_parent = False
        self.skipped = None
        self.foreign = None         # why our chain's name is someone else's chain
        self.stale = []             # [(chain, rule bodies, jump positions)]: ours under an old name
        self.initial_stale = []     # ``stale`` as first read: what undo puts back
        self.migrated = []          # the stale chains' names as first read

    # -- reading ---------------------------------------------------------------
    def read(self, run):
        rc, out, err = run([self.save, "-t", "filter"])
        if rc != 0:
            raise ApplyError("%s -t filter failed (rc=%d): %s" % (self.save, rc, (err or out).strip()))
        chains = parse_save(out, self.family)["tables"].get("filter", {}).get("chains", {})
        parent = chains.get(self.parent)
        self.parent_exists = parent is not None
        jump = "-A %s -j %s" % (self.parent, self.chain)
        positions = [k for k, r in enumerate(parent["rules"]) if r["rule"] == jump] if parent else []
        self.jump_count = len(positions)
        self.jump_first = positions[:1] == [0]
        if not self.was_read:
            self.jump_positions = positions   # where undo puts the jumps back
        ours = chains.get(self.chain)
        self.before = None if ours is None else _bodies(self.chain, ours)
        self.foreign = self._foreign(chains, ours)
        self.stale = self._stale(chains, parent)
        if not self.was_read:   # a later read (the read-back) sees the migration done
            self.initial, self.initial_stale, self.was_read = self.before, self.stale, True
            self.migrated = [name for name, dummy, dummy in self.stale]

    def _foreign(self, chains, ours):
        """None when our chain is absent or ours; else why it is not."""
        if ours is None:
            return None
        if ours.get("builtin"):
            return "is a built-in chain"
        found = owner(ours["rules"])
        if ours["rules"] and found is None:
            return ("exists and is not ours (none of its %d rules carries a '%s' comment)"
                    % (len(ours["rules"]), _MARK))
        if found not in (None, self.parent):
            return ("is %s's chain (jumped to from %s)" % (_MODULES[found], found))
        jump = "-A %s -j %s" % (self.parent, self.chain)
        users = sorted(set(name for name, c in chains.items() for r in c["rules"]
                           if r.get("target") == self.chain and r["rule"] != jump))
        if users:
            return "is also jumped to from %s" % ", ".join(users)
        return None

    def _stale(self, chains, parent):
        """Chains of ours under another name still jumped to from our parent (a rename)."""
        stale = []
        for r in (parent or {}).get("rules", ()):
            name = r.get("target")
            c = chains.get(name)
            plain = "-A %s -j %s" % (self.parent, name)
            if (name == self.chain or c is None or c.get("builtin") or r["rule"] != plain
                    or owner(c["rules"]) != self.parent or name in [entry[0] for entry in stale]):
                continue
            positions = [k for k, x in enumerate(parent["rules"]) if x["rule"] == r["rule"]]
            used = [n for n, other in chains.items() for x in other["rules"]
                    if x.get("target") == name and x["rule"] != r["rule"]]
            if not used:
                stale.append((name, _bodies(name, c), positions))
        return stale

    # -- deciding --------------------------------------------------------------
    @property
    def changed(self):
        if self.skipped:
            return False
        if self.after is None:
            return self.before is not None
        return (not same_rules(self.before, self.after, self.family) or self.jump_count != 1
                or not self.jump_first or self.create_parent or bool(self.stale))

    def payload(self):
        if self.after is None:  # a jump implies the chain exists: before is not None
            return removal_payload(self.chain, self.parent, self.jump_count)
        text = restore_payload(self.chain, self.after, self.parent, self.jump_count,
                               self.jump_first, self.create_parent)
        # A renamed chain migrates in the same commit: the old jump and chain go.
        lines = []
        for name, dummy, positions in self.stale:
            lines += ["-D %s -j %s" % (self.parent, name)] * len(positions)
            lines += ["-F %s" % name, "-X %s" % name]
        return _before_commit(text, lines)

    def written(self):
        """Record what the kernel holds once ``payload`` is committed (undo starts there)."""
        self.jump_count = self.written_jumps()
        self.jump_first = self.jump_count == 1

    def written_jumps(self):
        return 0 if self.after is None else 1

    def undo_payload(self, jumps=None):
        """Put back exactly what the first ``read`` saw: our chain's rules, its jumps at
        their positions (or no chain and no jump), and a renamed chain migrated away
        (with its jumps where they were).
        ``jumps``: how many jumps of ours the kernel holds then (default: as last known)."""
        lines = ["*filter"]
        jumps = self.jump_count if jumps is None else jumps
        lines += ["-D %s -j %s" % (self.parent, self.chain)] * jumps
        inserts = []
        if self.initial is None:
            lines += ["-F %s" % self.chain, "-X %s" % self.chain]
        else:
            lines.append(":%s - [0:0]" % self.chain)
            lines += ["-A %s %s" % (self.chain, r) for r in self.initial]
            inserts += [(pos, self.chain) for pos in self.jump_positions]
        for name, rules, positions in self.initial_stale if self.after is not None else ():
            lines += [":%s - [0:0]" % name] + ["-A %s %s" % (name, r) for r in rules]
            inserts += [(pos, name) for pos in positions]
        # ascending: each insert sees the rules before it as they were
        lines += ["-I %s %d -j %s" % (self.parent, pos + 1, name) for pos, name in sorted(inserts)]
        return "\n".join(lines + ["COMMIT"]) + "\n"

    def diff_text(self, before=True):
        """Our jump(s) and chain as iptables lines: as first read (jumps that are not
        alone at the top shown with their positions), or as written."""
        if not before:
            return self.rules_text(self.after)
        if self.initial is None and not self.jump_positions:
            return ""
        if self.jump_positions == [0]:
            head = ["-A %s -j %s" % (self.parent, self.chain)]
        else:
            head = ["-I %s %d -j %s" % (self.parent, pos + 1, self.chain)
                    for pos in self.jump_positions]
        body = ["-A %s %s" % (self.chain, r) for r in self.initial or ()]
        for name, rules, positions in self.initial_stale:
            body += ["-A %s -j %s" % (self.parent, name)] * len(positions)
            body += ["-A %s %s" % (name, r) for r in rules]
        return "\n".join(head + body) + "\n"

    def rules_text(self, rules):
        if rules is None:
            return ""
        head = ["-A %s -j %s" % (self.parent, self.chain)]
        return "\n".join(head + ["-A %s %s" % (self.chain, r) for r in rules]) + "\n"


def _bodies(name, chain):
    prefix = len("-A %s " % name)
    return [r["rule"][prefix:] for r in chain["rules"]]


def _before_commit(text, lines):
    """Add ``lines`` to a one-table restore payload, inside its COMMIT."""
    if not lines:
        return text
    return text[:-len("COMMIT\n")] + "\n".join(lines) + "\nCOMMIT\n"


def restore(run, plan, payload, wait, test=False):
    # iptables-restore (legacy) waits for the xtables lock forever with --wait=0, and
    # also without --wait: so 0 means the shortest bounded wait it offers, 1 s.
    argv = [plan.restore, "--noflush", "--wait=%d" % max(wait, 1)]
    if test:
        argv.append("--test")
    rc, out, err = run(argv, data=payload)
    if rc != 0:
        raise ApplyError("%s%s refused the %s change (rc=%d): %s" % (
            plan.restore, " --test" if test else "", plan.family, rc, (err or out).strip()))


def apply_plans(run, plans, wait=10):
    """Test every family's payload, then apply them in order; undo on failure.

    Returns the list of families changed. Raises ApplyError with nothing left
    half-applied (families already applied are put back).
    """
    todo = [p for p in plans if p.changed]
    for plan in todo:
        restore(run, plan, plan.payload(), wait, test=True)
    done = []
    for plan in todo:
        try:
            restore(run, plan, plan.payload(), wait)
        except ApplyError as exc:
            for prev in reversed(done):
                try:
                    restore(run, prev, prev.undo_payload(), undo_wait(wait))
                except ApplyError as undo_exc:
                    raise ApplyError("%s; and putting %s back failed too: %s" % (
                        exc, prev.family, undo_exc))
            raise ApplyError("%s (nothing changed: %s put back)" % (
                exc, ", ".join(p.family for p in done) or "no family had been applied"))
        plan.written()
        done.append(plan)
    return [p.family for p in done]
