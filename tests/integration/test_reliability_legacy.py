# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reliability cases of issue 8 on a real node with the legacy backend (docs/reliability.md).

One lab node (Debian forky: Docker 28.5, ip6tables on) whose iptables alternative is
set to ``iptables-legacy`` before its dockerd starts, so Docker and the modules write
the legacy tables, which serialise writers with the xtables lock (/run/xtables.lock).
Inside the node, ``web`` publishes 8080 and 9090 (restart policy). The node sits on a
user-defined network of the outer engine, which writes its embedded-DNS nat rules
(DOCKER_OUTPUT, DOCKER_POSTROUTING) into the node's nf_tables: not Docker's chains of
this node, which the backend check must tell apart.

Cases: the xtables lock held (4), the backend mismatch both ways (12), concurrent
Docker writers under the lock (5), dockerd restart on the legacy backend (1).
"""

from __future__ import absolute_import, division, print_function

import time

import pytest

from tests.lab import reliability as rl
from tests.lab.engine import wait_for
from tests.lab.probe import ProbeLoop

IMAGE = "node-forky:local"
CHAIN, JUMP = "DOCKERGUARD", "-A DOCKER-USER -j DOCKERGUARD"
MODULE = "dockerguard.firewall.docker_user_policy"
LOCK = "/run/xtables.lock"
# A stand-in for ip6tables-restore that lets another writer take the xtables lock just
# before the real (not --test) IPv6 apply, i.e. after IPv4 was written: fault injection
# through the alternatives link the module resolves /usr/sbin/ip6tables-restore by.
INJECT = """#!/bin/sh
case " $* " in *" --test "*) ;; *)
  (exec flock -o /run/xtables.lock sleep {hold}) &
  while flock -n /run/xtables.lock true; do sleep 0.02; done ;;
