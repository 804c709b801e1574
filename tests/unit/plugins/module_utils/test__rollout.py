# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The safe rollout's comparison: real audits (the engine on the real Docker 20.10 capture
of audit_model) before and after a policy, compared by _rollout."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
from ansible_collections.dockerguard.firewall.plugins.module_utils import _rollout as rollout
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    HOOK_DOCKER_USER, chain_rules, validate)
from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model as lab

# office (10.99.1.1) is expected on 8080; denied (10.250.9.20) is not.
GOOD = [{"name": "web", "ports": [8080], "allow": ["10.99.0.0/16"]}]
# The audit after WRONG passes (only expected sources get in): the rollout still stops,
# because the office lost access it is expected to have.
WRONG = [{"name": "web", "ports": [8080], "allow": ["10.99.200.0/24"]}]  # cuts the office
NARROW = [{"name": "web", "ports": [8080], "allow": ["10.99.1.0/24"]}]  # office kept, 10.99.2.x cut


def policy_result(entries):
    policy = validate(entries, hook=HOOK_DOCKER_USER)
    return {"chain": "DOCKERGUARD", "families": {"ipv4": {"changed": True,
                                                          "rules": chain_rules(policy, "ipv4")}}}


def facts(entries=None):
    base = lab.ruleset(allow_list=False)
    if entries is None:
        return base
    return audit.splice_chain(base, "DOCKERGUARD", policy_result(entries)["families"])


def report(entries=None, docker=None, host="n1"):
    return audit.audit_host(facts(entries), docker or lab.docker(), expected=lab.EXPECTED,
                            sources=lab.SOURCES, host=host)


def test_a_good_policy_is_no_regression():
    assert rollout.regressions(report(), report(GOOD)) == []
    # and neither is keeping it
    assert rollout.regressions(report(GOOD), report(GOOD)) == []


def test_a_policy_that_cuts_an_expected_source_regresses_naming_port_and_source():
    (reg,) = rollout.regressions(report(), report(WRONG))
    assert (reg["host"], reg["port"], reg["interface"], reg["container"]) == ("n1", "8080/tcp", "eth0", "web")
    assert reg["lost_from"] == "10.99.0.0/16 except 10.99.200.0/24"
    assert (reg["before"], reg["after"]) == ("unexpected", "expected")
    (src,) = reg["sources"]
    assert (src["name"], src["address"], src["before"], src["after"]) == ("office", "10.99.1.1", "exposed", "filtered")
    assert "filter/DOCKERGUARD#" in src["path"]
    assert "n1: 8080/tcp on eth0 (container web)" in reg["text"]
    assert "office (10.99.1.1) lost access (exposed -> filtered)" in reg["text"]


def test_losing_part_of_the_expected_sources_regresses_without_a_named_source():
    (reg,) = rollout.regressions(report(GOOD), report(NARROW))
    assert reg["lost_from"] == "10.99.0.0/16 except 10.99.1.0/24"
    assert reg["sources"] == []  # office (10.99.1.1) keeps its access


def test_closing_what_nobody_expected_is_no_regression():
    # the denied client loses access it was not expected to have: that is the point
    before, after = report(), report(GOOD)
    denied_before = [p for p in before["rows"][0]["probes"] if p["source"]["name"] == "denied"][0]
    assert denied_before["verdict"] == "exposed" and not denied_before["allowed"]
    assert rollout.regressions(before, after) == []


def test_a_port_no_longer_published_regresses():
    gone = lab.docker()
    gone["containers"], gone["listeners"] = [], []
    (reg,) = rollout.regressions(report(GOOD), report(GOOD, docker=gone))
    assert reg["after"] == "not published" and "no longer published" in reg["text"]
    assert reg["sources"][0]["after"] == "not published"


def test_a_port_expected_from_nobody_never_regresses():
    before = audit.audit_host(facts(), lab.docker(), expected=[], host="n1")
    after = audit.audit_host(facts(GOOD), lab.docker(), expected=[], host="n1")
    assert rollout.regressions(before, after) == []


