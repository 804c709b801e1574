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
        self.after = None           # wanted rule bodies, None for "absent"
        self.create_parent = False
        self.skipped = None

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
        ours = chains.get(self.chain)
        prefix = len("-A %s " % self.chain)
        self.before = None if ours is None else [r["rule"][prefix:] for r in ours["rules"]]
        if not self.was_read:
            self.initial, self.was_read = self.before, True

    # -- deciding --------------------------------------------------------------
    @property
    def changed(self):
        if self.skipped:
            return False
        if self.after is None:
            return self.before is not None
        return (not same_rules(self.before, self.after, self.family) or self.jump_count != 1
                or not self.jump_first or self.create_parent)

    def payload(self):
        if self.after is None:  # a jump implies the chain exists: before is not None
            return removal_payload(self.chain, self.parent, self.jump_count)
        return restore_payload(self.chain, self.after, self.parent, self.jump_count,
                               self.jump_first, self.create_parent)

    def undo_payload(self):
        """Put back what the first ``read`` saw (our chain and a jump at the top, or
        neither), also after a read-back has read the kernel again."""
        if self.initial is None:
            return removal_payload(self.chain, self.parent, 1)
        return restore_payload(self.chain, self.initial, self.parent, 1, False)

    def rules_text(self, rules):
        if rules is None:
            return ""
        head = ["-A %s -j %s" % (self.parent, self.chain)]
        return "\n".join(head + ["-A %s %s" % (self.chain, r) for r in rules]) + "\n"


def restore(run, plan, payload, wait, test=False):
    argv = [plan.restore, "--noflush", "--wait=%d" % wait]
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
        done.append(plan)
    return [p.family for p in done]
