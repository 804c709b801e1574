#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: iptables_facts
short_description: Gather the full iptables and ip6tables state as structured facts
version_added: 0.1.0
description:
  - Runs C(iptables-save) and C(ip6tables-save) on the host and parses their output into
    a model (family, table, chain, ordered rules with every match and target option),
    returned as C(ansible_facts.iptables).
  - Reports which iptables backend the C(iptables) command uses (C(nf_tables) or
    C(legacy)), which backend holds Docker's chains, and warns when both backends hold
    rules, the mismatch that makes rules invisible to one tool or ineffective.
  - Read-only; the same parser is available on the controller as the
    P(dockerguard.firewall.iptables_save#filter) filter.
author:
  - dockerguard developers (@dockerguard)
extends_documentation_fragment:
  - dockerguard.firewall.attributes
  - dockerguard.firewall.attributes.info_module
  - dockerguard.firewall.attributes.facts
options:
  families:
    description:
      - Address families to gather.
      - A host without C(ip6tables-save) (or without IPv6 in the kernel) reports
        C(ipv6) with C(available=false) and a reason instead of failing.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  tables:
    description:
      - Tables to gather (C(iptables-save -t TABLE) for each).
      - When omitted, every table the kernel has loaded.
    type: list
    elements: str
    choices: [filter, nat, mangle, raw, security]
  counters:
    description:
      - Include packet and byte counters (C(iptables-save -c)) on chains and rules.
    type: bool
    default: false
  backends:
    description:
      - Also read C(iptables-nft-save) and C(iptables-legacy-save) (where installed)
        to report which backend holds Docker's chains and whether both hold rules.
    type: bool
    default: true
requirements:
  - iptables (C(iptables-save)); ip6tables for IPv6
notes:
  - Needs root (C(become=true)) on most hosts; C(iptables-save) fails otherwise.
seealso:
  - plugin: dockerguard.firewall.iptables_save
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Gather iptables and ip6tables state
  dockerguard.firewall.iptables_facts:
  become: true

- name: Show the rules in DOCKER-USER
  ansible.builtin.debug:
    msg: "{{ ansible_facts.iptables.ipv4.tables.filter.chains['DOCKER-USER'].rules | map(attribute='rule') }}"

- name: Only the IPv4 filter and nat tables, with counters
  dockerguard.firewall.iptables_facts:
    families: [ipv4]
    tables: [filter, nat]
    counters: true
  become: true

- name: Fail when Docker's rules live in a backend the iptables command does not use
  ansible.builtin.assert:
    that: ansible_facts.iptables.docker_backend in [none, ansible_facts.iptables.backend]
    fail_msg: "Docker writes to {{ ansible_facts.iptables.docker_backend }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    iptables:
      description: The iptables state of the host.
      returned: always
      type: dict
      contains:
        ipv4:
          description:
            - The IPv4 ruleset. C(tables) maps a table name to C(chains), which maps a
              chain name to C(builtin), C(policy) (null for user chains), C(counters)
              (C([packets, bytes]) or null) and C(rules).
            - Each rule has C(rule) (its text as C(iptables-save) prints it, without
              counters) and the parsed parts present in it - C(source), C(destination),
              C(in_interface), C(out_interface), C(protocol), C(fragment), C(negated)
              (which of those carry C(!)), C(matches) (list of C(name), C(options),
              C(negated), C(known)), C(target), C(target_options), C(goto),
              C(counters), C(unknown) (match modules or options the parser does not know;
              kept, never dropped).
          returned: always
          type: dict
          sample:
            family: ipv4
            available: true
            rule_count: 1
            tables:
              filter:
                chains:
                  DOCKER-USER:
                    builtin: false
                    policy: null
                    counters: [0, 0]
                    rules:
                      - rule: "-A DOCKER-USER ! -s 10.99.0.0/16 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP"
                        source: 10.99.0.0/16
                        protocol: tcp
                        negated: [source]
                        matches:
                          - name: conntrack
                            options: {ctorigdstport: "8080", ctdir: ORIGINAL}
                        target: DROP
        ipv6:
          description:
            - The IPv6 ruleset, as C(ipv4); or C(available=false) with a C(reason).
          returned: always
          type: dict
        backend:
          description: The backend of the C(iptables) command.
          returned: always
          type: str
          sample: nf_tables
        version:
          description: The iptables version.
          returned: always
          type: str
          sample: 1.8.9
        docker_backend:
          description:
            - The backend holding Docker's chains (C(nf_tables), C(legacy), C(both)),
              or null when no backend holds any or I(backends=false).
          returned: always
          type: str
          sample: nf_tables
        backends:
          description:
            - Per backend and family, C(rules) (how many) and C(docker_chains) (names).
          returned: when I(backends=true)
          type: dict
          sample: {nf_tables: {ipv4: {rules: 19, docker_chains: [DOCKER, DOCKER-USER]}}}
        ipsets:
          description:
            - The host's ipsets (C(ipset save)), so that rules with C(-m set) can be
              evaluated - per set C(type), C(family), C(netmask), C(members) and
              C(nomatch) (members added with C(nomatch)); null when C(ipset) is not
              installed or could not be read (then such rules stay V(unknown)).
          returned: always
          type: dict
          sample: {allow: {type: "hash:net", family: inet, netmask: null,
                   members: [10.0.0.0/8], nomatch: []}}
        warnings:
          description: Backend mismatches and notes the save tools printed.
          returned: always
          type: list
          elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockerguard.firewall.plugins.module_utils._cmd_runner import CmdRunner
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables_host import (
    GatherError,
    gather,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            families=dict(type="list", elements="str", choices=["ipv4", "ipv6"],
                          default=["ipv4", "ipv6"]),
            tables=dict(type="list", elements="str",
                        choices=["filter", "nat", "mangle", "raw", "security"]),
            counters=dict(type="bool", default=False),
            backends=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    runner = CmdRunner(module)
    try:
        facts = gather(runner.run, runner.which, module.params["families"],
                       module.params["tables"], module.params["counters"],
                       module.params["backends"])
    except GatherError as exc:
        module.fail_json(msg=str(exc))
    for warning in facts["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={"iptables": facts})


if __name__ == "__main__":
    main()
