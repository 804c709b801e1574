"""Reliability II (issue 13): the failures adversarial testing found, on real iptables
in network namespaces of the test's own, through a real ansible-playbook.

Each test names the class of issue 13 it proves; each failed on the code before its fix
(docs/reliability.md, "Reliability II").
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from unittest import mock

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils._chain_apply import (
    FamilyPlan, apply_plans, restore)
from ansible_run import COLLECTIONS, playbook
from tests.lab.netns import can_use_netns, namespace, sh
from test_docker_user_policy import DOCKER_V4, DOCKER_V6

pytestmark = pytest.mark.skipif(bool(can_use_netns()), reason=str(can_use_netns()))

INPUT_V6 = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"
POLICY_A = {"entries": [{"name": "web", "ports": [8080],
                         "allow": ["10.250.0.0/24", "fd00:250::/64"]}]}


def module(ns, name, args, extra=(), wrap=()):
    tasks = ("    - name: Apply\n"
             "      dockerguard.firewall.%s: %s\n"
             "      register: out\n"
             "      ignore_errors: true\n" % (name, json.dumps(args)))
    rc, data, log = playbook(tasks, ns=ns, extra_args=extra, wrap=wrap)
    return data, log


def saves(ns):
    """iptables-save and ip6tables-save, comments about the save time dropped."""
    return tuple("\n".join(l for l in sh(cmd, ns=ns).splitlines() if not l.startswith("#"))
                 for cmd in ("iptables-save", "ip6tables-save"))


def ours(ns, chain, cmd="iptables-save"):
    return [l for l in sh(cmd, ns=ns).splitlines()
            if l.startswith("-A %s " % chain) or l.endswith("-j %s" % chain)]


# Runs a command with some of /etc/alternatives pointing elsewhere, in a mount
# namespace of its own (a tmpfs copy over /etc/alternatives; the host's is untouched):
# how a host whose iptables alternative points at legacy, or a slowed-down tool, is made
# for the modules whatever way they look their tools up.
ALTERNATIVES = r"""
set -e
keep=$(mktemp -d)
cp -a /etc/alternatives/. "$keep"/
mount -t tmpfs dg-alternatives /etc/alternatives
cp -a "$keep"/. /etc/alternatives/
rm -rf "$keep"
while [ "$1" != "--" ]; do ln -sfn "${1#*=}" "/etc/alternatives/${1%%=*}"; shift; done
shift
exec "$@"
"""


def alternatives(**targets):
    """``wrap`` for ansible_run.playbook: alternatives NAME -> target path."""
    pairs = ["%s=%s" % (name.replace("_", "-"), path) for name, path in sorted(targets.items())]
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", ALTERNATIVES, "sh"] + pairs + ["--"]


@pytest.fixture()
def ns():
    with namespace("dg-it-rel2") as name:
        sh("iptables-restore", ns=name, input=DOCKER_V4)
        sh("ip6tables-restore", ns=name, input=DOCKER_V6)
        yield name


# -- class 1: equivalent spellings and the read-back -------------------------------------

SPELLINGS = {"entries": [
    {"name": "pub", "ports": [443], "allow": ["0.0.0.0/0", "::/0"]},       # the module's EXAMPLE
    {"name": "mapped", "ports": [8443], "allow": ["::ffff:10.250.0.1", "10.250.0.1"]},
    {"name": "any-if", "ports": [9443], "allow": ["10.250.0.0/24"], "interfaces": ["+"]},
]}


def test_class1_allow_everyone_and_equivalent_spellings_apply_once(ns):
    out, log = module(ns, "docker_user_policy", SPELLINGS)
    assert not out.get("failed") and out["changed"] is True, out
    v4, v6 = ours(ns, "DOCKERGUARD"), ours(ns, "DOCKERGUARD", "ip6tables-save")
    # what iptables prints back: no -s for everyone, no -i +, the mapped address as it likes
    assert any("--ctorigdstport 443 " in l and "-s " not in l and "-j RETURN" in l for l in v4), v4
    assert any("--ctorigdstport 443 " in l and "-s " not in l and "-j RETURN" in l for l in v6), v6
    assert not any("-i +" in l for l in v4 + v6)
    assert any("::ffff:" in l and "8443" in l for l in v6), v6
    state = saves(ns)
    again, log = module(ns, "docker_user_policy", SPELLINGS)
    assert not again.get("failed") and again["changed"] is False, again
    assert saves(ns) == state


def test_class1_host_input_ssh_from_everyone_applies_once():
    with namespace("dg-it-rel2") as name:
        sh("ip6tables-restore", ns=name, input=INPUT_V6)
        args = {"entries": [{"name": "web", "ports": [8080], "allow": ["0.0.0.0/0"]}],
                "ssh_sources": ["0.0.0.0/0", "::/0"]}
        out, log = module(name, "host_input_policy", args)
        assert not out.get("failed") and out["changed"] is True, out
        assert any("--dport 22 " in l and "-s " not in l for l in ours(name, "DOCKERGUARD-INPUT"))
        again, log = module(name, "host_input_policy", args)
        assert not again.get("failed") and again["changed"] is False, again


# A rendering the kernel prints back differently in a way that changes the rule's
# spelling as the parser sees it (a port written "0007": iptables prints 7):
# stands for any rendering bug. Through the one transaction the modules and the boot
# program share, on the real kernel.
MISMATCH = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.dockerguard.firewall.plugins.module_utils import _policy_transaction as t
from ansible_collections.dockerguard.firewall.plugins.module_utils._cmd_runner import CmdRunner
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import validate
real = t.chain_rules
t.chain_rules = lambda policy, family: real(policy, family) + (
    ["-p tcp -m tcp --dport 0007 -j DROP"] if family == "ipv6" else [])
policy = validate([{"name": "web", "ports": [8080], "allow": ["10.250.0.0/24", "fd00:250::/64"]}])
try:
    t.apply_policy(CmdRunner(), policy, ["ipv4", "ipv6"], check_backend=False)
    print(json.dumps({"ok": True}))
except t.ApplyError as exc:
    print(json.dumps({"error": str(exc), "details": exc.details}))
"""


