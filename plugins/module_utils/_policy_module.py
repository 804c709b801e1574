# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The part of docker_user_policy and host_input_policy that talks to AnsibleModule.

Both modules validate their options into a policy, then call ``run_policy``: backend
checks, one plan per family, atomic apply (with optional confirm-or-roll-back), a
read-back proving the kernel holds what was rendered, and the result with diff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.dockerguard.firewall.plugins.module_utils._chain_apply import (
    TOOLS,
    ApplyError,
    FamilyPlan,
    apply_plans,
    restore,
    undo_wait,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables_host import (
    docker_backend,
    parse_version,
    probe_backends,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import chain_rules

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


class Host(object):
    """Commands on the managed host, through AnsibleModule."""

    def __init__(self, module):
        self.module = module

    def run(self, argv, data=None):
        return self.module.run_command(argv, data=data, binary_data=data is not None,
                                       environ_update={"LC_ALL": "C"})

    def which(self, name):
        return self.module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin"])


def check_backend(module, host, families):
    """Refuse when Docker's rules are where our iptables command does not write."""
    binary = host.which("iptables")
    if not binary:
        module.fail_json(msg="iptables not found: install the 'iptables' package")
    rc, out, err = host.run([binary, "--version"])
    backend = parse_version(out or err)[1]
    found, warnings = probe_backends(host.run, host.which, families)
    holder = docker_backend(found)
    if holder == "both":
        module.fail_json(msg="Docker's chains exist in both the nf_tables and the legacy iptables "
                             "backend (left over from a switch of the iptables alternative?), so "
                             "which one Docker evaluates cannot be told: nothing changed. Remove "
                             "the stale ones (iptables-nft / iptables-legacy), restart Docker.",
                         backends=found)
    if holder not in (None, backend):
        module.fail_json(msg="Docker's chains are in the %s iptables backend but the iptables "
                             "command here uses %s: rules written now would not be evaluated "
                             "with Docker's. Point the iptables alternative at the %s backend "
                             "(update-alternatives --config iptables)." % (holder, backend, holder),
                         backends=found)
    nft = host.which("nft")
    if holder is None and nft:
        rc, out, err = host.run([nft, "list", "tables"])
        if rc == 0 and "docker-bridges" in out:
            module.fail_json(msg="Docker uses its nftables firewall backend (table "
                                 "docker-bridges): iptables rules would not restrict published "
                                 "ports. Use Docker's iptables backend (daemon.json "
                                 "\"firewall-backend\": \"iptables\").")
    return warnings


def plan_families(module, host, policy, parent, families, state, create_parent=False,
                  missing_parent_v6=None):
    """Read each family and decide what is wanted; fail (touching nothing) when needed."""
    plans = []
    for family in families:
        plan = FamilyPlan(family, policy["chain"], parent)
        plan.save, plan.restore = (host.which(t) for t in TOOLS[family])
        if not (plan.save and plan.restore):
            if family == "ipv4":
                module.fail_json(msg="%s / %s not found: install the 'iptables' package"
                                     % TOOLS[family])
            plan.skipped = "%s not found" % TOOLS[family][0]
            plans.append(plan)
            continue
        try:
            plan.read(host.run)
        except (ApplyError, ValueError) as exc:
            module.fail_json(msg=str(exc))
        plan.initial = plan.before
        if state == "present":
            plan.after = chain_rules(policy, family)
            if not plan.parent_exists:
                if create_parent:
                    plan.create_parent = True
                elif family == "ipv6" and missing_parent_v6:
                    plan.skipped = missing_parent_v6
                    module.warn(plan.skipped)
                else:
                    module.fail_json(msg="%s does not exist for %s: nothing changed." % (
                        parent, family) + (
                        " Docker creates it when it starts with iptables enabled: is dockerd "
                        "running with \"iptables\": true? (create_docker_user=true is for "
                        "boot, before Docker starts.)" if parent == "DOCKER-USER" else ""))
        plans.append(plan)
    return plans


def await_confirmation(module, host, plans, applied, confirm_file, timeout, wait):
    """Keep the change only if ``confirm_file`` appears within ``timeout`` seconds.

    The controller creates the file once it has reconnected after the change; if it
    never can, our chains go back to what they were (and only our chains).
    """
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
    for plan in reversed([p for p in plans if p.family in applied]):
        restore(host.run, plan, plan.undo_payload(), undo_wait(wait))
    return False


def run_policy(module, policy, parent, create_parent=False, missing_parent_v6=None,
               rollback_timeout=0, confirm_file=None):
    """Apply ``policy`` to our chain under ``parent``; exit the module with the result."""
    p = module.params
    host = Host(module)
    families = list(dict.fromkeys(p["families"]))
    check_backend(module, host, families)
    plans = plan_families(module, host, policy, parent, families, p["state"], create_parent,
                          missing_parent_v6)

    applied = []
    rolled_back = False
    if not module.check_mode:
        if rollback_timeout and confirm_file:
            d = os.path.dirname(confirm_file)
            if d and not os.path.isdir(d):
                os.makedirs(d, 0o700)
            for stale in (confirm_file, confirm_file + ".applied"):
                if os.path.exists(stale):
                    os.remove(stale)
        try:
            applied = apply_plans(host.run, plans, p["wait"])
            if applied and rollback_timeout and confirm_file:
                rolled_back = not await_confirmation(module, host, plans, applied, confirm_file,
                                                     rollback_timeout, p["wait"])
        except ApplyError as exc:
            module.fail_json(msg=str(exc))
        if rolled_back:
            module.fail_json(msg="no confirmation within %d s that the controller can still "
                                 "reach the host: the change to %s was rolled back (only our "
                                 "chain; nothing else was touched)" % (rollback_timeout,
                                                                       policy["chain"]),
                             rolled_back=True, changed=False)
        # Read back: the kernel must now hold exactly what we rendered.
        for plan in plans:
            if plan.family in applied:
                wanted = plan.after
                plan.read(host.run)
                if plan.before != wanted:
                    module.fail_json(msg="%s: after applying, %s holds rules that differ from "
                                         "the ones written (a rendering bug: please report)"
                                     % (plan.family, plan.chain), wanted=wanted,
                                     found=plan.before)

    result = {"changed": bool(applied) or (module.check_mode and any(pl.changed for pl in plans)),
              "chain": policy["chain"], "families": {}, "rolled_back": False}
    diff = {"before": "", "after": ""}
    for plan in plans:
        changed = plan.family in applied or (module.check_mode and plan.changed)
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