def test_batch_regressed_and_failed_hosts():
    ok = {"host": "a", "before": report(host="a"), "after": report(GOOD, host="a")}
    bad = {"host": "b", "before": report(host="b"), "after": report(WRONG, host="b")}
    res = rollout.batch([ok])
    assert not res["regressed"] and res["text"] == "batch a: no regression"
    res = rollout.batch([ok, bad])
    assert res["regressed"] and res["regressed_hosts"] == ["b"]
    assert res["ports"] == ["b 8080/tcp"] and res["sources"] == ["office"]
    assert res["text"].startswith("batch a, b: REGRESSED, put back\n  b: 8080/tcp")
    res = rollout.batch([ok, {"host": "c", "error": "iptables-restore failed"}])
    assert res["regressed"] and res["failed"] == {"c": "iptables-restore failed"}
    assert "c: the policy could not be applied: iptables-restore failed" in res["text"]


@pytest.mark.parametrize("call, message", [
    (lambda: rollout.batch({}), "hosts must be a list"),
    (lambda: rollout.batch([{"before": {}}]), "has no host"),
    (lambda: rollout.batch([{"host": "a", "before": {"rows": []}, "after": None}]),
     "after must be a host's audit report"),
    (lambda: rollout.predict([{"before": {}}]), "is not an exposure_preview result"),
    (lambda: rollout.chain_state([], "X"), "iptables facts must be a dict"),
    (lambda: rollout.report([{"host": "a", "status": "odd"}], ["a"]), "a: status 'odd'"),
])
def test_bad_input_names_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_predict_the_fleet_from_previews():
    good = audit.preview(facts(), lab.docker(), policy_result(GOOD), expected=lab.EXPECTED,
                         sources=lab.SOURCES, host="a")
    wrong = audit.preview(facts(), lab.docker(), policy_result(WRONG), expected=lab.EXPECTED,
                          sources=lab.SOURCES, host="b")
    res = rollout.predict([good, wrong])
    assert res["regressed"] and [r["host"] for r in res["regressions"]] == ["b"]
    assert [(h["host"], h["before"], h["after"], len(h["regressions"])) for h in res["hosts"]] == [
        ("a", "fail", "pass", 0), ("b", "fail", "pass", 1)]
    assert res["text"].splitlines()[:3] == [
        "fleet: the rollout would stop: 1 regression(s) on b",
        "a: FAIL -> PASS, 1 port(s) change",
        "b: FAIL -> PASS, 1 port(s) change, 1 REGRESSION(S)"]
    assert not rollout.predict([good])["regressed"]


def test_chain_state_and_restored():
    none = rollout.chain_state(facts(), "DOCKERGUARD")
    assert none == {"ipv4": {"rules": None, "jumps": 0}, "ipv6": {"rules": None, "jumps": 0}}
    good = rollout.chain_state(facts(GOOD), "DOCKERGUARD")
    assert good["ipv4"]["jumps"] == 1 and good["ipv4"]["rules"][0].startswith("-A DOCKERGUARD ")
    assert rollout.restored(good, rollout.chain_state(facts(GOOD), "DOCKERGUARD"),
                            report(GOOD), report(GOOD)) == []
    diffs = rollout.restored(none, good, report(), report(GOOD))
    assert diffs == ["ipv4: our chain absent, 0 jump(s) before; 6 rules, 1 jump(s) now",
                     "published web 0.0.0.0:8080/tcp on eth0: reachable from 0.0.0.0/0 before, "
                     "10.99.0.0/16 now"]
    # same rules, but a named source's verdict differs (not possible from rules alone: a
    # report from another policy)
    assert rollout.restored(good, good, report(GOOD), report(NARROW))


