#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: host_input_policy
short_description: Restrict who reaches the host's own ports (host-network containers), in INPUT
version_added: 0.1.0
description:
  - A container run with C(network_mode=host) publishes nothing through Docker's DNAT;
    its ports are the host's own, reached through C(filter INPUT). This module writes
    allow-lists for such ports in a chain of its own (I(chain), default
    C(DOCKERGUARD-INPUT)), jumped to from the top of C(INPUT); nothing else is touched.
  - Same entry format as M(dockerguard.firewall.docker_user_policy); ports are matched
    with C(--dport), as INPUT sees packets addressed to the host itself.
  - Lock-out safety. Established connections and loopback are never dropped; sources
    in I(ssh_sources) keep reaching I(ssh_port). With I(rollback_timeout), the change
    is kept only when I(confirm_file) appears within that many seconds after the
    change; otherwise our chain is put back as it was. Run it with C(async) and let the
    controller reconnect and create the file (the P(dockerguard.firewall.host_network#role)
    role does this).
author:
  - dockerguard developers (@dockerguard)
extends_documentation_fragment:
  - dockerguard.firewall.attributes
  - dockerguard.firewall.attributes.changes
  - dockerguard.firewall.policy
options:
  chain:
    description:
      - Name of our chain. Every rule we write carries a C(dockerguard:) comment, which
        marks the chain as ours. A chain of that name that exists and is not ours (no
        such comments, a built-in chain, a chain jumped to from elsewhere, or the chain
        of M(dockerguard.firewall.docker_user_policy)) is refused, touching nothing.
      - Renaming it migrates - the old chain of ours and its jump are removed in the same
        transaction that writes the new one (reported as C(migrated_from)).
    type: str
    default: DOCKERGUARD-INPUT
  ssh_sources:
    description:
      - Addresses or CIDRs that always keep reaching I(ssh_port), whatever the entries
        say; typically the controller's address as the host sees it.
    type: list
    elements: str
    default: []
  ssh_port:
    description: The port I(ssh_sources) keep.
    type: int
    default: 22
  rollback_timeout:
    description:
      - Seconds to wait for I(confirm_file) after a change before rolling it back.
        C(0) keeps the change without waiting.
      - The rollback is armed before the change, in a detached process of its own
        session, so it runs even when the module process is killed (an C(async) shorter
        than this timeout) or the connection drops. It holds the host-wide lock until it
        has kept or rolled back the change.
      - Refused before any change when I(confirm_file) is empty or cannot be written.
    type: int
    default: 0
  confirm_file:
    description:
      - The file whose creation confirms the change (with I(rollback_timeout)). The
        module writes C(<confirm_file>.applied) once the change is in place; both are
        removed once the change is confirmed or rolled back.
    type: path
    default: /run/dockerguard/confirm
requirements:
  - iptables and iptables-restore (ip6tables for IPv6) for O(backend=iptables); C(nft)
    (a kernel with inet tables) for O(backend=nftables)
seealso:
  - module: dockerguard.firewall.docker_user_policy
"""

EXAMPLES = r"""
- name: Only the office reaches the host-network service on 8080; keep my SSH
  dockerguard.firewall.host_input_policy:
    entries:
      - name: web
        ports: [8080]
        allow: [198.51.100.0/24]
    ssh_sources: ["{{ ansible_env.SSH_CLIENT.split()[0] }}/32"]
  become: true

- name: Apply, and roll back unless the controller confirms within 30 s
  dockerguard.firewall.host_input_policy:
    entries: "{{ my_entries }}"
    rollback_timeout: 30
    confirm_file: /run/dockerguard/confirm
  async: 60
  poll: 0
  register: job
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
  sample: DOCKERGUARD-INPUT
families:
  description:
    - Per family, C(changed) and C(rules) (the rule bodies of our chain wanted, or null
      for C(state=absent)).
  returned: always
  type: dict
rolled_back:
  description: Whether the change was rolled back for want of confirmation.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockerguard.firewall.plugins.module_utils._allowlist import families
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    HOOK_INPUT,
    PolicyError,
    validate,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy_module import (
    COMMON_SPEC,
    run_policy,
)


def main():
    spec = dict(COMMON_SPEC)
    spec.update(
        chain=dict(type="str", default="DOCKERGUARD-INPUT"),
        ssh_sources=dict(type="list", elements="str", default=[]),
        ssh_port=dict(type="int", default=22),
        rollback_timeout=dict(type="int", default=0),
        confirm_file=dict(type="path", default="/run/dockerguard/confirm"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if p["rollback_timeout"] < 0:
        module.fail_json(msg="rollback_timeout: %d is negative" % p["rollback_timeout"])
    try:
        families(p["families"])
        policy = validate(p["entries"], "allow", p["action"], p["chain"], bridges=[],
                          hook=HOOK_INPUT, ssh_port=p["ssh_port"], ssh_sources=p["ssh_sources"])
    except PolicyError as exc:
        module.fail_json(msg="invalid policy, nothing changed: %s" % exc)
    run_policy(module, policy, rollback_timeout=p["rollback_timeout"],
               confirm_file=p["confirm_file"])


if __name__ == "__main__":
    main()
