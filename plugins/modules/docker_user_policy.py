#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: docker_user_policy
short_description: Restrict who reaches Docker-published ports, with allow-lists in DOCKER-USER
version_added: 0.1.0
description:
  - Docker publishes a port (C(-p 8080:80)) by DNAT in C(nat PREROUTING); the packet is
    then forwarded through C(filter FORWARD), never C(INPUT), so host firewall rules on
    INPUT (ufw, firewalld) do not apply. This module writes allow-lists where Docker
    looks for user rules, the C(DOCKER-USER) chain.
  - All rules live in a chain of their own (I(chain), default C(DOCKERGUARD)), jumped to
    from the top of C(DOCKER-USER). Docker's chains and any other rule in DOCKER-USER
    are never touched.
  - The published port is matched on the connection's original destination
    (C(-m conntrack --ctorigdstport --ctdir ORIGINAL)), because DOCKER-USER sees packets
    after DNAT, where C(--dport) would be the container's port.
  - Replies (C(RELATED,ESTABLISHED)) and traffic coming from Docker bridges (I(bridges))
    leave the chain first, so containers' own connections keep working.
  - Each family is applied in one C(iptables-restore --noflush) transaction, tested
    first; if IPv6 fails after IPv4 was applied, IPv4 is put back. Input is validated
    before anything is read or written.
author:
  - dockerguard developers (@dockerguard)
options:
  default:
    description:
      - What happens to published ports that no entry names. C(deny) drops every
        other forwarded connection that Docker DNATed (published ports of all containers).
    type: str
    choices: [allow, deny]
    default: allow
  chain:
    description:
      - Name of our chain. Every rule we write carries a C(dockerguard:) comment, which
        marks the chain as ours. A chain of that name that exists and is not ours (no
        such comments, a built-in chain, a chain jumped to from elsewhere, or the chain
        of M(dockerguard.firewall.host_input_policy)) is refused, touching nothing.
      - Renaming it migrates - the old chain of ours and its jump are removed in the same
        transaction that writes the new one (reported as C(migrated_from)).
    type: str
    default: DOCKERGUARD
  bridges:
    description:
      - Interfaces whose traffic comes from containers and is never restricted.
    type: list
    elements: str
    default: [docker0, br-+, docker_gwbridge]
  create_docker_user:
    description:
      - Create DOCKER-USER when it does not exist yet instead of failing. Used at boot,
        before Docker starts, so restrictions are in place before any container is
        reachable (Docker keeps an existing DOCKER-USER).
    type: bool
    default: false
extends_documentation_fragment:
  - dockerguard.firewall.attributes
  - dockerguard.firewall.attributes.changes
  - dockerguard.firewall.policy
requirements:
  - iptables and iptables-restore (ip6tables for IPv6) using the backend Docker writes to,
    for O(backend=iptables); C(nft) (nftables 0.9.3 or later, a kernel with inet tables)
    for O(backend=nftables)
notes:
  - When DOCKER-USER does not exist for IPv6 (Docker does not manage ip6tables), IPv6 is
    skipped with a warning; Docker then serves IPv6 through docker-proxy, where INPUT
    decides (see M(dockerguard.firewall.host_input_policy)).
  - With O(backend=iptables), refuses, touching nothing, when Docker uses its nftables
    firewall backend or an iptables backend other than the one the C(iptables) command
    uses. O(backend=auto) picks nftables on Docker's nftables backend.
  - To survive reboots and restarts of Docker, use the P(dockerguard.firewall.docker_user#role) role.
seealso:
  - module: dockerguard.firewall.iptables_facts
"""

EXAMPLES = r"""
- name: Only the office reaches the web ports; everything else published stays open
  dockerguard.firewall.docker_user_policy:
    entries:
      - name: web
        ports: [80, 443]
        allow: [198.51.100.0/24, "2001:db8:100::/48"]
  become: true

- name: Deny every published port except the ones listed
  dockerguard.firewall.docker_user_policy:
    default: deny
    action: reject
    entries:
      - name: postgres
        ports: [5432]
        allow: [10.0.0.0/8]
        interfaces: [eth1]
      - name: public
        ports: [443]
        allow: [0.0.0.0/0, "::/0"]
  become: true

- name: Remove the restrictions
  dockerguard.firewall.docker_user_policy:
    state: absent
  become: true
"""

RETURN = r"""
backend:
  description: The backend that wrote the policy, V(iptables) or V(nftables).
  returned: always
  type: str
  sample: nftables
backend_reason:
  description: Why that backend (the option asked for it, or what I(backend=auto) saw).
  returned: always
  type: str
  sample: Docker reports its firewall backend as nftables
table:
  description: Our nftables table (family and name).
  returned: when the backend is nftables
  type: str
  sample: inet dockerguard
nft_script:
  description: Our table as C(nft list table) writes it, null for O(state=absent).
  returned: when the backend is nftables
  type: str
nft_table:
  description:
    - Our table as wanted, in C(nft -j list table) form (a dict with the list C(nftables)), null for
      O(state=absent). The check-mode preview (the C(dockerguard.firewall.enforce_docker_user) playbook)
      puts it into the host's ruleset and lets the exposure engine judge it.
  returned: when the backend is nftables
  type: dict
chain:
  description: Our chain's name.
  returned: always
  type: str
  sample: DOCKERGUARD
families:
  description:
    - Per family, C(changed), C(rules) (the rule bodies of our chain wanted - with
      nftables the rules of the family's chain - or null for C(state=absent)), when it
      was not applied, C(skipped) with the
      reason, and after a rename of I(chain), C(migrated_from) (the old chains removed).
  returned: always
  type: dict
  sample:
    ipv4:
      changed: true
      rules:
        - "-m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"dockerguard: replies\" -j RETURN"
    ipv6:
      changed: false
      skipped: DOCKER-USER does not exist for ipv6
diff:
  description: Our jump and chain as C(iptables-save) lines, before and after, per family.
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockerguard.firewall.plugins.module_utils._allowlist import families
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    HOOK_DOCKER_USER,
    PolicyError,
    validate,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy_module import (
    COMMON_SPEC,
    run_policy,
)

MISSING_V6 = ("DOCKER-USER does not exist for ipv6 (Docker does not manage ip6tables here; "
              "IPv6 to published ports goes through docker-proxy and INPUT)")


def main():
    spec = dict(COMMON_SPEC)
    spec.update(
        default=dict(type="str", choices=["allow", "deny"], default="allow"),
        chain=dict(type="str", default="DOCKERGUARD"),
        bridges=dict(type="list", elements="str", default=["docker0", "br-+", "docker_gwbridge"]),
        create_docker_user=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    try:
        families(p["families"])
        policy = validate(p["entries"], p["default"], p["action"], p["chain"], p["bridges"],
                          hook=HOOK_DOCKER_USER)
    except PolicyError as exc:
        module.fail_json(msg="invalid policy, nothing changed: %s" % exc)
    run_policy(module, policy, create_parent=p["create_docker_user"],
               missing_parent_v6=MISSING_V6)


if __name__ == "__main__":
    main()
