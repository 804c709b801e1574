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

import os
import time

from ansible_collections.dockerguard.firewall.plugins.module_utils._cmd_runner import CmdRunner
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy_transaction import (
    ApplyError,
    apply_policy,
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
)


def prepare_confirm(confirm_file):
    """The confirm file's directory exists; no stale confirmation from an earlier run."""
    d = os.path.dirname(confirm_file)
    if d and not os.path.isdir(d):
        os.makedirs(d, 0o700)
    for stale in (confirm_file, confirm_file + ".applied"):
        if os.path.exists(stale):
            os.remove(stale)


def confirmer(confirm_file, timeout):
    """``confirm() -> bool``: keep the change only if ``confirm_file`` appears in time.

    The controller creates the file once it has reconnected after the change; if it
    never can, the transaction puts our chains back as they were (and only them).
    """
    def confirm():
        marker = confirm_file + ".applied"
        with open(marker, "w") as f:
            f.write("%d\n" % os.getpid())
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(confirm_file):
                for path in (confirm_file, marker):
                    os.remove(path)
                return True
            time.sleep(0.25)
        os.remove(marker)
        return False
    return confirm


def run_policy(module, policy, create_parent=False, missing_parent_v6=None,
               rollback_timeout=0, confirm_file=None):
    """Apply ``policy`` (our chain under ``policy["hook"]``); exit the module with the result."""
    p = module.params
    confirm = None
    if rollback_timeout and confirm_file and not module.check_mode:
        prepare_confirm(confirm_file)
        confirm = confirmer(confirm_file, rollback_timeout)
    try:
        res = apply_policy(CmdRunner(module), policy, p["families"], check_mode=module.check_mode,
                           state=p["state"], wait=p["wait"], create_parent=create_parent,
                           missing_parent_v6=missing_parent_v6, confirm=confirm)
    except ApplyError as exc:
        module.fail_json(msg=str(exc), **dict({"changed": False}, **exc.details))

    for warning in res.warnings:
        module.warn(warning)
    result = {"changed": res.changed, "chain": policy["chain"], "families": {},
              "rolled_back": False}
    diff = {"before": "", "after": ""}
    for plan in res.plans:
        changed = res.family_changed(plan)
        info = {"changed": changed, "rules": plan.after}
        if plan.skipped:
            info["skipped"] = plan.skipped
        else:
            diff["before"] += "# %s\n%s" % (plan.family, plan.rules_text(plan.initial))
            diff["after"] += "# %s\n%s" % (plan.family,
                                           plan.rules_text(plan.after if changed else plan.initial))
        result["families"][plan.family] = info
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)
