# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: iptables_save
short_description: Parse iptables-save (or iptables -S) text into the iptables_facts model
version_added: 0.1.0
description:
  - Parses saved iptables text on the controller - the output of
    the C(iptables-save) command (run with M(ansible.builtin.command)), a backup file, a paste from a ticket - into
    the same model that M(dockerguard.firewall.iptables_facts) returns for one family.
  - Text with C(*table) lines is read as C(iptables-save) output (with or without
    C(-c) counters); otherwise as C(iptables [-t TABLE] -S) output.
author:
  - dockerguard developers (@dockerguard)
positional: family, table
options:
  _input:
    description: The saved text.
    type: str
    required: true
  family:
    description: The address family the text belongs to.
    type: str
    choices: [ipv4, ipv6]
    default: ipv4
  table:
    description: For C(iptables -S) text only, the table it lists.
    type: str
    choices: [filter, nat, mangle, raw, security]
    default: filter
seealso:
  - module: dockerguard.firewall.iptables_facts
"""

EXAMPLES = r"""
- name: Save the rules and parse them on the controller
  ansible.builtin.command: iptables-save
  register: saved
  changed_when: false
  become: true

- name: List DOCKER-USER rules
  ansible.builtin.debug:
    msg: "{{ (saved.stdout | dockerguard.firewall.iptables_save).tables.filter.chains['DOCKER-USER'].rules | map(attribute='rule') }}"

- name: Parse an ip6tables backup
  ansible.builtin.set_fact:
    v6: "{{ lookup('ansible.builtin.file', 'backup.v6') | dockerguard.firewall.iptables_save(family='ipv6') }}"

- name: Parse 'iptables -t nat -S' output
  ansible.builtin.set_fact:
    nat: "{{ nat_listing | dockerguard.firewall.iptables_save('ipv4', 'nat') }}"
"""

RETURN = r"""
_value:
  description:
    - The model - C(family), C(available) (true), C(rule_count), and C(tables) mapping each
      table to C(chains) with C(builtin), C(policy), C(counters) and C(rules); see
      M(dockerguard.firewall.iptables_facts) for the fields of a rule.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.plugin_utils._lazy_import import module_utils

_iptables = module_utils("_iptables")


def iptables_save(text, family="ipv4", table="filter"):
    if not isinstance(text, str):
        raise AnsibleFilterError(
            "iptables_save expects the saved text as a string, got %s" % type(text).__name__)
    try:
        model = _iptables.parse(text, family=family, table=table)
    except ValueError as exc:
        raise AnsibleFilterError("iptables_save: %s" % exc) from exc
    model["available"] = True
    model["rule_count"] = _iptables.count_rules(model)
    return model


class FilterModule:
    def filters(self):
        return {"iptables_save": iptables_save}
