# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift since the last audit: two real audits of the test host compared row by row."""

from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure_drift import drift

from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model as lab

# 8080 restricted to 10.99.0.0/16, then also to 10.250.9.0/24 (the allow-list widened)
WIDER = "-A DOCKER-USER ! -s 10.99.0.0/16 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP"
EXPECTED = [{"name": "web", "ports": [8080], "from": ["10.0.0.0/8"]}]


def report(allow_list=True, user_rules=(), host_network=False, expected=None, host="n1"):
    return audit.audit_host(lab.ruleset(allow_list=allow_list, user_rules=user_rules),
                            lab.docker(host_network=host_network), expected or EXPECTED,
                            lab.SOURCES, host=host)


def widened_report(**kwargs):
    """The allow-list also lets 10.250.9.0/24 in: a RETURN for it above the DROP."""
    rules = ["-s 10.250.9.0/24 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j RETURN"]
    facts = lab.ruleset(allow_list=False, user_rules=rules + [WIDER[len("-A DOCKER-USER "):]])
    return audit.audit_host(facts, lab.docker(**kwargs), EXPECTED, lab.SOURCES, host="n1")


def test_first_audit_has_no_changes():
    d = drift(None, report())
    assert d["status"] == "first" and d["changes"] == [] and d["widened"] is False
    assert drift("", report())["status"] == "first"


def test_the_same_audit_twice_is_unchanged():
    d = drift(report(), report())
    assert (d["status"], d["changes"], d["widened"], d["counts"]) == ("unchanged", [], False, {})


def test_previous_as_json_text_as_the_role_reads_it():
    d = drift(json.dumps(report()), report())
    assert d["status"] == "unchanged"


def test_a_widened_allow_list():
    d = drift(report(), widened_report())
    assert d["status"] == "changed" and d["widened"] is True
    [c] = d["changes"]
    assert c["port"] == "8080/tcp" and c["interface"] == "eth0"
    assert "widened" in c["kinds"] and "narrowed" not in c["kinds"]
    assert c["widened_to"] == "10.250.9.0/24" and c["narrowed_from"] is None
    # still expected (10.0.0.0/8 may reach it): the drift is all that tells
    assert c["before"]["verdict"] == c["after"]["verdict"] == "expected"
    assert c["sources"] == [{"name": "denied", "address": "10.250.9.20", "before": "filtered",
                             "after": "exposed"}]
    assert [a["rule"] for a in c["rules_added"]] == [
        "-A DOCKER-USER -s 10.250.9.0/24 -p tcp -m conntrack --ctorigdstport 8080 "
        "--ctdir ORIGINAL -j RETURN"]
    assert "now also reachable from 10.250.9.0/24" in c["text"]
    assert "denied (10.250.9.20) filtered -> exposed" in c["text"]


def test_narrowed_is_the_reverse():
    d = drift(widened_report(), report())
    [c] = d["changes"]
    assert "narrowed" in c["kinds"] and "widened" not in c["kinds"]
    assert c["narrowed_from"] == "10.250.9.0/24" and d["widened"] is False
    # the RETURN left the path; the denied client meets the DROP again
    assert [a["rule"] for a in c["rules_removed"]] == [
        "-A DOCKER-USER -s 10.250.9.0/24 -p tcp -m conntrack --ctorigdstport 8080 "
        "--ctdir ORIGINAL -j RETURN"]
    assert [a["rule"] for a in c["rules_added"]] == [WIDER]


def test_a_new_published_port_and_a_removed_one():
    d = drift(report(), report(host_network=True))
    [c] = d["changes"]
    assert c["kinds"] == ["new"] and c["port"] == "9090/tcp" and c["before"] is None
    assert c["widens"] is True and d["widened"] is True  # reachable from anyone: wider
    assert c["after"]["verdict"] == "unexpected"
    assert c["text"].startswith("9090/tcp (container metrics) on eth0: new published port")
    back = drift(report(host_network=True), report())
    [c] = back["changes"]
    assert c["kinds"] == ["removed"] and c["after"] is None and back["widened"] is False


def test_exactly_the_two_changes():
    d = drift(report(), widened_report(host_network=True))
    assert sorted((c["port"], c["kinds"][0]) for c in d["changes"]) == [
        ("8080/tcp", "widened"), ("9090/tcp", "new")]
    assert d["counts"]["new"] == 1 and d["counts"]["widened"] == 1


def test_a_verdict_change_without_a_rule_change():
    strict = [{"name": "web", "ports": [8080], "from": ["10.99.1.0/24"]}]
    d = drift(report(), report(expected=strict))
    [c] = d["changes"]
    assert c["kinds"] == ["verdict"] and c["widens"] is False
    assert (c["before"]["verdict"], c["after"]["verdict"]) == ("expected", "unexpected")


def test_renumbered_rules_are_not_a_change():
    # a rule for another port above ours: our rules move down one, nothing else changes
    other = ["-p tcp -m conntrack --ctorigdstport 9999 --ctdir ORIGINAL -j DROP"]
    d = drift(report(), report(user_rules=other))
    assert d["status"] == "unchanged", d["changes"]


@pytest.mark.parametrize("previous, message", [
    ("{not json", "previous: not a JSON host report"),
    ({"host": "n1"}, "previous is not a host report"),
    (42, "previous is not a host report"),
])
def test_bad_previous_reports(previous, message):
    with pytest.raises(ValueError, match=message):
        drift(previous, report())


def test_a_report_of_another_host_is_refused():
    with pytest.raises(ValueError, match="previous report is of host 'n2', not 'n1'"):
        drift(report(host="n2"), report())
