# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters exposure_audit, exposure_preview and exposure_report (the logic is tested in
module_utils/test__exposure_audit.py and test__exposure_render.py; here the plumbing)."""

from __future__ import absolute_import, division, print_function

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.filter.exposure_audit import FilterModule
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    chain_rules, validate)

from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model as lab

F = FilterModule().filters()


def test_filters_are_registered():
    assert sorted(F) == ["exposure_audit", "exposure_drift", "exposure_preview", "exposure_report"]


def test_exposure_audit_and_report():
    rep = F["exposure_audit"](lab.ruleset(allow_list=False), lab.docker(), lab.EXPECTED,
                              sources=lab.SOURCES, host="n1")
    assert rep["summary"]["status"] == "fail"
    html = F["exposure_report"]([rep])
    assert html.count('class="port-row"') == 1
    assert F["exposure_report"]([rep], "markdown", title="T").startswith("# T\n")
    assert F["exposure_report"]([rep], "text").startswith("n1: FAIL")


def test_exposure_drift_previous_as_text_or_nothing():
    old = F["exposure_audit"](lab.ruleset(), lab.docker(), lab.EXPECTED, host="n1")
    new = F["exposure_audit"](lab.ruleset(allow_list=False), lab.docker(), lab.EXPECTED, host="n1")
    assert F["exposure_drift"](new)["status"] == "first"
    d = F["exposure_drift"](new, json.dumps(old), previous_time="yesterday")
    assert (d["status"], d["widened"], d["previous_time"]) == ("changed", True, "yesterday")


def test_exposure_preview_renders_as_text_only():
    policy = validate([{"ports": [8080], "allow": ["10.99.0.0/16"]}])
    result = {"chain": "DOCKERGUARD", "families": {"ipv4": {"rules": chain_rules(policy, "ipv4")}}}
    pv = F["exposure_preview"](lab.ruleset(allow_list=False), lab.docker(), result,
                               expected=lab.EXPECTED, host="n1")
    assert pv["after"]["summary"]["status"] == "pass"
    assert F["exposure_report"](pv, "text").startswith("n1: FAIL -> PASS")
    with pytest.raises(AnsibleFilterError, match="a preview renders as text only"):
        F["exposure_report"](pv, "html")


@pytest.mark.parametrize("call, message", [
    (lambda: F["exposure_audit"](lab.ruleset(), lab.docker(), [{"ports": ["x"]}]),
     "exposure_audit: expected\\[1\\].ports: 'x' is not a port"),
    (lambda: F["exposure_audit"](lab.ruleset(), {}), "exposure_audit: docker facts must be"),
    (lambda: F["exposure_preview"](lab.ruleset(), lab.docker(), {}), "exposure_preview: policy_result"),
    (lambda: F["exposure_report"]([{}], "html"), "exposure_report: reports\\[0\\]"),
    (lambda: F["exposure_report"]([], "pdf"), "exposure_report: format must be"),
    (lambda: F["exposure_report"]([], "html", not_audited=[{"reason": "x"}]),
     "exposure_report: not_audited\\[0\\]: .* has no host"),
    (lambda: F["exposure_drift"](F["exposure_audit"](lab.ruleset(), lab.docker(), host="a"), "{"),
     "exposure_drift: previous: not a JSON host report"),
])
def test_errors_are_filter_errors(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()
