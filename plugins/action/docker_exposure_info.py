# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of docker_exposure_info: gather the fact sets on the host (through
iptables_facts, nftables_facts and docker_network_facts), analyse on the controller."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_scan as scan
from ansible_collections.dockerguard.firewall.plugins.modules.docker_exposure_info import (
    ARGUMENT_SPEC)

IPTABLES = "dockerguard.firewall.iptables_facts"
DOCKER = "dockerguard.firewall.docker_network_facts"
NFTABLES = "dockerguard.firewall.nftables_facts"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def _gather(self, name, args, task_vars):
        res = self._execute_module(module_name=name, module_args=args, task_vars=task_vars)
        if res.get("failed"):
            return None, "%s failed: %s" % (name, res.get("msg", res))
        return res, None

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)

        ipt, err = self._gather(IPTABLES, {"families": params["families"]}, task_vars)
        if err:
            result.update(failed=True, msg=err)
            return result
        docker_args = {"timeout": params["timeout"]}
        if params["docker_host"]:
            docker_args["docker_host"] = params["docker_host"]
        dock, err = self._gather(DOCKER, docker_args, task_vars)
        if err:
            result.update(failed=True, msg=err)
            return result
        # native nftables tables decide too (firewalld, Docker 29, nftables.conf); nft
        # missing is a fact ({"available": false}), not a failure
        nft, err = self._gather(NFTABLES, {}, task_vars)
        if err:
            result.update(failed=True, msg=err)
            return result
        iptables = ipt["ansible_facts"]["iptables"]
        docker = dock["ansible_facts"]["docker_network"]
        nftables = nft["ansible_facts"]["nftables"]
        warnings = list(ipt.get("warnings") or []) + list(dock.get("warnings") or []) + \
            list(nft.get("warnings") or [])

        try:
            host_scan = scan.Scan(iptables, docker, nftables=nftables)
            targets = [t for t in host_scan.targets()
                       if t["family"] in params["families"]]
            sources = params["sources"]
            if sources is not None:
                sources = [dict((k, v) for k, v in s.items() if v is not None) for s in sources]
            results = host_scan.exposure(sources=sources, targets=targets,
                                         trace=params["trace"])
            summary = []
            if params["reachability"]:
                summary = host_scan.reachability(interfaces=params["interfaces"],
                                                 targets=targets)
        except ValueError as exc:
            result.update(failed=True, msg="docker_exposure_info: %s" % exc)
            return result

        counts = dict((v, 0) for v in ("exposed", "filtered", "unknown"))
        for r in results:
            counts[r["verdict"]] += 1
        result.update(changed=False, exposure=results, published_ports=targets,
                      reachability=summary, summary=counts)
        if warnings:
            result["warnings"] = warnings
        return result
