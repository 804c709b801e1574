# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the host_network role: host_network_plan, host_network_running.

Documentation: host_network_plan.yml and host_network_running.yml beside this file. The logic is in
module_utils/_host_network.py.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.plugin_utils._lazy_import import module_utils

_host_network = module_utils("_host_network")


def host_network_plan(docker_facts, name, ports, registry=None, allow=None, entries=None,
                      state="present", firewall=True, ssh_sources=None, ssh_port=None,
                      env=None, registry_path=""):
    try:
        return _host_network.plan(docker_facts, name, ports, registry=registry, allow=allow,
                                  entries=entries, state=state, firewall=firewall,
                                  ssh_sources=ssh_sources, ssh_port=ssh_port, env=env,
                                  registry_path=registry_path)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("host_network_plan: %s" % exc) from exc


def host_network_running(docker_facts, name, ports):
    try:
        return _host_network.running(docker_facts, name, ports)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("host_network_running: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"host_network_plan": host_network_plan, "host_network_running": host_network_running}
