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
    (C(-m conntrack --ctorigdstport --ctdir ORIGINAL)): DOCKER-USER sees packets after
    DNAT, where C(--dport) would be the container's port.
  - Replies (C(RELATED,ESTABLISHED)) and traffic coming from Docker bridges (I(bridges))
    leave the chain first, so containers' own connections keep working.
  - Each family is applied in one C(iptables-restore --noflush) transaction, tested
    first; if IPv6 fails after IPv4 was applied, IPv4 is put back. Input is validated
    before anything is read or written.
author:
  - dockerguard developers
attributes:
  check_mode:
    support: full
    description: Computes and reports the change (and diff) without writing.
  diff_mode:
    support: full
    description: Shows our chain's rules before and after, per family.
options:
  entries:
    description:
      - The allow-lists, one per group of published ports.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - A name for the entry; it appears in every rule's comment
            (C(dockerguard NAME allow/deny)). Defaults to C(entryN).
        type: str
      ports:
        description:
          - Published (host) ports, as numbers or ranges C(8000-8100).
        type: list
        elements: raw
        required: true
      protocol:
        description: Protocol of the ports; C(all) means TCP and UDP.
        type: str
        choices: [tcp, udp, all]
        default: tcp
      allow:
        description:
          - Sources allowed to reach the ports, IPv4 and IPv6 addresses or CIDRs
            mixed. A family with no address listed is denied entirely for these ports.
          - Use C(0.0.0.0/0) and C(::/0) to allow everyone explicitly.
        type: list
        elements: str
        required: true
      interfaces:
        description:
          - Restrict the entry to traffic arriving on these interfaces (C(eth0),
            wildcard C(eth+)). Default, every interface that is not a Docker bridge.
        type: list
        elements: str
      action:
        description: What happens to sources not allowed; defaults to I(action).
        type: str
        choices: [drop, reject]
  default:
    description:
      - What happens to published ports that no entry names. C(deny) drops every
        other forwarded connection that Docker DNATed (published ports of all containers).
    type: str
    choices: [allow, deny]
    default: allow
  action:
    description:
      - Default for I(entries[].action). C(reject) answers TCP with a reset and UDP with
        ICMP port unreachable.
    type: str
    choices: [drop, reject]
    default: drop
  state:
    description:
      - C(absent) removes our chain and its jump, and nothing else.
    type: str
    choices: [present, absent]
    default: present
  chain:
    description: Name of our chain.
    type: str
    default: DOCKERGUARD
  bridges:
    description:
      - Interfaces whose traffic comes from containers and is never restricted.
    type: list
    elements: str
    default: [docker0, br-+, docker_gwbridge]
  families:
    description:
      - Families to apply. A family whose DOCKER-USER chain does not exist (IPv6 when
        Docker does not manage ip6tables) is skipped with a warning, since Docker then
        serves IPv6 through docker-proxy, where INPUT decides.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  create_docker_user:
    description:
      - Create DOCKER-USER when it does not exist yet instead of failing. Used at boot,
        before Docker starts, so restrictions are in place before any container is
        reachable (Docker keeps an existing DOCKER-USER).
    type: bool
    default: false
  wait:
    description: Seconds to wait for the xtables lock.
    type: int
    default: 10
requirements:
  - iptables and iptables-restore (ip6tables for IPv6) using the backend Docker writes to
notes:
  - Refuses, touching nothing, when Docker uses its nftables firewall backend or an
    iptables backend other than the one the C(iptables) command uses.
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
chain:
  description: Our chain's name.
  returned: always
  type: str
  sample: DOCKERGUARD
families:
  description:
    - Per family, C(changed), C(rules) (the rule bodies of our chain wanted, or
      null for C(state=absent)) and, when it was not applied, C(skipped) with the
      reason.
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