def test_class1_a_read_back_mismatch_puts_both_families_back(ns):
    module(ns, "docker_user_policy", {"entries": [{"name": "old", "ports": [9999],
                                                   "allow": ["10.250.9.0/24"]}]})
    before = saves(ns)
    out = json.loads(sh(sys.executable, "-c", MISMATCH, COLLECTIONS, ns=ns))
    assert "error" in out, out
    assert "differs from what was written" in out["error"], out
    assert "ipv4, ipv6 put back" in out["error"] and out["details"]["rolled_back"] is True, out
    assert saves(ns) == before


# -- class 4: concurrent runs end in one complete state ------------------------------------

def policy_for(port):
    return {"entries": [{"name": "p%d" % port, "ports": [port],
                         "allow": ["10.250.%d.0/24" % (port % 250), "fd00:250::%x/128" % port]}],
            "default": "deny"}


# A slow, jittery IPv6 restore (as a busy host has): each run sleeps 0-0.9 s before its
# real ip6tables-restore, so unserialised runs interleave between their families.
SLOW_RESTORE = "#!/bin/sh\nsleep 0.$(od -An -N1 -tu1 /dev/urandom | tr -dc 0-9 | cut -c1)\n" \
               "exec /usr/sbin/ip6tables-nft-restore \"$@\"\n"


