"""Plan/apply/rollback logic with a recording stand-in for iptables (pure logic; the
real kernel is exercised in tests/integration/test_docker_user_policy.py)."""
import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils._chain_apply import (
    UNDO_WAIT, ApplyError, FamilyPlan, apply_plans, undo_wait)

SAVED = {
    "ipv4": "*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\n:DG - [0:0]\n"
            "-A DOCKER-USER -s 10.250.7.0/24 -j DROP\n-A DOCKER-USER -j DG\n"
            "-A DG -j RETURN\nCOMMIT\n",
    "ipv6": "*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\nCOMMIT\n",
}


class Kernel:
    """Records restore calls; fails the ones a test asks to fail."""

    def __init__(self, fail=()):
        self.calls, self.fail = [], set(fail)

    def __call__(self, argv, data=None):
        tool = argv[0]
        if tool.endswith("-save"):
            return 0, SAVED["ipv6" if tool.startswith("ip6") else "ipv4"], ""
        test = "--test" in argv
        self.calls.append((tool, test, data))
        if (tool, test) in self.fail:
            return 2, "", "iptables-restore: line 3 failed"
        return 0, "", ""


def plans(kernel, after=("-j DROP",)):
    out = []
    for family, tools in (("ipv4", ("iptables-save", "iptables-restore")),
                          ("ipv6", ("ip6tables-save", "ip6tables-restore"))):
        p = FamilyPlan(family, "DG", "DOCKER-USER")
        p.save, p.restore = tools
        p.read(kernel)
        p.after = list(after) if after is not None else None
        out.append(p)
    return out


def test_read_finds_our_chain_and_a_jump_that_is_not_first():
    v4, v6 = plans(Kernel())
    assert v4.before == ["-j RETURN"] and v4.jump_count == 1 and v4.jump_first is False
    assert v6.before is None and v6.jump_count == 0 and v6.parent_exists


def test_everything_is_tested_before_anything_is_applied():
    k = Kernel()
    assert apply_plans(k, plans(k)) == ["ipv4", "ipv6"]
    assert [call[:2] for call in k.calls] == [
        ("iptables-restore", True), ("ip6tables-restore", True),
        ("iptables-restore", False), ("ip6tables-restore", False)]
    v4_payload = k.calls[2][2]
    assert v4_payload == ("*filter\n:DG - [0:0]\n-A DG -j DROP\n-D DOCKER-USER -j DG\n"
                          "-I DOCKER-USER 1 -j DG\nCOMMIT\n")


def test_a_failing_test_changes_nothing():
    k = Kernel(fail={("ip6tables-restore", True)})
    with pytest.raises(ApplyError, match="--test refused the ipv6 change"):
        apply_plans(k, plans(k))
    assert all(call[1] for call in k.calls)


def test_ipv6_failing_after_ipv4_puts_ipv4_back():
    k = Kernel(fail={("ip6tables-restore", False)})
    with pytest.raises(ApplyError, match="nothing changed: ipv4 put back"):
        apply_plans(k, plans(k))
    undo = k.calls[-1]
    assert undo[0] == "iptables-restore" and not undo[1]
    # The old chain content comes back, with the jump exactly where it was (2nd).
    assert undo[2] == ("*filter\n-D DOCKER-USER -j DG\n:DG - [0:0]\n-A DG -j RETURN\n"
                       "-I DOCKER-USER 2 -j DG\nCOMMIT\n")


def test_absent_removes_jump_and_chain_and_skips_families_without_it():
    k = Kernel()
    ps = plans(k, after=None)
    assert [p.changed for p in ps] == [True, False]
    assert apply_plans(k, ps) == ["ipv4"]
    assert k.calls[-1][2] == "*filter\n-D DOCKER-USER -j DG\n-F DG\n-X DG\nCOMMIT\n"


def test_unchanged_plans_run_nothing():
    k = Kernel()
    ps = plans(k, after=("-j RETURN",))
    ps[0].jump_first = True
    ps[1].skipped = "no ip6tables"
    assert apply_plans(k, ps) == [] and k.calls == []


def test_the_lock_wait_is_passed_to_iptables_restore():
    seen = []

    def run(argv, data=None):
        seen.append(argv)
        if argv[0].endswith("-save"):
            return 0, SAVED["ipv6" if argv[0].startswith("ip6") else "ipv4"], ""
        if argv[0] == "ip6tables-restore" and "--test" not in argv:
            return 4, "", "Another app is currently holding the xtables lock"
        return 0, "", ""
    with pytest.raises(ApplyError, match="xtables lock"):
        apply_plans(run, plans(run), wait=3)
    restores = [a for a in seen if a[0].endswith("-restore")]
    assert [a for a in restores if "--test" not in a][0][2] == "--wait=3"
    # putting IPv4 back waits longer for the lock than the apply did
    assert restores[-1][:3] == ["iptables-restore", "--noflush", "--wait=%d" % UNDO_WAIT]
    assert undo_wait(60) == 60


def test_canonical_equates_the_spellings_iptables_prints_back():
    from ansible_collections.dockerguard.firewall.plugins.module_utils._chain_apply import (
        canonical, same_rules)
    written = ["-s 0.0.0.0/0 -i + -p tcp -m tcp --dport 22 -j RETURN",
               "-s ::ffff:10.0.0.1/128 -j RETURN", "-s 10.0.0.1 -j RETURN"]
    printed = ["-p tcp -m tcp --dport 22 -j RETURN", "-s ::ffff:a00:1/128 -j RETURN",
               "-s 10.0.0.1/32 -j RETURN"]
    assert same_rules(printed, written, "ipv6")
    assert canonical(["! -s 0.0.0.0/0 -j DROP"], "ipv4") != canonical(["-j DROP"], "ipv4")
    assert not same_rules(["-s 10.0.0.2/32 -j RETURN"], ["-s 10.0.0.1/32 -j RETURN"], "ipv4")
    assert canonical(None, "ipv4") is None and not same_rules(None, [], "ipv4")
