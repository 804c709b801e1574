# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the exposure engine: published_ports, exposure, reachability, explain.

Documentation: published_ports.yml, exposure.yml, reachability.yml and explain.yml
beside this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.plugin_utils._lazy_import import module_utils

_exposure = module_utils("_exposure")
scan = module_utils("_exposure_scan")


def _call(name, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc)) from exc


def published_ports(docker_facts, include_stopped=False):
    return _call("published_ports", scan.published_ports, docker_facts,
                 include_stopped=include_stopped)


def _scan(name, iptables_facts, docker_facts, nftables=None):
    return _call(name, scan.Scan, iptables_facts, docker_facts, nftables=nftables)


def exposure(iptables_facts, docker_facts, sources=None, trace=True, nftables=None):
    host_scan = _scan("exposure", iptables_facts, docker_facts, nftables)
    return _call("exposure", host_scan.exposure, sources=sources, trace=trace)


def reachability(iptables_facts, docker_facts, interfaces=None, regions=False, nftables=None):
    host_scan = _scan("reachability", iptables_facts, docker_facts, nftables)
    return _call("reachability", host_scan.reachability, interfaces=interfaces, regions=regions)


def explain(result):
    """The path of one result (or of each result of a list) as text."""
    if isinstance(result, list):
        return "\n\n".join(explain(r) for r in result)
    if not isinstance(result, dict) or "verdict" not in result or "probe" not in result:
        raise AnsibleFilterError("explain expects a result of the exposure filter (or a list "
                                 "of them), got %r" % (result,))
    text = _call("explain", _exposure.explain, result)
    if result.get("target"):
        text = "%s\n%s" % (scan.describe_target(result["target"]), text)
    return text


class FilterModule(object):
    def filters(self):
        return {"published_ports": published_ports, "exposure": exposure,
                "reachability": reachability, "explain": explain}
