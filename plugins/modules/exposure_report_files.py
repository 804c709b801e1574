#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: exposure_report_files
short_description: Write a fleet's exposure reports on the controller, in one task
version_added: 0.1.0
description:
  - Writes, on the controller, one C(<host>.json) per host report (the file the next
    audit compares with, see P(dockerguard.firewall.exposure_drift#filter)) and the
    fleet report in the formats asked for - C(index.html) (one self-contained page) and
    C(report.md) - rendered as P(dockerguard.firewall.exposure_report#filter) renders
    them.
  - An action plugin that runs on the controller only; no module is started, on the
    managed host or locally, whatever the number of hosts (use it with C(run_once)).
  - Every file is written to a temporary file in the same directory, then renamed over
    the old one, so a reader never sees half a report. A file whose content would not
    change is left alone.
  - Used by the M(dockerguard.firewall.exposure_audit) role.
author:
  - dockerguard developers (@dockerguard)
extends_documentation_fragment:
  - dockerguard.firewall.attributes
  - dockerguard.firewall.attributes.action
attributes:
  check_mode:
    support: full
    details: Reports which files would change, writes none.
  diff_mode:
    support: none
    details: The reports are outputs; only their paths are returned.
  delegation:
    support: none
    details: Always runs on the controller.
options:
  path:
    description:
      - The report directory on the controller; created (mode C(0755)) when missing.
    type: path
    required: true
  reports:
    description:
      - The host reports (P(dockerguard.firewall.exposure_audit#filter) results), each
        with its C(host), which names its JSON file.
    type: list
    elements: dict
    required: true
  not_audited:
    description:
      - Hosts not audited, as C({host, task, reason}); the fleet report lists them.
    type: list
    elements: dict
    default: []
  formats:
    description: The fleet report's formats (V(html) writes C(index.html), V(markdown) C(report.md)).
    type: list
    elements: str
    choices: [html, markdown]
    default: [html, markdown]
  title:
    description: The fleet report's title.
    type: str
    default: Docker exposure audit
  generated:
    description: The time the fleet report says it was generated; defaults to now (UTC).
    type: str
notes:
  - Files are written with mode C(0644).
seealso:
  - plugin: dockerguard.firewall.exposure_report
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Write every host's report and the fleet report
  dockerguard.firewall.exposure_report_files:
    path: "{{ playbook_dir }}/exposure-report"
    reports: "{{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('audit', 'defined') | map(attribute='audit') | list }}"
  run_once: true
"""

RETURN = r"""
path:
  description: The report directory.
  returned: always
  type: str
  sample: /home/ops/exposure-report
files:
  description: Every file of the reports, in the order written.
  returned: always
  type: list
  elements: str
  sample: [/home/ops/exposure-report/web1.json, /home/ops/exposure-report/index.html]
changed_files:
  description: The files whose content changed (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/home/ops/exposure-report/web1.json]
"""

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    reports=dict(type="list", elements="dict", required=True),
    not_audited=dict(type="list", elements="dict", default=[]),
    formats=dict(type="list", elements="str", choices=["html", "markdown"],
                 default=["html", "markdown"]),
    title=dict(type="str", default="Docker exposure audit"),
    generated=dict(type="str"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="exposure_report_files runs through its action plugin "
                         "(dockerguard.firewall.exposure_report_files); it was called without it")


if __name__ == "__main__":
    main()
