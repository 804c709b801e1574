# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options shared by docker_user_policy and host_input_policy."""

    DOCUMENTATION = r"""
options:
  entries:
    description:
      - The allow-lists, one per group of ports.
      - Two entries that match the same packets (a port both cover, a protocol both
        cover - C(all) covers C(tcp) and C(udp) - and an interface both match, no
        I(interfaces) being every interface) must have the same allow-list and action,
        else the policy is refused naming both entries and the port. The chain stops at
        the first entry's deny, so the second entry's sources would be dropped without a
        word; merging them would silently widen who reaches the first entry's ports. Give
        each port's sources in one entry.
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
          - Ports as numbers or ranges C(8000-8100); for DOCKER-USER the published
            (host) ports, not the containers' ports.
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
            wildcard C(eth+)). Default, every interface (in DOCKER-USER, every one that
            is not a Docker bridge).
          - Names follow the kernel's rules - 1 to 15 bytes (a trailing C(+) included),
            not C(.) or C(..), no C(/), C(:) or whitespace - within letters, digits and
            C(_.@-), not starting with C(-). An alias label such as C(eth0:1) is refused -
            it names an address, not an interface, and a rule on it would never match.
        type: list
        elements: str
      action:
        description: What happens to sources not allowed; defaults to I(action).
        type: str
        choices: [drop, reject]
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
  families:
    description:
      - Families to apply, each in one C(iptables-restore --noflush) transaction (IPv4
        through iptables, IPv6 through ip6tables).
      - An empty list is refused (it would write nothing and report success).
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  backend:
    description:
      - Which firewall writes the policy.
      - V(iptables) - our chain (I(chain)) jumped to from the top of the parent chain,
        written with C(iptables-restore). Refused, touching nothing, where Docker uses its
        nftables firewall backend.
      - V(nftables) - a table of our own, C(inet dockerguard) (docker_user_policy) or
        C(inet dockerguard_input) (host_input_policy), one table for both families - a
        base chain at priority C(filter - 10) (before Docker's and firewalld's filter
        chains) on the C(forward) or C(input) hook, a chain per family, the allowed
        sources of each entry in a named interval set per family (one lookup however
        many CIDRs). It is replaced whole in one C(nft -f) transaction, tested first with
        C(nft -c -f), read back and compared by meaning; the table as it was is put back
        when the read-back differs. A table of that name that is not ours (no rule with a
        C(dockerguard:) comment) is refused, touching nothing. With nftables the table
        enforces exactly the I(families) listed.
      - V(auto) - V(nftables) when Docker reports its nftables firewall backend
        (C(docker info), C(FirewallBackend.Driver), Docker 29) or its nftables table
        C(docker-bridges) exists, else V(iptables). The result says which was chosen and
        why (C(backend), C(backend_reason)).
      - The backend not chosen loses our policy in the same run - moving from iptables to
        nftables removes our chain and its jump, and the reverse removes our table - and
        O(state=absent) removes both.
    type: str
    choices: [auto, iptables, nftables]
    default: auto
  wait:
    description:
      - Seconds to wait for the xtables lock (legacy backend; iptables-nft ignores the
        lock, each restore being one atomic kernel transaction).
      - C(0) never means to wait forever, which is what iptables-restore does with
        C(--wait=0) and without C(--wait). It waits at most one second, the shortest
        bounded wait iptables offers, then fails changing nothing.
      - Putting a family back after a failure waits at least 30 seconds.
      - Separately, every run holds the collection's own host-wide lock
        (C(/run/dockerguard.lock)) from reading the rules to reading them back, both
        families, so concurrent runs of both modules and of the roles' boot program
        end in one complete policy; a run waits up to 120 seconds for it.
    type: int
    default: 10
"""
