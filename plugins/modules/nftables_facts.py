#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: nftables_facts
short_description: Gather the host's whole nftables ruleset as structured facts
version_added: 0.1.0
description:
  - Runs C(nft -j list ruleset) on the host and parses it into a model returned as
    C(ansible_facts.nftables) - tables of every family (C(ip), C(ip6), C(inet), C(bridge),
    C(netdev), C(arp)), base chains with type, hook, numeric priority and policy, regular
    chains, ordered rules with their statements kept as nft's JSON plus their text and
    handle, and named sets and maps with their elements.
  - These are the tables C(iptables-save) never prints - firewalld's C(inet firewalld),
    Docker 29's C(ip docker-bridges) (C(firewall-backend=nftables)), a host's own
    C(inet filter) from C(/etc/nftables.conf) - and that also decide the fate of packets
    to published ports.
  - Marks the tables iptables-nft wrote (C(iptables_nft)), which
    M(dockerguard.firewall.iptables_facts) already reports, so that nothing is counted
    twice.
  - A host without C(nft), or whose kernel or nft cannot list the ruleset as JSON,
    reports C(available=false) with a C(reason); the task does not fail.
  - Read-only; the same parser is available on the controller as the
    P(dockerguard.firewall.nft_ruleset#filter) filter.
author:
  - dockerguard developers (@dockerguard)
extends_documentation_fragment:
  - dockerguard.firewall.attributes
  - dockerguard.firewall.attributes.info_module
  - dockerguard.firewall.attributes.facts
options: {}
requirements:
  - nftables (C(nft)) with JSON support (nft 0.9.1 or later); root
notes:
  - Needs root (C(become=true)); C(nft list ruleset) fails otherwise.
seealso:
  - plugin: dockerguard.firewall.nft_ruleset
    plugin_type: filter
  - module: dockerguard.firewall.iptables_facts
"""

EXAMPLES = r"""
- name: Gather the nftables ruleset
  dockerguard.firewall.nftables_facts:
  become: true

- name: Every base chain on the forward hook, in the order the kernel runs them
  ansible.builtin.debug:
    msg: "{{ ansible_facts.nftables.base_chains | selectattr('hook', 'equalto', 'forward') | list }}"
  when: ansible_facts.nftables.available

- name: The rules of firewalld's forward chain, as text
  ansible.builtin.debug:
    msg: "{{ ansible_facts.nftables.tables['inet firewalld'].chains.filter_FORWARD.rules | map(attribute='text') | list }}"
  when: "'inet firewalld' in ansible_facts.nftables.tables | default({})"

- name: Warn when nftables could not be read
  ansible.builtin.debug:
    msg: "nftables not read: {{ ansible_facts.nftables.reason }}"
  when: not ansible_facts.nftables.available
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    nftables:
      description: The nftables ruleset of the host.
      returned: always
      type: dict
      contains:
        available:
          description: Whether the ruleset was read; when false, C(reason) says why and no
            other key is present.
          returned: always
          type: bool
          sample: true
        reason:
          description: Why the ruleset could not be read (C(nft) missing, no nf_tables in
            the kernel, no JSON support).
          returned: when C(available) is false
          type: str
          sample: "nft not found: the host has no nftables userspace (package 'nftables')"
        version:
          description: The nft version that printed the JSON.
          returned: when available
          type: str
          sample: 1.0.6
        json_schema_version:
          description: The libnftables JSON schema version.
          returned: when available
          type: int
          sample: 1
        tables:
          description:
            - Maps C("FAMILY NAME") (for example C(inet firewalld)) to the table -
              C(family), C(name), C(handle), C(flags), C(iptables_nft) (written by
              iptables-nft, ebtables-nft or arptables-nft), C(iptables_nft_reason),
              C(chains), C(sets) and C(objects) (flowtables and named counters, quotas,
              limits..., kept as nft's JSON).
            - C(chains) maps a chain name to C(name), C(handle), C(base) (a base chain
              attached to a hook), C(type), C(hook), C(priority) (a number, also when nft
              names it), C(priority_name), C(policy), C(devices) (null on regular
              chains) and C(rules).
            - Each rule has C(handle), C(text) (the rule as C(nft list ruleset) writes it,
              without counter values), C(comment) and C(expr) (nft's JSON statements,
              unchanged, for example C({"match" {"op", "left", "right"}})).
            - C(sets) maps a set or map name to C(kind) (C(set) or C(map)), C(type) (a
              list for a concatenation), C(map) (a map's data type), C(flags),
              C(elements) (nft's JSON values - an address, C({"prefix"}), C({"range"}),
              C({"concat"}); C([key, data]) for a map) and C(elements_text).
          returned: when available
          type: dict
          sample:
            inet dg-user-restrict:
              family: inet
              name: dg-user-restrict
              iptables_nft: false
              chains:
                forward:
                  base: true
                  type: filter
                  hook: forward
                  priority: -10
                  policy: accept
                  rules:
                    - handle: 12
                      text: "meta l4proto tcp ct original proto-dst vmap @published_tcp"
              sets:
                allowed4:
                  kind: set
                  type: ipv4_addr
                  flags: [interval]
                  elements_text: [10.250.21.10, 10.250.23.0/24]
        base_chains:
          description:
            - Every base chain, sorted by hook (prerouting, input, forward, output,
              postrouting...) then priority - the order in which the kernel runs them -
              with C(table), C(family), C(chain), C(type), C(hook), C(priority),
              C(policy), C(iptables_nft).
          returned: when available
          type: list
          elements: dict
        iptables_nft_tables:
          description: The tables written by iptables-nft (also shown by C(iptables-save)).
          returned: when available
          type: list
          elements: str
          sample: [ip filter, ip nat]
        counts:
          description: How many C(tables), C(chains), C(base_chains), C(rules), C(sets),
            C(maps) and set C(elements) the ruleset holds.
          returned: when available
          type: dict
        rule_count:
          description: How many rules the ruleset holds.
          returned: when available
          type: int
        warnings:
          description: Notes about the ruleset.
          returned: when available
          type: list
          elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockerguard.firewall.plugins.module_utils._cmd_runner import CmdRunner
from ansible_collections.dockerguard.firewall.plugins.module_utils._nftables import (
    NftablesParseError,
    gather,
)


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    runner = CmdRunner(module)
    try:
        facts = gather(runner.run, runner.which)
    except (RuntimeError, NftablesParseError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, ansible_facts={"nftables": facts})


if __name__ == "__main__":
    main()
