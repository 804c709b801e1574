#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: docker_exposure_info
short_description: Which Docker-published port each source reaches on a host, and why
version_added: 0.1.0
description:
  - Gathers the host's iptables state, its native nftables ruleset and its Docker state
    in one module run (M(dockerguard.firewall.exposure_facts)), then walks a new
    connection from each source to each published port through the rules the way the
    kernel does and returns the verdict (V(exposed), V(filtered), V(unknown)) with the
    rule path that decided it.
  - Evaluates every published container port, every port a host-network container
    listens on, docker-proxy listeners no DNAT covers and swarm ingress ports (see
    P(dockerguard.firewall.published_ports#filter)).
  - Also returns, per port and input interface, the set of source addresses that reach
    it, computed over the whole address space (for example V(0.0.0.0/0 except 10.0.0.0/8)).
  - The fact sets are gathered on the managed host; the analysis runs on the
    controller (the same code as P(dockerguard.firewall.exposure#filter)).
  - Each hook is judged across every table attached to it, in priority order - iptables
    tables and native nftables base chains (firewalld's C(inet firewalld), Docker 29's
    C(ip docker-bridges), a C(table inet filter) from C(/etc/nftables.conf)); rule paths name
    nft rules as C(inet firewalld filter_IN_public_allow#3). When Docker reports an
    C(nftables) or C(firewalld) backend and the nftables ruleset cannot be read, every
    verdict is V(unknown) with the reason.
author:
  - dockerguard developers (@dockerguard)
attributes:
  action:
    support: full
    description: Runs through an action plugin that calls the three fact modules.
extends_documentation_fragment:
  - dockerguard.firewall.attributes
  - dockerguard.firewall.attributes.info_module
options:
  sources:
    description:
      - Where probes come from, each with C(address) and C(interface) (the interface of
        the host the packet arrives on) and an optional C(name).
      - Default - one public address per family (V(203.0.113.7), V(2001:db8::7)) arriving
        on each external (non-Docker, non-loopback) interface.
    type: list
    elements: dict
    suboptions:
      name:
        description: A name for the source in the results (default C(address@interface)).
        type: str
      address:
        description: The source address of the probe.
        type: str
        required: true
      interface:
        description: The interface of the host the probe arrives on.
        type: str
        required: true
  interfaces:
    description:
      - Input interfaces for the reachability summary; default - the external interfaces.
    type: list
    elements: str
  reachability:
    description: Compute the reachability summary (C(reachability) in the result).
    type: bool
    default: true
  trace:
    description: Include each result's rule path (C(trace)).
    type: bool
    default: true
  families:
    description: Address families to analyse.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  docker_host:
    description:
      - The Docker daemon to query, passed to M(dockerguard.firewall.exposure_facts).
    type: str
  timeout:
    description: Seconds to wait for each Docker API call.
    type: int
    default: 60
requirements:
  - On the managed host, what the two fact modules need - C(iptables-save) (and
    C(ip6tables-save)), C(ip), C(ss), the Docker SDK for Python.
notes:
  - Run as root (C(become=true)) - C(iptables-save) needs it, and so does attributing
    listening sockets to containers.
  - A TCP port is reached only if the whole connection gets through - the SYN, its
    SYN-ACK, the client's ACK and request, the server's answer - each with the conntrack
    state, status, direction and flags it really has; a rule that drops any of them shows
    as V(filtered), and the result's C(packet) names the packet that was stopped.
  - Probes from the host itself (interface C(lo)) are not modelled.
seealso:
  - module: dockerguard.firewall.exposure_facts
  - module: dockerguard.firewall.iptables_facts
  - module: dockerguard.firewall.nftables_facts
  - module: dockerguard.firewall.docker_network_facts
  - plugin: dockerguard.firewall.exposure
    plugin_type: filter
  - plugin: dockerguard.firewall.explain
    plugin_type: filter
"""

EXAMPLES = r"""
- name: What the internet reaches on each external interface
  dockerguard.firewall.docker_exposure_info:
  become: true
  register: exposure

- name: Fail when the internet reaches anything
  ansible.builtin.assert:
    that: exposure.summary.exposed == 0
    fail_msg: >-
      {{ exposure.exposure | selectattr('verdict', '==', 'exposed')
         | dockerguard.firewall.explain }}

- name: Probe from the office and from elsewhere
  dockerguard.firewall.docker_exposure_info:
    sources:
      - {name: office, address: 192.0.2.10, interface: eth0}
      - {name: elsewhere, address: 198.51.100.7, interface: eth0}
    reachability: false
  become: true
  register: exposure

- name: Who reaches each port from eth0
  ansible.builtin.debug:
    msg: "{{ item.id }}: {{ item.exposed }}"
  loop: "{{ exposure.reachability }}"
"""

RETURN = r"""
exposure:
  description:
    - One result per (port, source) - C(verdict) (V(exposed), V(filtered), V(unknown)),
      C(action) (V(ACCEPT), V(DROP), V(REJECT), V(closed), V(martian), V(not-local),
      V(not-translated), V(unknown)), C(decided_by), C(reason), C(path), C(dnat),
      C(out_interface), C(direction) (V(reply) when a packet of the server is what gets
      dropped), C(packet) (the packet of the connection that was stopped - V(syn-ack),
      V(ack), V(data), V(server-data); absent for the SYN), C(unknown_rule),
      C(regardless_of), C(probe), C(target), C(source), C(id) and C(trace).
    - See P(dockerguard.firewall.exposure#filter).
  returned: always
  type: list
  elements: dict
  sample:
    - id: published web 0.0.0.0:8080/tcp from public-ipv4@eth0
      verdict: filtered
      action: DROP
      decided_by: filter/DOCKER-USER#1
      reason: dropped by filter/DOCKER-USER#1
      path: forward
      dnat: 172.18.0.2:80
      out_interface: docker0
published_ports:
  description: The ports evaluated (see P(dockerguard.firewall.published_ports#filter)).
  returned: always
  type: list
  elements: dict
reachability:
  description:
    - Per (port, input interface) - C(exposed), C(filtered), C(unknown) (compact CIDR
      text), C(exposed_cidrs), C(exposed_groups), C(destination), C(interface), C(target),
      C(id). Empty when O(reachability=false).
  returned: always
  type: list
  elements: dict
  sample:
    - id: published web 0.0.0.0:8080/tcp on eth0
      exposed: 10.99.0.0/16
      filtered: 0.0.0.0/0 except 10.99.0.0/16
      unknown: nothing
summary:
  description: How many results have each verdict.
  returned: always
  type: dict
  sample: {exposed: 1, filtered: 2, unknown: 0}
"""

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = dict(
    sources=dict(type="list", elements="dict", options=dict(
        name=dict(type="str"),
        address=dict(type="str", required=True),
        interface=dict(type="str", required=True),
    )),
    interfaces=dict(type="list", elements="str"),
    reachability=dict(type="bool", default=True),
    trace=dict(type="bool", default=True),
    families=dict(type="list", elements="str", choices=["ipv4", "ipv6"],
                  default=["ipv4", "ipv6"]),
    docker_host=dict(type="str"),
    timeout=dict(type="int", default=60),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="docker_exposure_info runs through its action plugin "
                         "(dockerguard.firewall.docker_exposure_info); it was called without it")


if __name__ == "__main__":
    main()
