# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nftables hooks of the one policy transaction (``_policy_transaction``).

Our table (``_nft_policy``) is replaced whole in one ``nft -f`` transaction, tested
first with ``nft -c -f``. Before anything changes the table is read
(``nft -j list table``: is it ours, what does it mean) and saved as text (``nft list
table``: what undo loads back, exactly). After the write it is read back and compared
by meaning with what was rendered; the transaction puts the saved table back when they
differ. ``run(argv, data=None) -> (rc, out, err)`` is ``_cmd_runner.CmdRunner.run``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils._chain_apply import ApplyError
from ansible_collections.dockerguard.firewall.plugins.module_utils._nft_policy import (
    comparable,
    owned,
    render,
    replace_head,
    table_name,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._nftables import (
    NftablesParseError,
    parse,
)

# A table nobody has: creating it in check mode (-c) asks the kernel for inet support.
_PROBE = "table inet dockerguard_probe\ndelete table inet dockerguard_probe\n"


class TablePlan(object):
    """Our table as read and as wanted; one object shared by every family's view."""

    def __init__(self, key):
        self.key = key
        self.was_read = False
        self.exists = False
        self.model = None           # the table read, _nftables model, or None
        self.saved = None           # ``nft list table`` text of it as first read (undo)
        self.initial_text = ""      # the same, for the diff
        self.wanted = None          # a _nft_policy.Table, None for absent
        self.written = False

    def form(self):
        return comparable(self.model) if self.model is not None else None

    @property
    def changed(self):
        if self.wanted is None:
            return self.exists
        return self.form() != self.wanted.form()

    def payload(self):
        return self.wanted.script() if self.wanted is not None else replace_head(self.key)

    def undo_payload(self):
        return replace_head(self.key) + (self.saved or "")


class FamilyView(object):
    """One family's face of the table plan, in the shape the transaction and
    ``_policy_module`` read (``family``, ``changed``, ``skipped``, ``after``, ...)."""

    def __init__(self, family, table):
        self.family = family
        self.table = table
        self.skipped = None
        self.migrated = []

    @property
    def changed(self):
        return self.table.changed

    @property
    def after(self):
        wanted = self.table.wanted
        return None if wanted is None else wanted.family_rules(self.family)

    @property
    def before(self):
        model = self.table.model
        if model is None or self.family not in model["chains"]:
            return None
        return [r["text"] for r in model["chains"][self.family]["rules"]]

    initial = before

    def diff_text(self, before=True):
        if before:
            return self.table.initial_text
        return self.table.wanted.body() if self.table.wanted is not None else ""


class NftablesBackend(object):
    """The transaction's hooks for our nftables table."""

    name = "nftables"

    def __init__(self, runner, families=("ipv4", "ipv6")):
        self.runner = runner
        self.families = list(families)     # one table enforces them all
        self.nft = None
        self.tables = {}

    def check(self, families):
        """Refuse, naming the cause, when nft cannot do what we need."""
        self.nft = self.runner.which("nft")
        if not self.nft:
            raise ApplyError("nft not found: the nftables backend needs the 'nftables' "
                             "package (nft); nothing changed")
        rc, out, err = self.runner.run([self.nft, "-c", "-f", "-"], data=_PROBE)
        if rc != 0:
            raise ApplyError("nft cannot create an inet table here (kernel without "
                             "nf_tables inet support, or not root?): %s; nothing changed"
                             % (err or out).strip())
        return []

    def plan(self, family, policy, state, create_parent=False, missing_parent_skip=None):
        key = "inet %s" % table_name(policy)
        table = self.tables.get(key)
        if table is None:
            table = self.tables[key] = TablePlan(key)
            self.read(table)
            if state == "present":
                table.wanted = render(policy, self.families)
        return FamilyView(family, table)

    def read(self, table):
        if self.nft is None:
            self.nft = self.runner.which("nft")
        if self.nft is None:    # retiring a table where nft is gone: there is none
            table.was_read = True
            return
        rc, out, err = self.runner.run([self.nft, "-j", "list", "table"] + table.key.split())
        if rc != 0:
            if "No such file or directory" not in (err or out):
                raise ApplyError("nft -j list table %s failed (rc=%d): %s" % (
                    table.key, rc, (err or out).strip()))
            table.exists, table.model = False, None
        else:
            try:
                model = parse(out)["tables"].get(table.key)
            except NftablesParseError as exc:
                raise ApplyError("%s: %s" % (table.key, exc))
            table.exists, table.model = model is not None, model
        if table.was_read:
            return
        table.was_read = True
        if table.exists and not owned(table.model):
            raise ApplyError(
                "table %s exists and is not ours (none of its rules carries a "
                "'dockerguard:' comment): refusing to touch it, nothing changed. Rename or "
                "remove that table, or use backend: iptables." % table.key)
        if table.exists:
            rc, out, err = self.runner.run([self.nft, "list", "table"] + table.key.split())
            if rc != 0:
                raise ApplyError("nft list table %s failed (rc=%d): %s" % (
                    table.key, rc, (err or out).strip()))
            table.saved = table.initial_text = out

    def _tables(self, plans):
        return list(dict.fromkeys(p.table for p in plans))

    def _nft_file(self, payload, test=False):
        argv = [self.nft] + (["-c"] if test else []) + ["-f", "-"]
        rc, out, err = self.runner.run(argv, data=payload)
        if rc != 0:
            raise ApplyError("nft%s -f refused the change (rc=%d): %s" % (
                " -c" if test else "", rc, (err or out).strip()))

    def apply(self, plans, wait):
        tables = [t for t in self._tables(plans) if t.changed]
        for table in tables:
            self._nft_file(table.payload(), test=True)
        for table in tables:    # one table per module: one transaction
            self._nft_file(table.payload())
            table.written = True
        written = set(tables)
        return [p.family for p in plans if p.table in written]

    def undo(self, plans, families, wait):
        for table in self._tables([p for p in plans if p.family in families]):
            if table.written:
                self._nft_file(table.undo_payload())

    def undo_commands(self, plans, wait):
        return [([self.nft, "-f", "-"], t.undo_payload())
                for t in self._tables(plans) if t.changed]

    def verify(self, plan):
        table = plan.table
        self.read(table)
        wanted = table.wanted
        if (wanted is None and not table.exists) or (
                wanted is not None and table.form() == wanted.form()):
            return None
        return "%s: after applying, table %s differs from what was written" % (
            plan.family, table.key)
