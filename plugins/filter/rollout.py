# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the safe rollout: rollout_batch, rollout_predict, rollout_chain,
rollout_restored, rollout_report.

Documentation: the rollout_*.yml files beside this one. The logic is in
module_utils/_rollout.py.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.plugin_utils._lazy_import import module_utils

rollout = module_utils("_rollout")


def _call(name, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc)) from exc


def rollout_batch(hosts):
    return _call("rollout_batch", rollout.batch, hosts)


def rollout_predict(previews):
    return _call("rollout_predict", rollout.predict, previews)


def rollout_chain(iptables_facts, chain="DOCKERGUARD", parent="DOCKER-USER"):
    return _call("rollout_chain", rollout.chain_state, iptables_facts, chain, parent)


def rollout_restored(before_state, after_state, before_report=None, after_report=None):
    return _call("rollout_restored", rollout.restored, before_state, after_state,
                 before_report, after_report)


def rollout_report(results, hosts):
    return _call("rollout_report", rollout.report, results, hosts)


class FilterModule(object):
    def filters(self):
        return {"rollout_batch": rollout_batch, "rollout_predict": rollout_predict,
                "rollout_chain": rollout_chain, "rollout_restored": rollout_restored,
                "rollout_report": rollout_report}
