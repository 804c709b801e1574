# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet audit: exposure_audit, exposure_preview, exposure_drift, exposure_report.

Documentation: exposure_audit.yml, exposure_preview.yml, exposure_drift.yml and
exposure_report.yml beside this file. The logic is in module_utils/_exposure_audit.py (the
audit, the preview of a policy), module_utils/_exposure_drift.py (what changed since the
last audit) and module_utils/_exposure_render.py (the reports).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.plugin_utils._lazy_import import module_utils

audit = module_utils("_exposure_audit")
drift = module_utils("_exposure_drift")
render = module_utils("_exposure_render")


def _call(name, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc)) from exc


def exposure_audit(iptables_facts, docker_facts, expected=None, sources=None, interfaces=None,
                   host=None, fail_on_unknown=False, nftables=None):
    return _call("exposure_audit", audit.audit_host, iptables_facts, docker_facts,
                 expected=expected, sources=sources, interfaces=interfaces, host=host,
                 fail_on_unknown=fail_on_unknown, nftables=nftables)


def exposure_preview(iptables_facts, docker_facts, policy_result, expected=None, sources=None,
                     interfaces=None, host=None, parent="DOCKER-USER", nftables=None, docker_after=None):
    return _call("exposure_preview", audit.preview, iptables_facts, docker_facts, policy_result,
                 parent=parent, expected=expected, sources=sources, interfaces=interfaces,
                 host=host, nftables=nftables, docker_after=docker_after)


def exposure_drift(current, previous=None, previous_time=None):
    return _call("exposure_drift", drift.drift, previous, current, previous_time=previous_time)


def exposure_report(reports, fmt="html", title="Docker exposure audit", generated=None,
                    not_audited=None):
    if isinstance(reports, dict) and "before" in reports and "after" in reports:
        if fmt != "text":
            raise AnsibleFilterError("exposure_report: a preview renders as text only")
        return _call("exposure_report", render.render_preview, reports)
    return _call("exposure_report", render.render, reports, fmt=fmt, title=title,
                 generated=generated, not_audited=not_audited)


class FilterModule(object):
    def filters(self):
        return {"exposure_audit": exposure_audit, "exposure_preview": exposure_preview,
                "exposure_drift": exposure_drift, "exposure_report": exposure_report}
