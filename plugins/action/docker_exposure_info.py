# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of docker_exposure_info: gather the fact sets on the host (one run of
exposure_facts), analyse on the controller."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_scan as scan
from ansible_collections.dockerguard.firewall.plugins.modules.docker_exposure_info import (
    ARGUMENT_SPEC)

FACTS = "dockerguard.firewall.exposure_facts"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)

        args = {"families": params["families"], "timeout": params["timeout"]}
        if params["docker_host"]:
            args["docker_host"] = params["docker_host"]
        # one module run gathers the three fact sets; a host without nft reports
        # {"available": false}, which is a fact, not a failure
        res = self._execute_module(module_name=FACTS, module_args=args, task_vars=task_vars)
        if res.get("failed"):
            result.update(failed=True, msg="%s failed: %s" % (FACTS, res.get("msg", res)))
            return result
        facts = res["ansible_facts"]
        iptables, docker, nftables = facts["iptables"], facts["docker_network"], facts["nftables"]
        warnings = list(res.get("warnings") or [])

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
