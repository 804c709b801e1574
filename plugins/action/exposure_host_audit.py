# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of exposure_host_audit: one host's audit in one task.

The facts are gathered on the host (one run of exposure_facts); the engine and the drift
run here, in the controller's worker process for the host.

Why the engine is imported at the top of this file: ansible-playbook loads a task's action
plugin in its main process before it forks a worker per host, and the collection loader
keeps no bytecode, so a module imported here is compiled once per run and inherited by
every worker, where a filter's import compiles it again in each (about 50 ms per host).
"""

from __future__ import annotations

import datetime

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_drift as drift
from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_render as render
from ansible_collections.dockerguard.firewall.plugins.modules.exposure_host_audit import (
    ARGUMENT_SPEC, REQUIRED_IF)

FACTS_MODULE = "dockerguard.firewall.exposure_facts"


class NotAudited(Exception):
    """The host cannot be audited; the message is the reason the fleet report shows."""


def analyse(facts, params, host, now):
    """The host report of ``facts`` (exposure_facts' keys), with its drift when
    ``params['previous']`` is set. Raises NotAudited."""
    if not isinstance(facts.get("iptables"), dict) or not isinstance(facts.get("docker_network"), dict):
        raise NotAudited("no iptables and docker_network facts (gather them with %s)" % FACTS_MODULE)
    try:
        report = audit.audit_host(
            facts["iptables"], facts["docker_network"], expected=params["expected"],
            sources=params["sources"], interfaces=params["interfaces"] or None, host=host,
            fail_on_unknown=params["fail_on_unknown"], nftables=facts.get("nftables"))
    except (ValueError, KeyError, TypeError) as exc:
        raise NotAudited("exposure_audit: %s" % exc)
    report["audited_at"] = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    if params["previous"] is None:
        return report
    try:
        with open(params["previous"], "rb") as f:
            previous = f.read().decode("utf-8")
    except FileNotFoundError:
        previous = None
    except (OSError, UnicodeDecodeError) as exc:
        raise NotAudited("exposure_drift: cannot read %s: %s" % (params["previous"], exc))
    try:
        report["drift"] = drift.drift(previous, report)
    except (ValueError, KeyError, TypeError) as exc:
        raise NotAudited("exposure_drift: %s: %s" % (params["previous"], exc))
    return report


def failure_reason(result):
    """A failed module run's message, with the last line of what it wrote to stderr when
    the message alone does not say why (a module whose output is no result: the
    connection's own error, a Python traceback)."""
    reason = result.get("msg") or "%s failed" % FACTS_MODULE
    lines = [ln.strip() for ln in (result.get("module_stderr") or "").splitlines() if ln.strip()]
    if lines and lines[-1] not in reason:
        reason += " (%s)" % lines[-1][:300]
    return reason


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _gather(self, params, task_vars, result):
        """exposure_facts' ansible_facts, its warnings passed on. Raises NotAudited."""
        try:
            facts = self._execute_module(module_name=FACTS_MODULE, module_args=params["gather_options"],
                                         task_vars=task_vars)
        except AnsibleConnectionFailure as exc:
            raise NotAudited("unreachable: %s" % exc)
        finally:
            self._forget_tmp_path()
        result["warnings"] = list(result.get("warnings") or []) + list(facts.get("warnings") or [])
        if facts.get("unreachable"):
            raise NotAudited("unreachable: %s" % facts.get("msg", "no reason given"))
        if facts.get("failed"):
            raise NotAudited(failure_reason(facts))
        return facts.get("ansible_facts") or {}

    def _forget_tmp_path(self):
        """Remove the module's temporary directory on the host (made without pipelining).
        A host that went away keeps it: the audit, or the first error, is what counts."""
        try:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        except AnsibleConnectionFailure:
            pass

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC,
                                                          required_if=REQUIRED_IF)
        host = params["host"] or task_vars["inventory_hostname"]
        now = datetime.datetime.now(datetime.timezone.utc)
        result.update(changed=False, report=None, not_audited=None, text=[])
        try:
            if params["gather"]:
                facts = self._gather(params, task_vars, result)
                # the host's facts, as exposure_facts sets them (later tasks read them)
                result["ansible_facts"] = facts
            else:
                facts = params["facts"]
            report = analyse(facts, params, host, now)
        except NotAudited as exc:
            result["not_audited"] = {"host": host, "task": self._task.get_name(), "reason": str(exc)}
            return result
        result["report"] = report
        if params["text"]:
            result["text"] = render.render_text([report]).splitlines()
        return result
