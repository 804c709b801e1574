"""The one policy transaction (read -> plan -> apply -> confirm -> read-back) against
the stateful stand-in for iptables of test__saved_policy (pure logic; the real kernel
runs it in tests/integration)."""
import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import validate
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy_transaction import (
    ApplyError, apply_policy)

from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils.test__saved_policy import (
    Kernel, Runner)

POLICY = validate([{"name": "web", "ports": [8080], "allow": ["10.250.9.10/32"]}],
                  chain="DG", hook="INPUT", ssh_sources=[])


def test_check_mode_plans_without_writing_then_apply_and_idempotence():
    k = Kernel()
    res = apply_policy(Runner(k), POLICY, ["ipv4"], check_mode=True, check_backend=False)
    assert res.changed and not res.applied and not k.restores
    res = apply_policy(Runner(k), POLICY, ["ipv4"], check_backend=False)
    assert res.applied == ["ipv4"] and k.chains["INPUT"][0] == "-j DG"
    assert k.chains["DG"] == res.plans[0].after
    res = apply_policy(Runner(k), POLICY, ["ipv4"], check_backend=False)
    assert not res.changed and len(k.restores) == 1


class Unconfirmed:
    """A rollback timer whose controller never confirms: it runs its undo commands."""

    def __init__(self, kernel, gone=False):
        self.kernel, self.gone, self.undo, self.disarmed = kernel, gone, None, False

    def arm(self, undo, fds):
        self.undo = undo

    def disarm(self):
        self.disarmed = True

    def wait(self):
        if self.gone:
            return None, ["the rollback timer ended without a verdict"]
        for argv, payload in self.undo:
            assert self.kernel(argv, payload)[0] == 0
        return False, []


@pytest.mark.parametrize("gone", [False, True])
def test_unconfirmed_change_is_undone_and_reported(gone):
    k = Kernel()
    before = dict(k.chains)
    timer = Unconfirmed(k, gone)
    with pytest.raises(ApplyError, match="rolled back") as exc:
        apply_policy(Runner(k), POLICY, ["ipv4"], check_backend=False, confirm=timer)
    assert exc.value.details == {"rolled_back": True}
    assert k.chains == before and not timer.disarmed


def test_a_refused_apply_disarms_the_timer():
    k = Kernel(fail_restore=True)
    timer = Unconfirmed(k)
    with pytest.raises(ApplyError):
        apply_policy(Runner(k), POLICY, ["ipv4"], check_backend=False, confirm=timer)
    assert timer.disarmed


class Drifting(Kernel):
    """A kernel that holds something else than what was written (a read-back mismatch)."""

    def restore(self, payload, test):
        super().restore(payload, test)
        if not test and "DG" in self.chains:
            self.chains["DG"] = self.chains["DG"][:-1]


def test_a_read_back_mismatch_is_rolled_back_and_names_both_sides():
    k = Drifting()
    before = dict(k.chains)
    with pytest.raises(ApplyError, match="differs from what was written.*ipv4 put back") as exc:
        apply_policy(Runner(k), POLICY, ["ipv4"], check_backend=False)
    assert exc.value.details["wanted"][:-1] == exc.value.details["found"]
    assert exc.value.details["rolled_back"] is True and k.chains == before


def test_missing_parent_is_refused_before_anything_is_written():
    k = Kernel(chains={"FORWARD": []})
    with pytest.raises(ApplyError, match="INPUT does not exist for ipv4: nothing changed"):
        apply_policy(Runner(k), POLICY, ["ipv4"], check_backend=False)
    assert not k.restores