def test_report_of_a_stopped_rollout():
    reg = rollout.regressions(report(host="a"), report(WRONG, host="a"))
    res = rollout.report([{"host": "a", "status": "regressed", "regressions": reg, "restore": []},
                          {"host": "b", "status": "put back", "restore": ["ipv4: differs"]}],
                         ["a", "b", "c"])
    assert res["status"] == "stopped"
    assert res["counts"]["not started"] == 1 and res["counts"]["regressed"] == 1
    lines = res["text"].splitlines()
    assert lines[0] == "rollout STOPPED: 1 regressed, 1 put back, 1 not started"
    assert "    put back: exactly as before" in lines
    assert "    put back: DIFFERS: ipv4: differs" in lines
    done = rollout.report([{"host": "a", "status": "rolled out"}], ["a"])
    assert done["status"] == "complete" and done["text"] == "rollout complete: 1 rolled out\n  a: rolled out"


def test_a_new_port_that_misses_its_expected_sources_regresses():
    # deploy_host_network: the service (8080) is new, nobody lost access, yet a policy
    # that cuts the office keeps the new service from doing its job.
    gone = lab.docker()
    gone["containers"], gone["listeners"] = [], []
    before = report(docker=gone)
    assert rollout.regressions(before, report(GOOD)) == []
    (reg,) = rollout.regressions(before, report(WRONG))
    assert (reg["host"], reg["port"], reg["interface"], reg["container"]) == ("n1", "8080/tcp", "eth0", "web")
    assert (reg["before"], reg["after"]) == ("not published", "expected")
    (src,) = reg["sources"]
    assert (src["name"], src["address"], src["before"], src["after"]) == ("office", "10.99.1.1", "not published", "filtered")
    assert "filter/DOCKERGUARD#" in src["path"]
    assert "n1: 8080/tcp on eth0 (container web): newly served" in reg["text"]
    assert "office (10.99.1.1) not served (filtered)" in reg["text"]
    # a new port expected from nobody is no regression, whatever reaches it
    nobody = audit.audit_host(facts(), gone, expected=[], host="n1")
    assert rollout.regressions(nobody, audit.audit_host(facts(WRONG), lab.docker(), expected=[], host="n1")) == []


def test_a_p_container_migrated_to_the_hosts_network_is_compared_with_the_new_service():
    # deploy_host_network replaces "web" (-p 8080:80) by web on the host's network: the
    # row's id changes (published -> host-network), the port is the same one.
    from ansible_collections.dockerguard.firewall.plugins.module_utils._host_network import running
    from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import HOOK_INPUT
    moved = running(lab.docker(), "web", [8080])

    def input_facts(entries):
        base = lab.ruleset(allow_list=False)
        nat = base["ipv4"]["tables"]["nat"]["chains"]["DOCKER"]  # Docker drops the DNAT of the old container
        nat["rules"] = [r for r in nat["rules"] if "DNAT" not in r["rule"]]
        rules = chain_rules(validate(entries, hook=HOOK_INPUT), "ipv4")
        return audit.splice_chain(base, "DOCKERGUARD-INPUT", {"ipv4": {"rules": rules}}, parent="INPUT")
    before = report()
    after_good = audit.audit_host(input_facts(GOOD), moved, expected=lab.EXPECTED, sources=lab.SOURCES, host="n1")
    after_wrong = audit.audit_host(input_facts(WRONG), moved, expected=lab.EXPECTED, sources=lab.SOURCES, host="n1")
    assert [r["kind"] for r in after_good["rows"] if r["port"] == "8080/tcp"] == ["host-network"]
    assert rollout.regressions(before, after_good) == []
    (reg,) = rollout.regressions(before, after_wrong)
    assert (reg["port"], reg["before"], reg["after"]) == ("8080/tcp", "unexpected", "expected")
    assert [s["name"] for s in reg["sources"]] == ["office"]
    assert "filter/DOCKERGUARD-INPUT#" in reg["sources"][0]["path"]
