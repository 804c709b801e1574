# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One policy transaction, written once: read -> plan -> apply -> read-back.

``apply_policy(runner, policy, families, ...)`` is what docker_user_policy,
host_input_policy (through ``_policy_module``) and the boot program (``_saved_policy``)
call; each only turns the ``PolicyResult`` (or the one error type, ``ApplyError``) into
its own output. Shaped like ansible.posix's ``FirewallTransaction``: the sequence lives
in ``PolicyTransaction.run``, the firewall work behind hooks of a backend object
(``IptablesBackend`` here; an nftables backend implements the same hooks):

- ``check(families) -> warnings``: refuse (ApplyError) when writing would be useless;
- ``plan(family, ...) -> plan``: read the kernel and decide what is wanted; a plan has
  ``family``, ``changed``, ``skipped``, ``initial`` and ``after``;
- ``apply(plans, wait) -> families``: test every family, then write them, putting back
  the earlier ones when a later one fails;
- ``undo(plans, families, wait)``: put those families back as ``plan`` read them;
- ``verify(plan) -> None or a message``: read back what the kernel holds now.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils._chain_apply import (
    TOOLS,
    ApplyError,
    FamilyPlan,
    apply_plans,
    restore,
    same_rules,
    undo_wait,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._host_lock import (
    LOCK_PATH,
    LOCK_WAIT,
    HostLock,
    LockError,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables_host import (
    docker_backend,
    parse_version,
    probe_backends,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import chain_rules

__all__ = ["ApplyError", "IptablesBackend", "PolicyResult", "PolicyTransaction", "apply_policy"]


class IptablesBackend(object):
    """The transaction's hooks for iptables (nf_tables or legacy): one chain of ours
    per family, jumped to from ``policy["hook"]``, written with iptables-restore."""

    name = "iptables"

    def __init__(self, runner):
        self.runner = runner

    def check(self, families):
        """Refuse when Docker's rules are where our iptables command does not write."""
        run, which = self.runner.run, self.runner.which
        binary = which("iptables")
        if not binary:
            raise ApplyError("iptables not found: install the 'iptables' package")
        rc, out, err = run([binary, "--version"])
        backend = parse_version(out or err)[1]
        found, warnings = probe_backends(run, which, families)
        holder = docker_backend(found)
        if holder == "both":
            raise ApplyError(
                "Docker's chains exist in both the nf_tables and the legacy iptables "
                "backend (left over from a switch of the iptables alternative?), so which "
                "one Docker evaluates cannot be told: nothing changed. Remove the stale ones "
                "(iptables-nft / iptables-legacy), restart Docker.", backends=found)
        if holder not in (None, backend):
            raise ApplyError(
                "Docker's chains are in the %s iptables backend but the iptables command "
                "here uses %s: rules written now would not be evaluated with Docker's. Point "
                "the iptables alternative at the %s backend (update-alternatives --config "
                "iptables)." % (holder, backend, holder), backends=found)
        nft = which("nft")
        if holder is None and nft:
            rc, out, err = run([nft, "list", "tables"])
            if rc == 0 and "docker-bridges" in out:
                raise ApplyError(
                    "Docker uses its nftables firewall backend (table docker-bridges): "
                    "iptables rules would not restrict published ports. Use Docker's "
                    "iptables backend (daemon.json \"firewall-backend\": \"iptables\").")
        return warnings

    def plan(self, family, policy, state, create_parent=False, missing_parent_skip=None):
        parent = policy["hook"]
        plan = FamilyPlan(family, policy["chain"], parent)
        plan.save, plan.restore = (self.runner.which(t) for t in TOOLS[family])
        if not (plan.save and plan.restore):
            if family == "ipv4":
                raise ApplyError("%s / %s not found: install the 'iptables' package"
                                 % TOOLS[family])
            plan.skipped = "%s not found" % TOOLS[family][0]
            return plan
        self._read(plan)
        if plan.foreign:
            raise ApplyError("%s: chain %s %s: refusing to touch it, nothing changed. Our "
                             "chains are ours only: pick another chain name."
                             % (family, plan.chain, plan.foreign))
        if state == "present":
            plan.after = chain_rules(policy, family)
            if not plan.parent_exists:
                if create_parent:
                    plan.create_parent = True
                elif missing_parent_skip:
                    plan.skipped = missing_parent_skip
                else:
                    raise ApplyError("%s does not exist for %s: nothing changed." % (
                        parent, family) + (
                        " Docker creates it when it starts with iptables enabled: is dockerd "
                        "running with \"iptables\": true? (create_docker_user=true is for "
                        "boot, before Docker starts.)" if parent == "DOCKER-USER" else ""))
        return plan

    def _read(self, plan):
        try:
            plan.read(self.runner.run)
        except ValueError as exc:  # the save output did not parse
            raise ApplyError("%s: %s" % (plan.family, exc))

    def apply(self, plans, wait):
        return apply_plans(self.runner.run, plans, wait)

    def undo(self, plans, families, wait):
        for plan in reversed([p for p in plans if p.family in families]):
            restore(self.runner.run, plan, plan.undo_payload(), undo_wait(wait))

    def undo_commands(self, plans, wait):
        """[(argv, payload)] that put every family to be changed back as it was, once
        the change is written (for a rollback that runs without us)."""
        return [([plan.restore, "--noflush", "--wait=%d" % undo_wait(wait)],
                 plan.undo_payload(plan.written_jumps()))
                for plan in reversed(plans) if plan.changed]

    def verify(self, plan):
        """None when the kernel holds exactly our chain (or none) and one jump on top."""
        wanted = plan.after
        self._read(plan)
        if wanted is None:
            ok = plan.before is None and plan.jump_count == 0
        else:
            ok = (same_rules(plan.before, wanted, plan.family) and plan.jump_count == 1
                  and plan.jump_first and not plan.stale)
        if ok:
            return None
        return ("%s: after applying, %s or its jump from %s differs from what was written"
                % (plan.family, plan.chain, plan.parent))


class PolicyResult(object):
    """What a transaction did: per-family plans, the families written, warnings."""

    def __init__(self, plans, applied, warnings, check_mode):
        self.plans = plans
        self.applied = applied
        self.warnings = warnings
        self.check_mode = check_mode

    def family_changed(self, plan):
        return plan.family in self.applied or (self.check_mode and plan.changed)

    @property
    def changed(self):
        return any(self.family_changed(p) for p in self.plans)


class PolicyTransaction(object):
    """read -> plan -> (stop here in check mode) -> apply -> confirm -> read-back."""

    def __init__(self, backend, policy, families, state="present", wait=10,
                 create_parent=False, missing_parent_v6=None, check_backend=True,
                 confirm=None):
        self.backend = backend
        self.policy = policy
        self.families = list(dict.fromkeys(families))
        self.state = state
        self.wait = wait
        self.create_parent = create_parent
        self.missing_parent_v6 = missing_parent_v6
        self.check_backend = check_backend
        self.confirm = confirm      # RollbackTimer-like: arm(undo, fds), disarm(), wait()
        self.keep_fds = ()          # the host lock, handed to the rollback timer

    def plan(self):
        plans = []
        for family in self.families:
            plans.append(self.backend.plan(
                family, self.policy, self.state, self.create_parent,
                self.missing_parent_v6 if family == "ipv6" else None))
        return plans

    def run(self, check_mode=False):
        warnings = self.backend.check(self.families) if self.check_backend else []
        plans = self.plan()
        warnings.extend(p.skipped for p in plans if p.skipped and p.skipped == self.missing_parent_v6)
        if check_mode:
            return PolicyResult(plans, [], warnings, True)
        applied = self.apply(plans)
        if applied and self.confirm is not None:
            self.await_confirmation(plans, applied)
        self.read_back(plans, applied)
        return PolicyResult(plans, applied, warnings, False)

    def apply(self, plans):
        """Write the change; with a confirmation, arm its rollback timer first."""
        if self.confirm is None:
            return self.backend.apply(plans, self.wait)
        self.confirm.arm(self.backend.undo_commands(plans, self.wait), self.keep_fds)
        try:
            applied = self.backend.apply(plans, self.wait)
        except ApplyError:
            self.confirm.disarm()   # nothing is left changed: the apply put it back
            raise
        if not applied:
            self.confirm.disarm()
        return applied

    def await_confirmation(self, plans, applied):
        confirmed, errors = self.confirm.wait()
        if confirmed:
            return
        if confirmed is None:  # the timer is gone (killed?): put back here
            self.backend.undo(plans, applied, self.wait)
        if errors and confirmed is not None:
            raise ApplyError("no confirmation within the rollback timeout, and putting %s "
                             "back failed: %s" % (self.policy["chain"], "; ".join(errors)),
                             rolled_back=False)
        raise ApplyError("no confirmation within the rollback timeout that the controller "
                         "can still reach the host: the change to %s was rolled back "
                         "(only our chain; nothing else was touched)" % self.policy["chain"],
                         rolled_back=True)

    def read_back(self, plans, applied):
        """The kernel must hold what was written; if not, put every family back."""
        for plan in plans:
            if plan.family not in applied:
                continue
            wanted = plan.after
            problem = self.backend.verify(plan)
            if not problem:
                continue
            found = plan.before
            try:
                self.backend.undo(plans, applied, self.wait)
            except ApplyError as exc:
                raise ApplyError("%s; putting %s back failed too, so the kernel holds what "
                                 "was written there (see found): %s" % (
                                     problem, ", ".join(applied), exc),
                                 wanted=wanted, found=found, rolled_back=False)
            raise ApplyError("%s (a rendering bug: please report); %s put back as before, "
                             "nothing changed" % (problem, ", ".join(applied)),
                             wanted=wanted, found=found, rolled_back=True)


def apply_policy(runner, policy, families, backend=None, check_mode=False, lock_path=LOCK_PATH,
                 lock_wait=LOCK_WAIT, **options):
    """Run one transaction of ``policy`` on ``families``; returns a PolicyResult.

    The whole transaction, both families, runs under our host-wide lock
    (``_host_lock``), so concurrent runs of the modules and the boot program end in one
    complete policy. Raises ApplyError (nothing half-applied) with ``details`` for the
    caller's output. ``options``: state, wait, create_parent, missing_parent_v6,
    check_backend, confirm.
    """
    backend = backend or IptablesBackend(runner)
    transaction = PolicyTransaction(backend, policy, families, **options)
    try:
        lock = HostLock(lock_path, lock_wait).acquire()
    except LockError as exc:
        raise ApplyError(str(exc))
    with lock:
        transaction.keep_fds = (lock.fd,) if lock.fd is not None else ()
        return transaction.run(check_mode)
