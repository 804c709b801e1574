# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout_* filters (the logic is tested in module_utils/test__rollout.py; here the
plumbing)."""

from __future__ import absolute_import, division, print_function

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.filter.rollout import FilterModule
from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import test__rollout as t

F = FilterModule().filters()


def test_filters_are_registered():
    assert sorted(F) == ["rollout_batch", "rollout_chain", "rollout_predict", "rollout_report",
                         "rollout_restored"]


def test_batch_chain_restored_report():
    res = F["rollout_batch"]([{"host": "a", "before": t.report(), "after": t.report(t.WRONG)}])
    assert res["regressed"] and res["sources"] == ["office"]
    state = F["rollout_chain"](t.facts(t.GOOD))
    assert F["rollout_restored"](state, F["rollout_chain"](t.facts(t.GOOD), "DOCKERGUARD")) == []
    assert F["rollout_report"]([], ["a"])["status"] == "stopped"


@pytest.mark.parametrize("name, args, message", [
    ("rollout_batch", ({},), "rollout_batch: hosts must be a list"),
    ("rollout_predict", (None,), "rollout_predict: previews must be a list"),
    ("rollout_chain", ("x",), "rollout_chain: iptables facts must be a dict"),
    ("rollout_report", ([{"host": "a", "status": "?"}], ["a"]), "rollout_report: a: status"),
])
def test_errors_are_filter_errors(name, args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        F[name](*args)