def test_class4_concurrent_runs_end_in_one_complete_policy(ns, tmp_path):
    slow = tmp_path / "ip6tables-restore"
    slow.write_text(SLOW_RESTORE)
    slow.chmod(0o755)
    wrap = alternatives(ip6tables_restore=str(slow))
    runs = 12
    policies = [policy_for(8001), policy_for(8002)]
    jobs = ["    - name: Apply\n"
            "      dockerguard.firewall.docker_user_policy: %s\n"
            "      register: out\n"
            "      ignore_errors: true\n" % json.dumps(policies[k % 2]) for k in range(runs)]
    with concurrent.futures.ThreadPoolExecutor(runs) as pool:
        results = list(pool.map(lambda t: playbook(t, ns=ns, check=False, wrap=wrap), jobs))
    failed = [data or log for rc, data, log in results if not data or data.get("failed")]
    assert not failed, failed
    v4, v6 = ours(ns, "DOCKERGUARD"), ours(ns, "DOCKERGUARD", "ip6tables-save")
    jumps = [l for l in v4 if l.endswith("-j DOCKERGUARD")]
    jumps6 = [l for l in v6 if l.endswith("-j DOCKERGUARD")]
    assert len(jumps) == 1 and len(jumps6) == 1, (jumps, jumps6)
    # exactly one complete policy, the same in both families
    winners = set()
    for rules in (v4, v6):
        ports = {p for p in (8001, 8002) if any("--ctorigdstport %d " % p in l for l in rules)}
        assert len(ports) == 1, rules
        winners |= ports
    assert len(winners) == 1, (v4, v6)
    # and it is exactly what a single run of that policy writes
    out, log = module(ns, "docker_user_policy", policy_for(winners.pop()))
    assert out["changed"] is False, out


# -- class 3: our chains are ours only ------------------------------------------------------

UFW = ("*filter\n:ufw-before-input - [0:0]\n:ufw-user-input - [0:0]\n"
       "-A INPUT -j ufw-before-input\n-A ufw-before-input -j ufw-user-input\n"
       "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n")


@pytest.mark.parametrize("name, chain", [("docker_user_policy", "ufw-user-input"),
                                         ("host_input_policy", "ufw-user-input"),
                                         ("docker_user_policy", "INPUT")])
def test_class3_a_foreign_chain_is_refused_untouched(ns, name, chain):
    sh("iptables-restore", "--noflush", ns=ns, input=UFW)
    before = saves(ns)
    out, log = module(ns, name, {"chain": chain, "entries": [
        {"name": "web", "ports": [8080], "allow": ["10.250.0.0/24"]}]})
    assert out["failed"] is True and out["changed"] is False, out
    assert "refusing to touch it" in out["msg"] and chain in out["msg"], out["msg"]
    assert saves(ns) == before


def test_class3_the_other_modules_chain_is_refused(ns):
    module(ns, "docker_user_policy", {"entries": [
        {"name": "web", "ports": [8080], "allow": ["10.250.0.0/24"]}]})
    before = saves(ns)
    out, log = module(ns, "host_input_policy", {"chain": "DOCKERGUARD", "entries": [
        {"name": "web", "ports": [8080], "allow": ["10.250.0.0/24"]}]})
    assert out["failed"] is True and "docker_user_policy's chain" in out["msg"], out
    assert saves(ns) == before
    module(ns, "host_input_policy", {"entries": [
        {"name": "web", "ports": [8080], "allow": ["10.250.0.0/24"]}]})
    before = saves(ns)
    out, log = module(ns, "docker_user_policy", {"chain": "DOCKERGUARD-INPUT", "entries": []})
    assert out["failed"] is True and "host_input_policy's chain" in out["msg"], out
    assert saves(ns) == before


def test_class3_a_renamed_chain_is_migrated_in_one_transaction(ns):
    module(ns, "docker_user_policy", POLICY_A)
    out, log = module(ns, "docker_user_policy", dict(POLICY_A, chain="DOCKERGUARD-NEW"))
    assert not out.get("failed") and out["changed"] is True, out
    assert out["families"]["ipv4"]["migrated_from"] == ["DOCKERGUARD"], out
    for cmd in ("iptables-save", "ip6tables-save"):
        text = sh(cmd, ns=ns)
        assert ":DOCKERGUARD " not in text and "-j DOCKERGUARD\n" not in text, text
        user = [l for l in text.splitlines() if l.startswith("-A DOCKER-USER")]
        assert user.count("-A DOCKER-USER -j DOCKERGUARD-NEW") == 1 and user[0].endswith("NEW"), user
    again, log = module(ns, "docker_user_policy", dict(POLICY_A, chain="DOCKERGUARD-NEW"))
    assert again["changed"] is False, again


