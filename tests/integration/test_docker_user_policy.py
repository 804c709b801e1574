"""docker_user_policy against real iptables in a network namespace of the test's own.

Docker-like chains are loaded first; every case compares the kernel's iptables-save
before and after, so what the module leaves alone is proven untouched.
"""
import json

import pytest

from ansible_run import playbook
from tests.lab.netns import can_use_netns, namespace, sh

pytestmark = pytest.mark.skipif(bool(can_use_netns()), reason=str(can_use_netns()))

DOCKER_V4 = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -j DOCKER
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-USER -s 10.250.7.0/24 -m comment --comment "someone else's rule" -j DROP
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
"""
DOCKER_V6 = "*filter\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n"

POLICY = {"entries": [{"name": "web", "ports": [8080],
                       "allow": ["10.250.0.0/24", "10.250.1.10", "fd00:250::/64"]}],
          "default": "deny"}


def run(ns, args, extra=(), check=True):
    tasks = ("    - name: Apply\n"
             "      dockerguard.firewall.docker_user_policy: %s\n"
             "      register: out\n"
             "      ignore_errors: true\n" % json.dumps(args))
    rc, data, log = playbook(tasks, ns=ns, extra_args=extra, check=check)
    return data, log


def saved(ns, cmd="iptables-save"):
    return "\n".join(l for l in sh(cmd, ns=ns).splitlines() if not l.startswith("#"))


def without_ours(text, chain="DOCKERGUARD"):
    return "\n".join(l for l in text.splitlines()
                     if chain not in l)


@pytest.fixture()
def ns():
    with namespace("dg-it-pol") as name:
        sh("iptables-restore", ns=name, input=DOCKER_V4)
        sh("ip6tables-restore", ns=name, input=DOCKER_V6)
        yield name


@pytest.mark.smoke
def test_apply_is_exact_idempotent_and_leaves_the_rest_alone(ns):
    before4, before6 = saved(ns), saved(ns, "ip6tables-save")
    out, log = run(ns, POLICY, extra=["--diff"])
    assert out["changed"] is True and not out.get("failed"), out
    after4 = saved(ns)
    user = [l for l in after4.splitlines() if l.startswith("-A DOCKER-USER")]
    assert user == ["-A DOCKER-USER -j DOCKERGUARD",
                    # iptables-save escapes the quote: \\'
                    "-A DOCKER-USER -s 10.250.7.0/24 -m comment --comment \"someone else\\'s rule\" -j DROP",
                    "-A DOCKER-USER -j RETURN"]
    ours = [l[len("-A DOCKERGUARD "):] for l in after4.splitlines() if l.startswith("-A DOCKERGUARD ")]
    assert ours == out["families"]["ipv4"]["rules"]
    assert without_ours(after4) == without_ours(before4)  # Docker's chains untouched
    assert without_ours(saved(ns, "ip6tables-save")) == without_ours(before6)
    assert "-s fd00:250::/64" in saved(ns, "ip6tables-save")
    assert "+-A DOCKERGUARD -s 10.250.1.10/32" in log  # the diff is shown

    again = run(ns, POLICY)[0]
    assert again["changed"] is False
    assert saved(ns) == after4


def test_check_mode_reports_without_writing(ns):
    before = saved(ns)
    out, log = run(ns, POLICY, extra=["--check", "--diff"])
    assert out["changed"] is True and out["families"]["ipv4"]["changed"] is True
    assert saved(ns) == before
    assert "+-A DOCKER-USER -j DOCKERGUARD" in log


@pytest.mark.parametrize("entry, named", [
    ({"ports": [8080], "allow": ["10.0.0.0/33"]}, "10.0.0.0/33"),
    ({"ports": [70000], "allow": ["10.0.0.0/8"]}, "70000"),
    ({"ports": [8080], "allow": ["10.0.0.0/8"], "protocol": "tcpp"}, "tcpp"),
    ({"ports": [8080], "allow": ["10.0.0.0/8"], "interfaces": ["eth0 eth1"]}, "eth0 eth1"),
    ({"ports": [8080], "allow": []}, "empty allow list"),
])
def test_bad_input_changes_nothing_and_names_the_value(ns, entry, named):
    run(ns, POLICY)  # a policy in place: a bad update must not disturb it
    before4, before6 = saved(ns), saved(ns, "ip6tables-save")
    out = run(ns, {"entries": [entry]})[0]
    assert out["failed"] is True and named in out["msg"], out["msg"]
    assert saved(ns) == before4 and saved(ns, "ip6tables-save") == before6


def test_absent_removes_only_ours(ns):
    original = saved(ns)
    run(ns, POLICY)
    out = run(ns, {"state": "absent"})[0]
    assert out["changed"] is True
    assert saved(ns) == original
    assert run(ns, {"state": "absent"})[0]["changed"] is False


def test_jump_pushed_down_is_moved_back_to_the_top(ns):
    run(ns, POLICY)
    sh("iptables", "-I", "DOCKER-USER", "1", "-s", "10.250.9.0/24", "-j", "RETURN", ns=ns)
    out = run(ns, POLICY)[0]
    assert out["changed"] is True and out["families"]["ipv4"]["changed"] is True
    assert out["families"]["ipv6"]["changed"] is False
    user = [l for l in saved(ns).splitlines() if l.startswith("-A DOCKER-USER")]
    assert user[:2] == ["-A DOCKER-USER -j DOCKERGUARD", "-A DOCKER-USER -s 10.250.9.0/24 -j RETURN"]
    assert user.count("-A DOCKER-USER -j DOCKERGUARD") == 1


def test_missing_docker_user():
    with namespace("dg-it-pol") as name:
        sh("ip6tables", "-N", "DOCKER-USER", ns=name)
        out = run(name, POLICY)[0]
        assert out["failed"] is True and "DOCKER-USER does not exist for ipv4" in out["msg"]
        assert "DOCKERGUARD" not in saved(name) + saved(name, "ip6tables-save")
        # At boot, before Docker: create it (and only then).
        out = run(name, dict(POLICY, create_docker_user=True))[0]
        assert out["changed"] is True
        assert "-A DOCKER-USER -j DOCKERGUARD" in saved(name)
        assert run(name, dict(POLICY, create_docker_user=True))[0]["changed"] is False


def test_ipv6_without_docker_user_is_skipped_with_a_warning():
    with namespace("dg-it-pol") as name:
        sh("iptables-restore", ns=name, input=DOCKER_V4)
        out, log = run(name, POLICY)
        assert out["changed"] is True
        assert "DOCKER-USER does not exist for ipv6" in out["families"]["ipv6"]["skipped"]
        assert "DOCKER-USER does not exist for ipv6" in log
        assert "DOCKERGUARD" not in saved(name, "ip6tables-save")
