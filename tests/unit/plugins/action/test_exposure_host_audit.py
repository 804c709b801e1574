# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exposure_host_audit's analysis on the controller: the report, its drift from the kept
file, and why a host is not audited (the lab ruleset of audit_model; the module run on a
real host is tested by tests/integration/test_audit_fleet.py)."""

from __future__ import absolute_import, division, print_function

import datetime
import json

import pytest

from ansible.errors import AnsibleConnectionFailure

from ansible_collections.dockerguard.firewall.plugins.action.exposure_host_audit import (
    ActionModule, NotAudited, analyse, failure_reason)
from ansible_collections.dockerguard.firewall.plugins.action.exposure_report_files import host_json

from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model as lab

EXPECTED = [{"name": "web", "ports": [8080], "from": ["10.0.0.0/8"]}]
NOW = datetime.datetime(2026, 11, 30, 6, 0, 0, tzinfo=datetime.timezone.utc)


def params(**kwargs):
    out = {"expected": EXPECTED, "sources": lab.SOURCES, "interfaces": [],
           "fail_on_unknown": False, "previous": None}
    out.update(kwargs)
    return out


def facts(allow_list=True, user_rules=()):
    return {"iptables": lab.ruleset(allow_list=allow_list, user_rules=user_rules),
            "docker_network": lab.docker()}


def test_report_without_previous_has_no_drift():
    report = analyse(facts(), params(), "n1", NOW)
    assert report["host"] == "n1" and report["audited_at"] == "2026-11-30 06:00:00 UTC"
    assert "drift" not in report
    assert report["summary"]["status"] == "pass"
    # as the exposure_audit filter judges it
    assert [r["verdict"] for r in report["rows"]] and all(r["verdict"] in ("expected", "filtered")
                                                          for r in report["rows"])


def test_missing_previous_file_is_a_first_audit(tmp_path):
    report = analyse(facts(), params(previous=str(tmp_path / "n1.json")), "n1", NOW)
    assert report["drift"]["status"] == "first" and report["drift"]["changes"] == []


def test_drift_from_the_kept_report(tmp_path):
    kept = tmp_path / "n1.json"
    kept.write_text(host_json(analyse(facts(), params(), "n1", NOW)))
    same = analyse(facts(), params(previous=str(kept)), "n1", NOW)
    assert same["drift"]["status"] == "unchanged"
    # the allow-list dropped: 8080 is open to everyone now
    wider = analyse(facts(allow_list=False), params(previous=str(kept)), "n1", NOW)
    assert wider["drift"]["status"] == "changed" and wider["drift"]["widened"] is True
    assert wider["drift"]["previous_time"] == "2026-11-30 06:00:00 UTC"
    assert {c["port"] for c in wider["drift"]["changes"]} == {"8080/tcp"}


@pytest.mark.parametrize("bad, reason", [
    ({"iptables": None, "docker_network": {}}, "no iptables and docker_network facts"),
    ({}, "no iptables and docker_network facts"),
])
def test_missing_facts_are_not_audited(bad, reason):
    with pytest.raises(NotAudited, match=reason):
        analyse(bad, params(), "n1", NOW)


def test_bad_expected_is_not_audited_naming_the_value():
    with pytest.raises(NotAudited, match=r"exposure_audit: .*10\.0\.0\.0/33"):
        analyse(facts(), params(expected=[{"ports": [8080], "from": ["10.0.0.0/33"]}]), "n1", NOW)


def test_kept_report_of_another_host_or_not_json_is_not_audited(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(host_json(analyse(facts(), params(), "n2", NOW)))
    with pytest.raises(NotAudited, match="exposure_drift: .*host 'n2', not 'n1'"):
        analyse(facts(), params(previous=str(other)), "n1", NOW)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(NotAudited, match="exposure_drift: .*not a JSON host report"):
        analyse(facts(), params(previous=str(broken)), "n1", NOW)
    assert json.loads(other.read_text())["host"] == "n2"  # read, never written


def test_failure_reason_says_what_the_host_said():
    # a container that does not exist, through community.docker.docker with pipelining
    failed = {"failed": True, "msg": "Module result deserialization failed: No start of json char found",
              "module_stdout": "", "module_stderr": "Error response from daemon: No such container: gone1\n"}
    assert failure_reason(failed) == ("Module result deserialization failed: No start of json char "
                                      "found (Error response from daemon: No such container: gone1)")
    # the module's own message is enough
    assert failure_reason({"failed": True, "msg": "Cannot connect to Docker"}) == "Cannot connect to Docker"
    assert failure_reason({"failed": True, "msg": "boom: x", "module_stderr": "x\n"}) == "boom: x"
    assert failure_reason({"failed": True}) == "dockerguard.firewall.exposure_facts failed"


class _Shell(object):
    tmpdir = "/root/.ansible/tmp/ansible-tmp-1-1"


class _Connection(object):
    _shell = _Shell()


def _action(execute, remove):
    action = ActionModule.__new__(ActionModule)  # only what _gather uses
    action._connection = _Connection()
    action._execute_module = execute
    action._remove_tmp_path = remove
    return action


def test_host_lost_during_the_module_run_is_not_audited_with_the_first_error():
    def lost(**_kwargs):
        raise AnsibleConnectionFailure("ssh: connect to host web1 port 22: Connection refused")

    def gone(_path):
        raise AnsibleConnectionFailure("ssh: connect to host web1 port 22: No route to host")
    with pytest.raises(NotAudited, match=r"^unreachable: ssh: connect to host web1 port 22: Connection refused"):
        _action(lost, gone)._gather({"gather_options": {}}, {}, {})


def test_facts_kept_when_only_the_cleanup_fails():
    def gathered(**_kwargs):
        return {"ansible_facts": {"iptables": {}}, "warnings": ["ipv6: no ip6tables-save"]}

    def gone(_path):
        raise AnsibleConnectionFailure("gone")
    result = {}
    assert _action(gathered, gone)._gather({"gather_options": {}}, {}, result) == {"iptables": {}}
    assert result["warnings"] == ["ipv6: no ip6tables-save"]
