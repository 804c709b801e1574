#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: docker_network_facts
short_description: Gather what a Docker engine publishes, and how, for exposure analysis
version_added: 0.1.0
description:
  - Reads the Docker engine through the Docker SDK (daemon info and version, networks,
    containers, swarm services) and the managed host (interfaces with their addresses,
    listening TCP/UDP sockets with their owning processes, the dockerd command line and
    C(daemon.json)), and returns one normalised model in C(ansible_facts.docker_network).
  - The model is what the exposure engine (P(dockerguard.firewall.exposure#filter)) needs
    beside M(dockerguard.firewall.iptables_facts), and is the same that
    P(dockerguard.firewall.docker_inspect#filter) builds from saved C(docker inspect) /
    C(ip -j addr) / C(ss -Hltnup) output.
  - Published ports are one entry per host port, as Docker reports them (a range
    C(-p 8000-8002:80-82) gives three entries).
  - Read-only.
author:
  - dockerguard developers (@dockerguard)
requirements:
  - docker (Python SDK) >= 7.0 on the managed host
  - C(ss) and C(ip) (iproute2) on the managed host; without C(ss) the listeners are read
    from C(/proc/net) and C(/proc/*/fd)
extends_documentation_fragment:
  - dockerguard.firewall.attributes
  - dockerguard.firewall.attributes.info_module
  - dockerguard.firewall.attributes.facts
options:
  docker_host:
    description:
      - The Docker daemon to query, as a URL (C(unix:///var/run/docker.sock),
        C(tcp://host:2376)).
      - Defaults to E(DOCKER_HOST), else the local socket C(unix:///var/run/docker.sock).
      - TLS settings are taken from E(DOCKER_TLS_VERIFY) and E(DOCKER_CERT_PATH).
      - For a daemon that is not on the managed host, the host-side parts
        (C(interfaces), C(listeners), C(dockerd)) would describe the wrong machine; they
        are left out unless O(gather_subset) names them explicitly.
    type: str
    aliases: [docker_url]
  timeout:
    description: Seconds to wait for each Docker API call.
    type: int
    default: 60
  gather_subset:
    description:
      - What to gather besides the daemon information (always gathered).
      - V(containers), V(networks), V(services) (swarm services, only on managers) come
        from the Docker API; V(interfaces) (C(ip -j addr)), V(listeners) (C(ss -Hltnup))
        and V(dockerd) (the dockerd command line and C(daemon.json), which say whether
        Docker manages iptables/ip6tables and runs the userland proxy) from the host.
      - A part not gathered is V(null) in the facts; a part gathered and empty is V([]).
    type: list
    elements: str
    choices: [all, containers, networks, services, interfaces, listeners, dockerd]
    default: [all]
  all_containers:
    description:
      - Include containers that are not running (like C(docker ps --all)). They publish
        nothing while stopped, but show what they would publish with O(inspect_containers).
    type: bool
    default: true
  containers_filters:
    description:
      - >-
        Filters passed to the Docker API's container list, as C(docker ps --filter) takes
        them, for example C({"status": "running"}) or
        C({"label": ["com.example.app=web"]}).
    type: dict
  networks_filters:
    description: Filters passed to the Docker API's network list (C(docker network ls --filter)).
    type: dict
  inspect_containers:
    description:
      - Inspect every container (one API call each) instead of using the container list.
      - Adds C(pid), C(port_bindings) (the configured bindings, also of stopped
        containers), C(publish_all) and the container aliases per network; without it
        those are V(null) (the list has no such fields), except for host-network
        containers, which are always inspected.
    type: bool
    default: false
notes:
  - Listening sockets of other users' processes are only attributed when the module runs
    as root (C(become=true)); otherwise C(owner) is V(null) (unknown), never guessed.
  - C(dockerd) settings not set on the command line or in C(daemon.json) take Docker's
    default for the server version (ip6tables is on by default from Docker 27.0);
    C(daemon.settings_source) says where each value came from.
seealso:
  - module: dockerguard.firewall.iptables_facts
  - plugin: dockerguard.firewall.docker_inspect
    plugin_type: filter
  - module: community.docker.docker_host_info
"""

EXAMPLES = r"""
- name: Gather Docker network facts
  dockerguard.firewall.docker_network_facts:
  become: true

- name: Show every published port
  ansible.builtin.debug:
    msg: >-
      {{ item.0.name }}: {{ item.1.host_ip }}:{{ item.1.host_port }}
      -> {{ item.1.container_port }}/{{ item.1.protocol }}
  loop: "{{ ansible_facts.docker_network.containers | subelements('ports') }}"
  loop_control:
    label: "{{ item.0.name }}"

- name: Only running containers, no swarm services, from a TCP daemon
  dockerguard.firewall.docker_network_facts:
    docker_host: tcp://127.0.0.1:2375
    containers_filters:
      status: running
    gather_subset: [containers, networks, interfaces, listeners]

- name: Fail when a host-network container listens on all addresses
  ansible.builtin.assert:
    that: >-
      ansible_facts.docker_network.listeners
      | selectattr('owner', 'equalto', 'container')
      | selectattr('address', 'in', ['0.0.0.0', '::']) | list | length == 0
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    docker_network:
      description: The docker model. A part that was not gathered is V(null).
      returned: always
      type: complex
      contains:
        model_version:
          description: Version of this structure.
          type: int
          sample: 1
        daemon:
          description:
            - The engine. C(iptables), C(ip6tables), C(userland_proxy), C(default_bind_ip)
              are the effective dockerd settings; C(settings_source) maps each to
              V(cmdline), V(config) (daemon.json), V(default) (neither sets it),
              V(assumed) (Docker's default; the dockerd configuration could not be read)
              or V(observed) (seen from the listeners).
            - C(firewall_backend) is what the API reports (V(reported), API 1.49+, the
              C(FirewallBackend.Driver) of C(docker info) - V(iptables),
              V(iptables+firewalld), and with Docker 29's C(firewall-backend=nftables)
              V(nftables) or V(nftables+firewalld)) or, from older engines,
              V(iptables) / V(iptables+firewalld) / V(none) (V(inferred)).
            - Container addresses come from C(NetworkSettings.Networks), the only place
              API 1.52 (Docker 29) still has them.
          type: dict
          sample:
            server_version: 28.5.2+dfsg4
            version: [28, 5, 2]
            api_version: "1.51"
            min_api_version: "1.24"
            name: node1
            operating_system: Debian GNU/Linux forky/sid
            os_type: linux
            kernel_version: 6.1.0
            rootless: false
            iptables: true
            ip6tables: true
            userland_proxy: true
            default_bind_ip: 0.0.0.0
            settings_source: {iptables: default, ip6tables: default, userland_proxy: default,
                              default_bind_ip: default}
            firewall_backend: iptables
            firewall_backend_source: reported
            ipv4_forwarding: true
            swarm: {state: inactive, node_id: null, node_address: null, manager: false,
                    cluster_id: null}
        networks:
          description:
            - Docker networks, sorted by name. C(bridge) is the Linux bridge interface
              (the C(com.docker.network.bridge.name) option, C(docker0) for the default
              network, else C(br-) and the first 12 characters of the id), V(null) for
              other drivers. C(ipv4) / C(ipv6) list the subnets with their gateways.
            - C(icc), C(masquerade), C(gateway_mode_ipv4), C(gateway_mode_ipv6),
              C(host_binding_ipv4) are the bridge driver options with Docker's defaults
              applied (V(null) for other drivers). C(containers) names the gathered
              containers attached.
          type: list
          elements: dict
          sample:
            - name: web-v6
              id: 3f5e9c2a1b0d...
              driver: bridge
              scope: local
              bridge: br-web
              parent: null
              default: false
              internal: false
              attachable: false
              ingress: false
              enable_ipv4: true
              enable_ipv6: true
              ipv4: [{subnet: 10.250.10.0/24, gateway: 10.250.10.1, ip_range: null}]
              ipv6: [{subnet: "fd00:250:10::/64", gateway: "fd00:250:10::1", ip_range: null}]
              icc: true
              masquerade: true
              gateway_mode_ipv4: nat
              gateway_mode_ipv6: nat
              host_binding_ipv4: null
              mtu: null
              options: {com.docker.network.bridge.name: br-web}
              labels: {}
              containers: [web]
        containers:
          description:
            - Containers, sorted by name. C(network_mode) is as Docker reports it
              (V(bridge), a network name, V(host), V(none), V(container:<id>));
              C(network_kind) is V(host), V(none), V(container) or the driver of the
              container's network (V(bridge), V(overlay), ...); C(network_container)
              names the container whose network namespace a V(container:) one shares.
            - C(ports) are the active bindings (one per host port and address family);
              C(dnat) is V(true) when Docker installs a DNAT rule for it, V(false) when it
              does not (the daemon does not manage iptables for that family, or the
              container has no address of that family, so only docker-proxy carries it
              and C(filter INPUT) decides), V(null) when unknown.
            - C(exposed_ports) are the container ports Docker reports (those with a binding
              in the container list, and with O(inspect_containers) also the image's
              C(EXPOSE)); C(pid), C(port_bindings) and C(publish_all) need an inspect.
          type: list
          elements: dict
          sample:
            - name: web
              id: 6c84d57c7b24...
              image: svc:local
              image_id: sha256:7d67d645ef45...
              state: running
              running: true
              pid: null
              network_mode: bridge
              network_kind: bridge
              network_container: null
              networks:
                - {name: bridge, id: 26dad2b7ace7..., ipv4: 172.17.0.2, ipv4_prefixlen: 16,
                   gateway: 172.17.0.1, ipv6: null, ipv6_prefixlen: null, ipv6_gateway: null,
                   mac: "02:42:ac:11:00:02", aliases: []}
              ports:
                - {protocol: tcp, container_port: 80, host_ip: 0.0.0.0, host_port: 8080,
                   family: ipv4, dnat: true}
              exposed_ports: [{protocol: tcp, container_port: 80}]
              port_bindings: null
              publish_all: null
              labels: {}
        interfaces:
          description:
            - Host interfaces with their addresses. C(role) is V(loopback),
              V(docker_bridge) (the bridge of the Docker network named in C(network)),
              V(docker_port) (a container's veth on such a bridge) or V(external).
            - C(route_localnet) is the kernel's effective C(net.ipv4.conf.*.route_localnet)
              for the interface (whether 127.0.0.0/8 may arrive on it).
          type: list
          elements: dict
          sample:
            - name: eth0
              index: 2
              state: UP
              mtu: 1500
              mac: "52:54:00:12:34:56"
              link_type: ether
              master: null
              role: external
              network: null
              route_localnet: false
              addresses: [{family: ipv4, address: 10.250.0.5, prefixlen: 24, scope: global}]
        listeners:
          description:
            - Listening TCP sockets and bound UDP sockets of the host's network namespace.
              C(owner) is V(docker-proxy) (C(container) and C(published) name the binding
              it carries), V(container) (a host-network container's process; C(container)
              names it), V(host), or V(null) when the process is not known.
            - C(dual_stack) is V(true) for an IPv6 wildcard socket that also takes IPv4,
              V(null) when that cannot be known.
          type: list
          elements: dict
          sample:
            - protocol: tcp
              family: ipv4
              address: 0.0.0.0
              port: 8080
              interface: null
              dual_stack: false
              processes: [{name: docker-proxy, pid: 1234}]
              owner: docker-proxy
              container: {id: 6c84d57c7b24..., name: web}
              published: {container_port: 80, protocol: tcp, host_ip: 0.0.0.0}
        services:
          description: Swarm services (on a manager), with their published ports and
            publish mode (V(ingress) or V(host)); V(null) when not a manager.
          type: list
          elements: dict
          sample:
            - name: web
              id: x1y2z3
              mode: replicated
              replicas: 2
              image: nginx:latest
              ports: [{protocol: tcp, target_port: 80, published_port: 8080,
                       publish_mode: ingress}]
              networks: [ingress]
              virtual_ips: [{network: ingress, address: 10.0.0.5/24}]
        ingress_network:
          description: The swarm ingress network's name, if any.
          type: str
          sample: ingress
        default_routes:
          description:
            - The default route per family (lowest metric), V(null) per family when there
              is none; gathered with V(interfaces).
          type: dict
          sample:
            ipv4: {interface: eth0, gateway: 10.250.0.1, metric: 0}
            ipv6: null
        forwarding:
          description: Whether the kernel forwards IPv4 / IPv6 (C(net.ipv4.ip_forward),
            C(net.ipv6.conf.all.forwarding)); gathered with V(interfaces).
          type: dict
          sample: {ipv4: true, ipv6: false}
        local_port_range:
          description:
            - The ports a client of this host picks its source port from
              (C(net.ipv4.ip_local_port_range)), V(null) when unreadable; the exposure
              engine evaluates source-port matches against it. Gathered with V(interfaces).
          type: list
          elements: int
          sample: [32768, 60999]
        warnings:
          description: What could not be gathered, and why.
          type: list
          elements: str
          sample: ["listeners: ss not found, read /proc/net instead"]
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dockerguard.firewall.plugins.module_utils._cmd_runner import CmdRunner
from ansible_collections.dockerguard.firewall.plugins.module_utils._docker_gather import (
    ARGUMENT_SPEC,
    DEFAULT_HOST,
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    GatherError,
    gather,
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    base_url = module.params["docker_host"] or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    try:
        model, warnings = gather(CmdRunner(module), module.params, base_url)
    except GatherError as exc:
        module.fail_json(msg=str(exc))
    for text in warnings:
        module.warn(text)
    module.exit_json(changed=False, ansible_facts={"docker_network": model})


if __name__ == "__main__":
    main()