def test_class6_a_read_back_rollback_of_a_rename_restores_the_old_chain_at_its_place(ns):
    """The read-back re-reads the kernel, where the renamed chain is already gone: the
    rollback must still put the old chain back, its jump where it was (not at the end)."""
    module(ns, "docker_user_policy", POLICY_A)
    sh("iptables", "-I", "DOCKER-USER", "1", "-s", "10.250.9.0/24", "-j", "DROP", ns=ns)
    before = saves(ns)

    def run(argv, data=None):
        proc = subprocess.run(["ip", "netns", "exec", ns] + list(argv), input=data,
                              capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    plan = FamilyPlan("ipv4", "DOCKERGUARD-NEW", "DOCKER-USER")
    plan.save, plan.restore = "iptables-save", "iptables-restore"
    plan.read(run)
    assert [name for name, dummy, dummy in plan.stale] == ["DOCKERGUARD"], plan.stale
    plan.after = list(plan.stale[0][1])
    assert apply_plans(run, [plan]) == ["ipv4"]
    plan.read(run)                      # what the read-back does before it rolls back
    restore(run, plan, plan.undo_payload(), 5)
    assert saves(ns) == before


# -- class 6: truthful results in every state ------------------------------------------------

def test_class6_check_and_diff_describe_hand_edits_of_our_jump(ns):
    module(ns, "docker_user_policy", POLICY_A)
    # by hand: a rule above our jump, and a second jump of ours further down
    sh("iptables", "-I", "DOCKER-USER", "1", "-s", "10.250.9.0/24", "-j", "RETURN", ns=ns)
    sh("iptables", "-A", "DOCKER-USER", "-j", "DOCKERGUARD", ns=ns)
    before = saves(ns)
    out, log = module(ns, "docker_user_policy", POLICY_A, extra=["--check", "--diff"])
    assert out["changed"] is True and out["families"]["ipv4"]["changed"] is True, out
    assert out["families"]["ipv6"]["changed"] is False, out
    assert saves(ns) == before
    # the diff's "before" is the kernel as it is: jumps at rules 2 and 5, not one on top
    assert "-I DOCKER-USER 2 -j DOCKERGUARD" in log and "-I DOCKER-USER 5 -j DOCKERGUARD" in log, log
    assert "+-A DOCKER-USER -j DOCKERGUARD" in log, log
    # and a jump deleted by hand is shown missing
    sh("ip6tables", "-D", "DOCKER-USER", "-j", "DOCKERGUARD", ns=ns)
    out, log = module(ns, "docker_user_policy", POLICY_A, extra=["--check", "--diff"])
    assert out["families"]["ipv6"]["changed"] is True, out
    v6_diff = log[log.index("# ipv6"):]
    assert "\n-A DOCKER-USER -j DOCKERGUARD" not in v6_diff.split("+# ipv6")[0], log


def test_class6_a_rollback_restores_positions_exactly(tmp_path):
    with namespace("dg-it-rel2") as name:
        sh("ip6tables-restore", ns=name, input=INPUT_V6)
        old = {"entries": [{"name": "old", "ports": [9999], "allow": ["10.250.3.10"]}],
               "ssh_sources": ["10.250.3.10"]}
        module(name, "host_input_policy", old)
        # someone's rule on top of INPUT: our jump is now the second rule
        sh("iptables", "-I", "INPUT", "1", "-s", "10.250.9.9", "-j", "ACCEPT", ns=name)
        before = saves(name)
        new = dict(old, entries=[{"name": "web", "ports": [8080], "allow": ["10.250.3.10"]}],
                   rollback_timeout=2, confirm_file=str(tmp_path / "confirm"))
        out, log = module(name, "host_input_policy", new)
        assert out["failed"] is True and out["rolled_back"] is True, out
        assert saves(name) == before


LEGACY = ("iptables", "iptables-save", "iptables-restore",
          "ip6tables", "ip6tables-save", "ip6tables-restore")


@pytest.fixture()
def legacy():
    """A namespace with Docker's chains in the legacy backend, and the ``wrap`` that
    makes the iptables alternatives point there (a host switched to legacy)."""
    targets = {}
    for tool in LEGACY:
        base, dummy, rest = tool.partition("-")
        targets[tool.replace("-", "_")] = "/usr/sbin/%s-legacy%s" % (base, "-" + rest if rest else "")
    with namespace("dg-it-rel2") as name:
        sh("iptables-legacy-restore", ns=name, input=DOCKER_V4)
        sh("ip6tables-legacy-restore", ns=name, input=DOCKER_V6)
        yield name, alternatives(**targets)


def legacy_saves(ns):
    return tuple("\n".join(l for l in sh(cmd, ns=ns).splitlines() if not l.startswith("#"))
                 for cmd in ("iptables-legacy-save", "ip6tables-legacy-save"))


def test_class6_backend_warnings_reach_the_result(legacy):
    name, wrap = legacy
    # a stray rule left in the other (nf_tables) backend
    sh("iptables-nft", "-A", "OUTPUT", "-d", "10.250.9.9", "-j", "ACCEPT", ns=name)
    out, log = module(name, "docker_user_policy", POLICY_A, wrap=wrap)
    assert not out.get("failed") and out["changed"] is True, out
    assert any("both the nf_tables and the legacy" in w for w in out.get("warnings", [])), out


def test_class6_wait_0_does_not_wait_for_the_xtables_lock(legacy, tmp_path):
    name, wrap = legacy
    lockfile = str(tmp_path / "xtables.lock")
    holder = subprocess.Popen(["flock", lockfile, "sleep", "30"])
    try:
        time.sleep(0.5)
        before = legacy_saves(name)
        started = time.time()
        with mock.patch.dict("os.environ", {"XTABLES_LOCKFILE": lockfile}):
            out, log = module(name, "docker_user_policy", dict(POLICY_A, wait=0), wrap=wrap)
        took = time.time() - started
        assert out["failed"] is True and "xtables lock" in out["msg"], out
        assert took < 20, took   # the playbook itself takes a few seconds
        assert legacy_saves(name) == before
    finally:
        holder.kill()
        holder.wait()


# -- class 5: the lock-out safety net never silently disappears ------------------------------

@pytest.fixture()
def host():
    """A 'host' with an older INPUT policy in place."""
    with namespace("dg-it-rel2") as name:
        sh("ip6tables-restore", ns=name, input=INPUT_V6)
        module(name, "host_input_policy", {
            "entries": [{"name": "old", "ports": [9999], "allow": ["10.250.3.10"]}],
            "ssh_sources": ["10.250.3.10"]})
        yield name


CUT = {"entries": [{"name": "web", "ports": [22, 8080], "allow": ["10.250.3.99"]}],
       "ssh_sources": []}


@pytest.mark.parametrize("confirm_file, named", [("", "confirm_file is empty"),
                                                 ("/proc/dockerguard-confirm", "cannot be used")])
def test_class5_unusable_confirm_settings_are_refused_before_any_change(host, confirm_file, named):
    before = saves(host)
    out, log = module(host, "host_input_policy", dict(CUT, rollback_timeout=8,
                                                      confirm_file=confirm_file))
    assert out["failed"] is True and out["changed"] is False and named in out["msg"], out
    assert saves(host) == before


def test_class5_the_rollback_outlives_a_module_killed_by_async(host, tmp_path):
    before = saves(host)
    confirm = str(tmp_path / "confirm")
    args = json.dumps(dict(CUT, rollback_timeout=6, confirm_file=confirm))
    tasks = ("    - name: Apply, with an async shorter than the rollback timeout\n"
             "      dockerguard.firewall.host_input_policy: %s\n"
             "      async: 3\n"
             "      poll: 1\n"
             "      register: out\n"
             "      ignore_errors: true\n" % args)
    rc, out, log = playbook(tasks, ns=host, check=False)
    assert out["failed"] is True, out   # killed by the async timeout, never confirmed
    assert saves(host) != before        # the cut is in place while the timer runs
    for dummy in range(100):
        if saves(host) == before:
            break
        time.sleep(0.2)
    assert saves(host) == before
    time.sleep(0.5)
    assert os.listdir(str(tmp_path)) == []  # no stale .applied (nor a verdict nobody reads)
