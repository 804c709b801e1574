#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: exposure_host_audit
short_description: Audit one host's Docker exposure in one task - gather on the host, judge on the controller
version_added: 0.1.0
description:
  - Gathers the host's facts with M(dockerguard.firewall.exposure_facts) (one module run
    on the host), then, on the controller, judges every published port as
    P(dockerguard.firewall.exposure_audit#filter) does, compares the result with the
    report kept from the last audit as P(dockerguard.firewall.exposure_drift#filter)
    does, and returns the host report.
  - A host that cannot be reached, or whose facts or analysis fail, does not fail this
    task; it is returned as not audited, with the reason, so that a fleet report can
    still name it. Invalid options fail the task.
  - The step of the M(dockerguard.firewall.exposure_audit) role that does the work. The
    analysis code is loaded once per C(ansible-playbook) run, before a worker process is
    started for each host, not once per host.
author:
  - dockerguard developers (@dockerguard)
extends_documentation_fragment:
  - dockerguard.firewall.attributes
  - dockerguard.firewall.attributes.info_module
  - dockerguard.firewall.attributes.facts
  - dockerguard.firewall.attributes.action
attributes:
  delegation:
    support: none
    details: The facts are gathered on the task's host.
options:
  gather:
    description:
      - Gather the facts on the host with M(dockerguard.firewall.exposure_facts).
      - V(false) uses O(facts) instead, and runs nothing on the host.
    type: bool
    default: true
  gather_options:
    description: Options of M(dockerguard.firewall.exposure_facts) (C(families), C(docker_host), C(timeout)).
    type: dict
    default: {}
  facts:
    description:
      - Facts gathered earlier, with the keys C(iptables), C(docker_network) and
        optionally C(nftables), as M(dockerguard.firewall.exposure_facts) returns them
        (V(ansible_facts) after that module ran). Required when O(gather=false).
    type: dict
  expected:
    description: The expected exposure, as P(dockerguard.firewall.exposure_audit#filter) takes it.
    type: list
    elements: dict
    default: []
  sources:
    description: Named sources each port is probed from, as P(dockerguard.firewall.exposure_audit#filter) takes them.
    type: list
    elements: dict
    default: []
  interfaces:
    description: Input interfaces to audit; V([]) means the host's external interfaces.
    type: list
    elements: str
    default: []
  fail_on_unknown:
    description: Whether a port the engine cannot decide for an unexpected source counts as unexpected.
    type: bool
    default: false
  host:
    description: The host name the report carries; defaults to the inventory name.
    type: str
  previous:
    description:
      - The report kept from the last audit of this host (a C(<host>.json) written by
        M(dockerguard.firewall.exposure_report_files)), on the controller. The returned
        report then has a C(drift) key; a missing file is the host's first audit.
      - Omitted, the report has no C(drift) key.
    type: path
  text:
    description: Also return the report as the terminal shows it, in RV(text).
    type: bool
    default: false
notes:
  - The report carries C(audited_at), the time of the analysis (UTC).
seealso:
  - module: dockerguard.firewall.exposure_facts
  - module: dockerguard.firewall.exposure_report_files
  - plugin: dockerguard.firewall.exposure_audit
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Audit the host, compared with its last report
  dockerguard.firewall.exposure_host_audit:
    expected:
      - {name: https, ports: [443], from: anywhere}
    previous: "{{ playbook_dir }}/exposure-report/{{ inventory_hostname }}.json"
  register: audit

- name: Fail a host that could not be audited
  ansible.builtin.fail:
    msg: "{{ audit.not_audited.reason }}"
  when: audit.not_audited is not none
"""

RETURN = r"""
ansible_facts:
  description:
    - With O(gather), the facts gathered, as M(dockerguard.firewall.exposure_facts) sets
      them (C(iptables), C(nftables), C(docker_network)).
  returned: when the facts were gathered
  type: dict
report:
  description:
    - The host report (P(dockerguard.firewall.exposure_audit#filter)'s result) with
      C(audited_at) and, with O(previous), C(drift); V(null) for a host not audited.
  returned: always
  type: dict
not_audited:
  description: Why the host was not audited, as C({host, task, reason}); V(null) for an audited host.
  returned: always
  type: dict
  sample: {host: web1, task: Audit the host, reason: "unreachable: ssh: connect to host web1 port 22: No route to host"}
text:
  description: The report as the terminal shows it, one line each, with O(text); otherwise, and for a host not audited, V([]).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = dict(
    gather=dict(type="bool", default=True),
    gather_options=dict(type="dict", default={}),
    facts=dict(type="dict"),
    expected=dict(type="list", elements="dict", default=[]),
    sources=dict(type="list", elements="dict", default=[]),
    interfaces=dict(type="list", elements="str", default=[]),
    fail_on_unknown=dict(type="bool", default=False),
    host=dict(type="str"),
    previous=dict(type="path"),
    text=dict(type="bool", default=False),
)
REQUIRED_IF = [("gather", False, ("facts",))]


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF,
                           supports_check_mode=True)
    module.fail_json(msg="exposure_host_audit runs through its action plugin "
                         "(dockerguard.firewall.exposure_host_audit); it was called without it")


if __name__ == "__main__":
    main()
