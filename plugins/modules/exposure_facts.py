#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: exposure_facts
short_description: Gather everything the exposure engine needs, in one module run
version_added: 0.1.0
description:
  - Returns in one run what M(dockerguard.firewall.iptables_facts),
    M(dockerguard.firewall.nftables_facts) and M(dockerguard.firewall.docker_network_facts)
    return in three - C(ansible_facts.iptables), C(ansible_facts.nftables) and
    C(ansible_facts.docker_network) - through the same gathering code, with those
    modules' defaults.
  - One module start per host instead of three; that is what the
    M(dockerguard.firewall.exposure_audit) role and
    M(dockerguard.firewall.docker_exposure_info) use, and what a fleet audit spends its
    time on (C(bench/bench_fleet_audit.py)).
  - The iptables and nftables rulesets are read while the Docker API answers.
  - Read-only.
author:
  - dockerguard developers (@dockerguard)
requirements:
  - docker (Python SDK) >= 7.0 on the managed host
  - iptables; nftables (C(nft)) when native nftables tables are to be read; root
extends_documentation_fragment:
  - dockerguard.firewall.attributes
  - dockerguard.firewall.attributes.info_module
  - dockerguard.firewall.attributes.facts
options:
  families:
    description:
      - Address families of the iptables state to gather (as
        M(dockerguard.firewall.iptables_facts)'s O(dockerguard.firewall.iptables_facts#module:families)).
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  docker_host:
    description:
      - The Docker daemon to query, as a URL; defaults to E(DOCKER_HOST), else the local
        socket (as M(dockerguard.firewall.docker_network_facts)'s
        O(dockerguard.firewall.docker_network_facts#module:docker_host)).
    type: str
    aliases: [docker_url]
  timeout:
    description: Seconds to wait for each Docker API call.
    type: int
    default: 60
notes:
  - Needs root (C(become=true)) to read the rulesets.
  - A host without C(nft) reports C(ansible_facts.nftables.available=false); a host
    without C(iptables), without the Docker SDK, or whose Docker daemon does not answer
    fails the task, naming what is missing.
seealso:
  - module: dockerguard.firewall.iptables_facts
  - module: dockerguard.firewall.nftables_facts
  - module: dockerguard.firewall.docker_network_facts
  - plugin: dockerguard.firewall.exposure_audit
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Gather the rulesets and the Docker state in one run
  dockerguard.firewall.exposure_facts:
  become: true

- name: Audit the host's published ports
  ansible.builtin.debug:
    msg: >-
      {{ (ansible_facts.iptables | dockerguard.firewall.exposure_audit(ansible_facts.docker_network,
          nftables=ansible_facts.nftables, expected=[{'name': 'web', 'ports': [443], 'from': 'anywhere'}])).summary }}
"""

RETURN = r"""
ansible_facts:
  description: The three fact sets.
  returned: success
  type: complex
  contains:
    iptables:
      description: As M(dockerguard.firewall.iptables_facts) returns it (with its defaults).
      type: dict
      returned: success
      sample: {backend: nf_tables, docker_backend: nf_tables, ipv4: {available: true}}
    nftables:
      description: As M(dockerguard.firewall.nftables_facts) returns it.
      type: dict
      returned: success
      sample: {available: true, tables: {}}
    docker_network:
      description: As M(dockerguard.firewall.docker_network_facts) returns it (with its defaults).
      type: dict
      returned: success
      sample: {containers: [], networks: []}
"""

import os
import threading

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dockerguard.firewall.plugins.module_utils import _docker_gather as docker_gather
from ansible_collections.dockerguard.firewall.plugins.module_utils import _iptables_host as iptables_host
from ansible_collections.dockerguard.firewall.plugins.module_utils import _nftables as nftables
from ansible_collections.dockerguard.firewall.plugins.module_utils._cmd_runner import CmdRunner


def _rulesets(runner, families, out):
    """iptables then nftables into ``out`` (run in a thread while Docker answers)."""
    try:
        out["iptables"] = iptables_host.gather(runner.run, runner.which, families)
        out["nftables"] = nftables.gather(runner.run, runner.which)
    except (iptables_host.GatherError, RuntimeError, nftables.NftablesParseError) as exc:
        out["error"] = str(exc)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            families=dict(type="list", elements="str", choices=["ipv4", "ipv6"],
                          default=["ipv4", "ipv6"]),
            docker_host=docker_gather.ARGUMENT_SPEC["docker_host"],
            timeout=docker_gather.ARGUMENT_SPEC["timeout"],
        ),
        supports_check_mode=True,
    )
    if not docker_gather.HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=docker_gather.DOCKER_IMPORT_ERROR)
    runner = CmdRunner(module)
    rulesets = {}
    worker = threading.Thread(target=_rulesets, args=(runner, module.params["families"], rulesets))
    worker.start()
    # docker_network_facts' defaults, for the options this module does not offer
    params = dict(docker_gather.default_params(), docker_host=module.params["docker_host"],
                  timeout=module.params["timeout"])
    base_url = params["docker_host"] or os.environ.get("DOCKER_HOST") or docker_gather.DEFAULT_HOST
    try:
        model, warnings = docker_gather.gather(runner, params, base_url)
    except docker_gather.GatherError as exc:
        worker.join()
        module.fail_json(msg=str(exc))
    worker.join()
    if "error" in rulesets:
        module.fail_json(msg=rulesets["error"])
    for text in rulesets["iptables"]["warnings"] + warnings:
        module.warn(text)
    module.exit_json(changed=False, ansible_facts={
        "iptables": rulesets["iptables"], "nftables": rulesets["nftables"], "docker_network": model})


if __name__ == "__main__":
    main()
