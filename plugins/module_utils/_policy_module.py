# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The part of docker_user_policy and host_input_policy that talks to AnsibleModule.

Both modules validate their options into a policy, then call ``run_policy``, which runs
the one policy transaction (``_policy_transaction.apply_policy``: backend checks, one
plan per family, atomic apply, optional confirm-or-roll-back, read-back) and turns its
result into the module's: ``changed``, per-family rules, warnings, diff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils._cmd_runner import CmdRunner
from ansible_collections.dockerguard.firewall.plugins.module_utils._firewalld import host_reload_warnings
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy_backend import (
    BACKENDS,
    backend_for,
    choose,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy_transaction import (
    ApplyError,
    apply_policy,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._rollback_timer import (
    ConfirmError,
    RollbackTimer,
)

ENTRY_SPEC = dict(
    name=dict(type="str"),
    ports=dict(type="list", elements="raw", required=True),
    protocol=dict(type="str", choices=["tcp", "udp", "all"], default="tcp"),
    allow=dict(type="list", elements="str", required=True),
    interfaces=dict(type="list", elements="str"),
    action=dict(type="str", choices=["drop", "reject"]),
)

COMMON_SPEC = dict(
    entries=dict(type="list", elements="dict", options=ENTRY_SPEC, default=[]),
    action=dict(type="str", choices=["drop", "reject"], default="drop"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    families=dict(type="list", elements="str", choices=["ipv4", "ipv6"],
                  default=["ipv4", "ipv6"]),
    wait=dict(type="int", default=10),
    backend=dict(type="str", choices=list(BACKENDS), default="auto"),
)


def run_policy(module, policy, create_parent=False, missing_parent_v6=None,
               rollback_timeout=0, confirm_file=None):
    """Apply ``policy`` (our chain under ``policy["hook"]``); exit the module with the result."""
    p = module.params
    confirm = None
    if rollback_timeout:
        confirm = RollbackTimer(confirm_file or "", rollback_timeout)
        try:
            if not confirm_file or not module.check_mode:
                confirm.check()  # before anything changes
        except ConfirmError as exc:
            module.fail_json(msg=str(exc), changed=False, rolled_back=False)
        if module.check_mode:
            confirm = None
    runner = CmdRunner(module)
    name, why = choose(runner, p["backend"])
    chosen = {"changed": False, "backend": name, "backend_reason": why}
    try:
        res = apply_policy(runner, policy, p["families"], backend_for(runner, name, p["families"]),
                           check_mode=module.check_mode,
                           state=p["state"], wait=p["wait"], create_parent=create_parent,
                           missing_parent_v6=missing_parent_v6, confirm=confirm)
    except ApplyError as exc:
        module.fail_json(msg=str(exc), **dict(chosen, **exc.details))

    # firewalld flushes every iptables table on reload where it runs its iptables
    # backend or direct rules (never another nftables table): say so while present.
    reload_warnings = host_reload_warnings(name, policy["chain"]) if p["state"] == "present" else []
    for warning in res.warnings + reload_warnings:
        module.warn(warning)
    result = dict(chosen, changed=res.changed, chain=policy["chain"], families={},
                  rolled_back=False)
    diff = {"before": "", "after": ""}
    for plan in res.plans:
        changed = res.family_changed(plan)
        info = {"changed": changed, "rules": plan.after}
        if plan.skipped:
            info["skipped"] = plan.skipped
        if plan.retired_text:
            info["retired"] = plan.retired_text
        if plan.migrated and changed:
            info["migrated_from"] = plan.migrated
        elif name == "iptables":
            diff["before"] += "# %s\n%s" % (plan.family, plan.diff_text())
            diff["after"] += "# %s\n%s" % (plan.family, plan.diff_text(before=not changed))
        result["families"][plan.family] = info
    if name == "nftables" and res.plans:
        table = res.plans[0].table
        result["table"] = table.key
        wanted = table.wanted
        result["nft_script"] = wanted.body() if wanted is not None else None
        result["nft_table"] = {"nftables": wanted.items()} if wanted is not None else None
        diff["before"] = table.initial_text
        diff["after"] = (wanted.body() if wanted is not None else "") if res.changed else diff["before"]
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)
