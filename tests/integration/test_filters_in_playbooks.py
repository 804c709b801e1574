# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit filters inside a real ansible-playbook, as the playbooks use them.

Since ansible-core 2.19 a filter receives lazy containers, not plain dicts; what a
filter does with them (copying, walking) must give the same result and print no
warning or deprecation (ansible-core 2.21 warns when one is deep-copied).
No root needed: everything runs on the controller.
"""

from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_run import playbook

from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import chain_rules, validate
from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model as lab

TASKS = """\
    - name: Audit
      ansible.builtin.set_fact:
        audit: "{{ fw | dockerguard.firewall.exposure_audit(dk, expected=expected, host='n1') }}"
    - name: Preview the policy (the enforce_docker_user playbook's check mode)
      ansible.builtin.set_fact:
        preview: "{{ fw | dockerguard.firewall.exposure_preview(dk, res, expected=expected, host='n1') }}"
    - name: Render both
      ansible.builtin.set_fact:
        out:
          audit: "{{ [audit] | dockerguard.firewall.exposure_report('text') }}"
          preview: "{{ preview | dockerguard.firewall.exposure_report('text') }}"
          after: "{{ preview.after.summary.status }}"
"""


@pytest.mark.smoke
def test_audit_and_preview_filters_in_a_playbook(tmp_path):
    policy = validate([{"ports": [8080], "allow": ["10.99.0.0/16"]}])
    facts = {"fw": lab.ruleset(allow_list=False), "dk": lab.docker(), "expected": lab.EXPECTED,
             "res": {"chain": "DOCKERGUARD", "families": {"ipv4": {"rules": chain_rules(policy, "ipv4")}}}}
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps(facts))
    _rc, out, log = playbook(TASKS, extra_args=["-e", "@%s" % varfile])
    assert out["audit"].startswith("n1: FAIL"), log
    assert out["preview"].startswith("n1: FAIL -> PASS"), log
    assert out["after"] == "pass"
    assert "DEPRECATION" not in log and "[WARNING]" not in log, log
