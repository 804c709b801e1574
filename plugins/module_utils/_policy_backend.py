# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which firewall backend a policy is written with, and retiring the other one.

``choose(runner, requested)`` resolves ``backend: auto`` the way Docker decides where
its own rules go: nftables when Docker reports its nftables firewall backend (Docker
29, ``docker info`` ``FirewallBackend.Driver``) or its nftables table ``docker-bridges``
exists, iptables otherwise; it returns the choice and why.

``backend_for(runner, name, families)`` gives the transaction's backend object: the
chosen one, wrapped in ``Migrating``, which plans the other backend's copy of our policy
as ``absent`` in the same run. Choosing nftables removes our iptables chain and jump;
choosing iptables removes our nftables table; ``state: absent`` removes both.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.dockerguard.firewall.plugins.module_utils._chain_apply import ApplyError
from ansible_collections.dockerguard.firewall.plugins.module_utils._nft_apply import NftablesBackend
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy_transaction import (
    IptablesBackend,
)

BACKENDS = ("auto", "iptables", "nftables")


def docker_reported(runner):
    """Docker's own firewall backend (``nftables``, ``iptables+firewalld``, ...) or None
    when the daemon does not say (Docker before 29, no CLI, daemon down)."""
    docker = runner.which("docker")
    if not docker:
        return None
    rc, out, err = runner.run([docker, "info", "--format", "{{json .FirewallBackend}}"])
    if rc != 0:
        return None
    try:
        data = json.loads(out.strip() or "null")
    except ValueError:
        return None
    return data.get("Driver") if isinstance(data, dict) else None


def docker_nft_table(runner):
    """Whether Docker's nftables table (``ip docker-bridges``) exists."""
    nft = runner.which("nft")
    if not nft:
        return False
    rc, out, err = runner.run([nft, "list", "tables"])
    return rc == 0 and any(line.split()[-1:] == ["docker-bridges"] for line in out.splitlines())


def choose(runner, requested="auto"):
    """(``iptables`` or ``nftables``, why)."""
    if requested != "auto":
        return requested, "backend: %s was asked for" % requested
    driver = docker_reported(runner)
    if driver:
        name = "nftables" if driver.startswith("nftables") else "iptables"
        return name, "Docker reports its firewall backend as %s" % driver
    if docker_nft_table(runner):
        return "nftables", "Docker's nftables table docker-bridges exists"
    return "iptables", ("Docker reports no nftables firewall backend (no FirewallBackend "
                        "in docker info, no table docker-bridges)")


def backend_for(runner, name, families):
    nft = NftablesBackend(runner, families)
    ipt = IptablesBackend(runner)
    if name == "nftables":
        return Migrating(nft, ipt)
    return Migrating(ipt, nft)


class MigrationPlan(object):
    """A family's plan of the chosen backend, with the other backend's removal."""

    def __init__(self, primary, retired):
        self.primary = primary
        self.retired = retired      # a plan with state absent, or None (nothing of ours)
        # what the other backend held, as first read (the result's ``retired``)
        self.retired_text = retired.diff_text() if self.retiring else None

    def __getattr__(self, name):
        return getattr(self.primary, name)

    @property
    def retiring(self):
        return self.retired is not None and self.retired.changed

    @property
    def changed(self):
        return self.primary.changed or self.retiring


class Migrating(object):
    """The transaction's hooks: ``primary``'s, then ``retired``'s removal of our policy."""

    def __init__(self, primary, retired):
        self.primary = primary
        self.retired = retired
        self.name = primary.name
        self.warnings = []
        self.done = {}      # backend -> families it wrote

    def check(self, families):
        self.warnings = self.primary.check(families)
        return self.warnings

    def plan(self, family, policy, state, create_parent=False, missing_parent_skip=None):
        main = self.primary.plan(family, policy, state, create_parent, missing_parent_skip)
        try:
            old = self.retired.plan(family, policy, "absent")
        except ApplyError as exc:   # not ours there (or unreadable): left alone
            if "not found" not in str(exc):     # no iptables tools: nothing of ours there
                self.warnings.append("%s backend left as it is: %s" % (self.retired.name, exc))
            old = None
        if old is not None and old.skipped:
            old = None
        return MigrationPlan(main, old)

    def apply(self, plans, wait):
        mains = [p.primary for p in plans]
        self.done[self.primary] = self.primary.apply(mains, wait)
        olds = [p.retired for p in plans if p.retiring]
        try:
            self.done[self.retired] = self.retired.apply(olds, wait) if olds else []
        except ApplyError as exc:
            if self.done[self.primary]:
                self.primary.undo(mains, self.done[self.primary], wait)
            raise ApplyError("removing our %s policy failed: %s; the %s change was put back, "
                             "nothing changed" % (self.retired.name, exc, self.primary.name))
        written = set(self.done[self.primary]) | set(self.done[self.retired])
        return [p.family for p in plans if p.family in written]

    def undo(self, plans, families, wait):
        olds = [p.retired for p in plans if p.retired is not None]
        done = [f for f in self.done.get(self.retired, ()) if f in families]
        if done:
            self.retired.undo(olds, done, wait)
        done = [f for f in self.done.get(self.primary, ()) if f in families]
        if done:
            self.primary.undo([p.primary for p in plans], done, wait)

    def undo_commands(self, plans, wait):
        olds = [p.retired for p in plans if p.retiring]
        return (self.primary.undo_commands([p.primary for p in plans], wait)
                + (self.retired.undo_commands(olds, wait) if olds else []))

    def verify(self, plan):
        problem = None
        if plan.family in self.done.get(self.primary, ()):
            problem = self.primary.verify(plan.primary)
        if not problem and plan.family in self.done.get(self.retired, ()):
            problem = self.retired.verify(plan.retired)
        return problem