esac
exec /usr/sbin/ip6tables-legacy-restore "$@"
"""


@pytest.fixture(scope="module")
def node():
    why = rl.preflight([IMAGE])
    if why:
        pytest.skip(why)
    lab = rl.Lab("legacy", IMAGE, legacy=True)
    try:
        lab.start()
        lab.docker("run", "--detach", "--restart=always", "--stop-timeout=1", "--name=web",
                   "-p", "8080:80", "-p", "9090:80", *rl.WEB)
        lab.wait_published(["web"], [8080, 9090])
        yield lab
    finally:
        lab.stop_helpers()
        lab.cleanup()


def policy(lab, **overrides):
    args = {"entries": [{"name": "web", "ports": [8080],
                         "allow": [lab.clients["allowed"]["ipv4"], lab.clients["allowed"]["ipv6"]]}]}
    args.update(overrides)
    return args


WANT = {("allowed", 8080, "ipv4"): True, ("denied", 8080, "ipv4"): False,
        ("denied", 9090, "ipv4"): True}


def apply(lab, args):
    res = lab.module(MODULE, args)
    assert not res.get("failed"), res.get("msg")
    return res


def everything(lab):
    """Both families in both backends: nothing may change where a test says so."""
    out = {}
    for backend in ("legacy", "nft"):
        for family, lines in lab.saves(tool="%s-" + backend + "-save").items():
            out[backend + "/" + family] = lines
    return out


def hold_lock(lab, seconds):
    pid = lab.background("exec flock -o %s sleep %d" % (LOCK, seconds))
    wait_for(lambda: lab.sh("flock -n %s true || echo held" % LOCK,
                            check=False).strip() == "held",
             timeout=10, what="the lock holder")
    return pid


def check_probes(lab, want):
    wrong = lab.probes(want)
    assert not wrong, "\n".join(wrong)


def test_legacy_backend_is_recognised_and_the_policy_applied(node):
    assert "(legacy)" in node.sh("iptables --version")
    assert ":DOCKER-USER " in node.sh("iptables-legacy-save -t filter")
    assert ":DOCKER-USER " in node.sh("ip6tables-legacy-save -t filter")
    # the outer engine's embedded DNS rules are in nf_tables: not this node's Docker
    assert ":DOCKER_OUTPUT " in node.sh("iptables-nft-save -t nat")
    res = apply(node, policy(node))
    assert res["changed"] is True
    assert [res["families"][f]["changed"] for f in ("ipv4", "ipv6")] == [True, True]
    check_probes(node, WANT)


def test_case4_lock_held_apply_waits_then_fails_cleanly(node):
    apply(node, policy(node))
    before = everything(node)
    pid = hold_lock(node, 120)
    try:
        started = time.time()
        res = node.module(MODULE, policy(node, action="reject", wait=2))
        took = time.time() - started
    finally:
        node.stop(pid)
    assert res.get("failed") is True and res["changed"] is False, res
    assert "xtables lock" in res["msg"] and "Stopped waiting after 2s" in res["msg"], res["msg"]
    assert 2 <= took < 15, took
    print("case 4 (legacy): lock held, failed after %.1fs: %s" % (took, res["msg"]))
    assert everything(node) == before
    check_probes(node, WANT)


def test_case4_lock_released_within_wait_apply_succeeds(node):
    apply(node, policy(node))
    started = time.time()
    pid = hold_lock(node, 4)
    try:
        res = apply(node, policy(node, action="reject", wait=15))
    finally:
        node.stop(pid)
    assert res["changed"] is True
    assert time.time() - started >= 4   # it could not finish before the holder let go
    assert '--comment "dockerguard: web deny" -j REJECT --reject-with tcp-reset' in node.sh(
        "iptables-save -t filter")
    apply(node, policy(node))


def test_case4_lock_taken_between_families_nothing_half_applied(node):
    apply(node, policy(node))
    before = everything(node)
    node.sh("cat > /usr/local/sbin/dg-rel-inject <<'EOF'\n%sEOF\nchmod 755 /usr/local/sbin/dg-rel-inject"
            % INJECT.format(hold=6))
    node.sh("ln -sf /usr/local/sbin/dg-rel-inject /etc/alternatives/ip6tables-restore")
    try:
        res = node.module(MODULE, policy(node, action="reject", wait=2))
    finally:
        node.sh("ln -sf /usr/sbin/ip6tables-legacy-restore /etc/alternatives/ip6tables-restore")
    assert res.get("failed") is True and res["changed"] is False, res
    assert "refused the ipv6 change" in res["msg"] and "xtables lock" in res["msg"], res["msg"]
    # IPv4 had been written; it was put back (waiting for the lock longer than `wait`)
    assert "(nothing changed: ipv4 put back)" in res["msg"], res["msg"]
    print("case 4 (legacy, lock taken between families): %s" % res["msg"])
    assert everything(node) == before
    check_probes(node, WANT)


def test_case12_nft_iptables_command_while_docker_uses_legacy_is_refused(node):
    apply(node, policy(node))
    before = everything(node)
    node.sh("update-alternatives --set iptables /usr/sbin/iptables-nft >/dev/null && "
            "update-alternatives --set ip6tables /usr/sbin/ip6tables-nft >/dev/null")
    try:
        res = node.module(MODULE, policy(node, action="reject"))
    finally:
        node.sh("update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null && "
                "update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null")
    assert res.get("failed") is True and res["changed"] is False, res
    assert "in the legacy iptables backend" in res["msg"] and "uses nf_tables" in res["msg"], res
    print("case 12 (legacy -> nft command): %s" % res["msg"])
    assert everything(node) == before


def test_case12_docker_chains_in_both_backends_is_refused(node):
    apply(node, policy(node))
    node.sh("iptables-nft -N DOCKER-USER")   # a leftover of an earlier Docker on nf_tables
    try:
        before = everything(node)
        res = node.module(MODULE, policy(node, action="reject"))
        assert res.get("failed") is True and res["changed"] is False, res
        assert "both the nf_tables and the legacy" in res["msg"], res["msg"]
        print("case 12 (both backends): %s" % res["msg"])
        assert everything(node) == before
    finally:
        node.sh("iptables-nft -X DOCKER-USER")
    assert apply(node, policy(node))["changed"] is False


def test_case5_concurrent_docker_writers_under_the_lock(node):
    apply(node, policy(node))
    wanted = node.saves()
    foreign = node.add_foreign()
    before = node.saves()
    alternate = policy(node, default="deny", action="reject")
    results, rounds = node.churn_while(MODULE, [alternate, policy(node), alternate, policy(node)])
    assert not [r["msg"] for r in results if r.get("failed")], results
    assert rounds >= 2, "the churn loop ran %d times only" % rounds
    print("case 5 (legacy): %d applies, %d churn rounds meanwhile, all ok" % (len(results), rounds))
    after = node.saves()
    for family in ("ipv4", "ipv6"):
        assert rl.ours(after[family]) == rl.ours(wanted[family]), family
        user = rl.chain_rules(after[family], "DOCKER-USER")
        assert user[0] == JUMP and user.count(JUMP) == 1 and user.count(foreign[family]) == 1, user
        assert rl.not_ours(after[family]) == rl.not_ours(before[family]), family
    check_probes(node, WANT)
    node.remove_foreign()


def test_case1_dockerd_restart_on_legacy_keeps_chain_and_jump(node):
    apply(node, policy(node))
    before = node.saves()
    loop = ProbeLoop(node.clients["denied"]["name"], node.address4, 8080)
    with loop:
        node.restart_dockerd()
        node.wait_published(["web"], [8080, 9090])
    assert not loop.reached, loop.reached
    assert len(loop.results) >= 3, loop.results
    print("case 1 (legacy): %d denied probes during the restart, none served" % len(loop.results))
    after = node.saves()
    for family in ("ipv4", "ipv6"):
        assert rl.ours(after[family]) == rl.ours(before[family]), family
        assert rl.chain_rules(after[family], "DOCKER-USER")[:1] == [JUMP]
    assert apply(node, policy(node))["changed"] is False
    check_probes(node, WANT)