from ansible_collections.dockerguard.firewall.plugins.module_utils._chain_apply import (
    TOOLS,
    ApplyError,
    FamilyPlan,
    apply_plans,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables_host import (
    docker_backend,
    parse_version,
    probe_backends,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    PolicyError,
    chain_rules,
    validate,
)

PARENT = "DOCKER-USER"


def check_backend(module, run, which, families):
    """Refuse when Docker's rules are where our iptables command does not write."""
    binary = which("iptables")
    if not binary:
        module.fail_json(msg="iptables not found: install the 'iptables' package")
    rc, out, err = run([binary, "--version"])
    version, backend = parse_version(out or err)
    found, warnings = probe_backends(run, which, families)
    holder = docker_backend(found)
    if holder not in (None, backend):
        module.fail_json(msg="Docker's chains are in the %s iptables backend but the iptables "
                             "command here uses %s: rules written now would not be evaluated "
                             "with Docker's. Point the iptables alternative at the %s backend "
                             "(update-alternatives --config iptables)." % (holder, backend, holder),
                         backends=found)
    nft = which("nft")
    if holder is None and nft:
        rc, out, err = run([nft, "list", "tables"])
        if rc == 0 and "docker-bridges" in out:
            module.fail_json(msg="Docker uses its nftables firewall backend (table "
                                 "docker-bridges): DOCKER-USER does not exist there and "
                                 "iptables rules would not restrict published ports. This "
                                 "module needs Docker's iptables backend (daemon.json "
                                 "\"firewall-backend\": \"iptables\").")
    return backend, warnings


def main():
    entry = dict(
        name=dict(type="str"),
        ports=dict(type="list", elements="raw", required=True),
        protocol=dict(type="str", choices=["tcp", "udp", "all"], default="tcp"),
        allow=dict(type="list", elements="str", required=True),
        interfaces=dict(type="list", elements="str"),
        action=dict(type="str", choices=["drop", "reject"]),
    )
    module = AnsibleModule(
        argument_spec=dict(
            entries=dict(type="list", elements="dict", options=entry, default=[]),
            default=dict(type="str", choices=["allow", "deny"], default="allow"),
            action=dict(type="str", choices=["drop", "reject"], default="drop"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            chain=dict(type="str", default="DOCKERGUARD"),
            bridges=dict(type="list", elements="str",
                         default=["docker0", "br-+", "docker_gwbridge"]),
            families=dict(type="list", elements="str", choices=["ipv4", "ipv6"],
                          default=["ipv4", "ipv6"]),
            create_docker_user=dict(type="bool", default=False),
            wait=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        policy = validate(p["entries"], p["default"], p["action"], p["chain"], p["bridges"])
    except PolicyError as exc:
        module.fail_json(msg="invalid policy, nothing changed: %s" % exc)
    families = list(dict.fromkeys(p["families"]))

    def run(argv, data=None):
        return module.run_command(argv, data=data, binary_data=data is not None,
                                  environ_update={"LC_ALL": "C"})

    def which(name):
        return module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin"])

    check_backend(module, run, which, families)

    plans = []
    for family in families:
        plan = FamilyPlan(family, policy["chain"], PARENT)
        plan.save, plan.restore = (which(t) for t in TOOLS[family])
        if not (plan.save and plan.restore):
            if family == "ipv4":
                module.fail_json(msg="%s / %s not found: install the 'iptables' package"
                                     % TOOLS[family])
            plan.skipped = "%s not found" % TOOLS[family][0]
            plans.append(plan)
            continue
        try:
            plan.read(run)
        except (ApplyError, ValueError) as exc:
            module.fail_json(msg=str(exc))
        plan.initial = plan.before
        if p["state"] == "present":
            plan.after = chain_rules(policy, family)
            if not plan.parent_exists:
                if p["create_docker_user"]:
                    plan.create_parent = True
                elif family == "ipv4":
                    module.fail_json(msg="DOCKER-USER does not exist for ipv4: Docker creates it "
                                         "when it starts with iptables enabled. Is dockerd "
                                         "running with \"iptables\": true? (Use "
                                         "create_docker_user=true only before Docker starts.)")
                else:
                    plan.skipped = ("DOCKER-USER does not exist for ipv6 (Docker does not manage "
                                    "ip6tables here; IPv6 to published ports goes through "
                                    "docker-proxy and INPUT)")
                    module.warn(plan.skipped)
        plans.append(plan)

    changed_families = []
    if not module.check_mode:
        try:
            changed_families = apply_plans(run, plans, p["wait"])
        except ApplyError as exc:
            module.fail_json(msg=str(exc))
        # Read back: the kernel must now hold exactly what we rendered.
        for plan in plans:
            if plan.family in changed_families:
                wanted = plan.after
                plan.read(run)
                if plan.before != wanted:
                    module.fail_json(msg="%s: after applying, %s holds rules that differ from "
                                         "the ones written (a rendering bug: please report)"
                                     % (plan.family, plan.chain),
                                     wanted=wanted, found=plan.before)

    result = {"changed": any(pl.changed for pl in plans) if module.check_mode
              else bool(changed_families),
              "chain": policy["chain"], "families": {}}
    diff = {"before": "", "after": ""}
    for plan in plans:
        changed = plan.family in changed_families or (module.check_mode and plan.changed)
        info = {"changed": changed, "rules": plan.after}
        if plan.skipped:
            info["skipped"] = plan.skipped
        else:
            before = plan.initial
            diff["before"] += "# %s\n%s" % (plan.family, plan.rules_text(before))
            diff["after"] += "# %s\n%s" % (plan.family,
                                            plan.rules_text(plan.after if changed else before))
        result["families"][plan.family] = info
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
