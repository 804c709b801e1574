# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reliability cases of issue 8 on a real node with the nf_tables backend (docs/reliability.md).

One lab node (Debian forky: Docker 28.5, iptables 1.8 nf_tables, ip6tables on) on a
dual-stack lab network of its own, with probe clients ``allowed`` (.10), ``other``
(.30), ``denied`` (.20), ``controller`` (.5) and an ``outside`` HTTP server (.40), the
same host numbers in the /64. Inside the node:

  web    default bridge (IPv4 only)    -p 8080:80 -p 9090:80   (cases 8, 9, 3, 5, 11)
  web6   dual-stack network v6net      -p 8086:80              (case 11)
  echo   default bridge, echo server   -p 8070:80              (case 10)
  inner  default bridge, a client      (containers' outbound traffic, case 10)
  sshd   host network, port 2222       (stands in for the controller's SSH, case 13)

The modules run through a real ``ansible-playbook`` (community.docker.docker
connection); every case probes with real TCP connections and compares
``iptables-save`` / ``ip6tables-save`` (comments dropped, counters zeroed) before and
after. The tests run in file order and each starts from the base policy ``P``.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import select
import subprocess
import time

import pytest

from ansible_collections.dockerguard.firewall.plugins.filter.module_utils_files import module_utils_files
from tests.lab import reliability as rl
from tests.lab.engine import docker, wait_for
from tests.lab.node import install_sdk
from tests.lab.playbook import ROOT

IMAGE = "node-forky:local"
CHAIN, JUMP = "DOCKERGUARD", "-A DOCKER-USER -j DOCKERGUARD"
INPUT_CHAIN = "DOCKERGUARD-INPUT"
SERVICES = ["web", "web6", "echo"]
PORTS = [8080, 9090, 8086, 8070]
MODULE = "dockerguard.firewall.docker_user_policy"
INPUT_MODULE = "dockerguard.firewall.host_input_policy"
INNER4, INNER6 = "10.250.200.0/24", "fd00:250:200::/64"   # inside the node only


@pytest.fixture(scope="module")
def node():
    why = rl.preflight([IMAGE])
    if why:
        pytest.skip(why)
    lab = rl.Lab("nft", IMAGE)
    try:
        lab.start()
        lab.docker("network", "create", "--ipv6", "--subnet", INNER4, "--subnet", INNER6, "v6net")
        run = ["run", "--detach", "--restart=always", "--stop-timeout=1"]
        lab.docker(*(run + ["--name=web", "-p", "8080:80", "-p", "9090:80"] + rl.WEB))
        lab.docker(*(run + ["--name=web6", "--network=v6net", "-p", "8086:80"] + rl.WEB))
        lab.docker(*(run + ["--name=echo", "-p", "8070:80", rl.SERVICE_IMAGE, "nc", "-ll", "-p",
                            "80", "-e", "cat"]))
        lab.docker(*(run + ["--name=inner", rl.SERVICE_IMAGE, "sleep", "864000"]))
        lab.docker(*(run + ["--name=sshd", "--network=host", rl.SERVICE_IMAGE, "httpd", "-f",
                            "-p", "2222", "-h", "/"]))
        lab.wait_published(SERVICES, PORTS)
        yield lab
    finally:
        lab.stop_helpers()
        lab.cleanup()


def policy(lab, **overrides):
    """The base policy P: 8080 for two CIDRs per family, 8070 and 8086 for ``allowed``."""
    n4, n6 = lab.net4, lab.net6
    allowed = [lab.clients["allowed"]["ipv4"], lab.clients["allowed"]["ipv6"]]
    args = {"entries": [
        # case 8: .10 is in the /29, .30 in the /30; .20 and .5 in neither (same in the /64)
        {"name": "web", "ports": [8080],
         "allow": [n4 + ".8/29", n4 + ".28/30", n6 + ":8/125", n6 + ":1c/126"]},
        {"name": "echo", "ports": [8070], "allow": allowed},
        {"name": "web6", "ports": [8086], "allow": allowed},
    ]}
    args.update(overrides)
    return args


def expected(**changes):
    """{(client, port, family): reached?} under P."""
    want = {
        ("allowed", 8080, "ipv4"): True, ("other", 8080, "ipv4"): True,
        ("denied", 8080, "ipv4"): False, ("controller", 8080, "ipv4"): False,
        # case 9: the same container port published on 9090 is not restricted
        ("allowed", 9090, "ipv4"): True, ("denied", 9090, "ipv4"): True,
        ("allowed", 8086, "ipv6"): True, ("denied", 8086, "ipv6"): False,
        ("other", 8086, "ipv6"): False, ("allowed", 8086, "ipv4"): True,
        ("denied", 8086, "ipv4"): False,
        # case 11: web is on an IPv4-only network: IPv6 reaches it through docker-proxy
        # (INPUT), where DOCKER-USER has no say
        ("denied", 8080, "ipv6"): True,
    }
    want.update(changes)
    return want


def apply(lab, args, **kw):
    res = lab.module(MODULE, args, **kw)
    assert not res.get("failed"), res.get("msg")
    return res


def check_probes(lab, want):
    wrong = lab.probes(want)
    assert not wrong, "\n".join(wrong)


def jump_first(lines):
    user = rl.chain_rules(lines, "DOCKER-USER")
    return user[:1] == [JUMP] and user.count(JUMP) == 1


# -- case 14: idempotence from scratch ---------------------------------------------------

def test_case14_clean_node_and_older_policy_give_identical_save(node):
    clean = node.saves()
    assert not any(CHAIN in ln for f in clean for ln in clean[f]), "the node is not clean"
    first = apply(node, policy(node))
    assert first["changed"] is True
    assert [first["families"][f]["changed"] for f in ("ipv4", "ipv6")] == [True, True]
    from_scratch = node.saves()

    older = {"entries": [{"name": "old", "ports": [8080, "9000-9010"], "protocol": "all",
                          "allow": ["10.250.99.0/24", "fd00:250:99::/64"], "action": "reject"}],
             "default": "deny"}
    assert apply(node, older)["changed"] is True
    assert node.saves() != from_scratch
    assert apply(node, policy(node))["changed"] is True
    over_older = node.saves()
    for family in ("ipv4", "ipv6"):
        assert rl.ours(over_older[family]) == rl.ours(from_scratch[family]), family
        assert jump_first(over_older[family])
        # and nothing else differs from the clean node but our chain and jump
        assert rl.not_ours(over_older[family]) == rl.not_ours(clean[family]), family
    again = apply(node, policy(node))
    assert again["changed"] is False
    assert node.saves() == over_older


# -- cases 8 and 9: several CIDRs, one container port published twice ---------------------

def test_case8_case9_each_allowed_cidr_reaches_and_only_the_restricted_port_is_restricted(node):
    apply(node, policy(node))
    check_probes(node, expected())
    rules = rl.chain_rules(node.saves(["ipv4"])["ipv4"], CHAIN)
    # no stacked "! -s A -j DROP; ! -s B -j DROP" (which would drop B at the first rule)
    assert not any(" ! -s " in r for r in rules), rules
    assert not any("--ctorigdstport 9090" in r or "--dport 80 " in r for r in rules), rules


# -- case 7: invalid input ---------------------------------------------------------------

def test_case7_invalid_input_is_refused_before_any_kernel_change_naming_the_value(node):
    apply(node, policy(node))
    good = {"name": "web", "ports": [8080], "allow": ["10.250.0.0/24"]}

    def entry(**kw):
        return {"entries": [dict(good, **kw)]}
    spec = "spec"   # refused by the module's argument spec (choices, required), not by us
    cases = [
        (MODULE, entry(allow=["10.250.0.0/33"]), "10.250.0.0/33"),
        (MODULE, entry(allow=["10.0.0.300"]), "10.0.0.300"),
        (MODULE, entry(ports=["16a"]), "16a"),
        (MODULE, entry(ports=[0]), "port 0 "),
        (MODULE, entry(ports=[70000]), "70000"),
        (MODULE, entry(ports=["8000-7000"]), "8000-7000"),
        (MODULE, entry(protocol="tcpp"), spec + ":tcpp"),
        (MODULE, entry(interfaces=["abcdefghijklmnop"]), "abcdefghijklmnop"),
        # 15 characters and the '+' wildcard: iptables refuses 16 (it reached the kernel's
        # --test before the fix this test found)
        (MODULE, entry(interfaces=["abcdefghijklmno+"]), "abcdefghijklmno+"),
        (MODULE, entry(interfaces=["eth0 eth1"]), "eth0 eth1"),
        (MODULE, entry(allow=[]), "empty allow list"),
        (MODULE, {"entries": [{"name": "web", "ports": [8080]}]}, spec + ":allow"),
        # shell metacharacters in every string option
        (MODULE, entry(name="web;reboot"), "web;reboot"),
        (MODULE, entry(name='we"b'), 'we"b'),
        (MODULE, entry(allow=["10.250.0.1;id"]), "10.250.0.1;id"),
        (MODULE, entry(ports=["8080$(id)"]), "8080$(id)"),
        (MODULE, entry(interfaces=["eth0`id`"]), "eth0`id`"),
        (MODULE, entry(protocol="tcp|id"), spec + ":tcp|id"),
        (MODULE, entry(action="drop&&id"), spec + ":drop&&id"),
        (MODULE, dict(entry(), chain="DG$(id)"), "DG$(id)"),
        (MODULE, dict(entry(), bridges=["br-$(id)"]), "br-$(id)"),
        (INPUT_MODULE, dict(entry(), ssh_sources=["10.250.0.1 && id"]), "10.250.0.1 && id"),
        (INPUT_MODULE, dict(entry(), ssh_port=0), "port 0 "),
        (INPUT_MODULE, dict(entry(), chain="IN>x"), "IN>x"),
    ]
    before = node.saves()
    legacy_before = node.saves(tool="%s-legacy-save")
    results = node.tasks([{"name": "case %d" % k, module: args}
                          for k, (module, args, named) in enumerate(cases)])
    wrong = []
    for (module, args, named), res in zip(cases, results):
        msg = res.get("msg", "")
        by_spec = named.startswith(spec + ":")
        named = named.split(":", 1)[1] if by_spec else named
        # ours: validation refused it, before anything was read or written
        by_us = msg.startswith("invalid policy, nothing changed: ")
        if not (res.get("failed") and not res.get("changed") and named in msg
                and (by_spec or by_us)):
            wrong.append("%s %s: %s" % (module, json.dumps(args), msg or res))
    assert not wrong, "\n".join(wrong)
    assert node.saves() == before
    assert node.saves(tool="%s-legacy-save") == legacy_before


# -- case 6: a bad rule in the middle of a policy ------------------------------------------

APPLY_WITH_A_BAD_RULE = r"""
import json, subprocess, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.dockerguard.firewall.plugins.module_utils._chain_apply import (
    TOOLS, ApplyError, FamilyPlan, apply_plans)
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    chain_rules, validate)
args = json.loads(sys.argv[2])

def run(argv, data=None):
    p = subprocess.run(argv, input=data, capture_output=True, text=True, check=False)
    return p.returncode, p.stdout, p.stderr

policy = validate(args["entries"])
plans = []
for family in ("ipv4", "ipv6"):
    plan = FamilyPlan(family, policy["chain"], "DOCKER-USER")
    plan.save, plan.restore = ("/usr/sbin/" + t for t in TOOLS[family])
    plan.read(run)
    rules = chain_rules(policy, family)
    if family == args["family"]:
        rules.insert(len(rules) // 2, args["bad"])
    plan.after = rules
    plans.append(plan)
try:
    print(json.dumps({"applied": apply_plans(run, plans, 5)}))
except ApplyError as exc:
    print(json.dumps({"error": str(exc)}))
"""


def test_case6_bad_rule_in_the_middle_leaves_both_families_unchanged(node):
    apply(node, policy(node))
    before = node.saves()
    # a bad entry between two good ones: refused by validation as a whole
    bad = policy(node)
    bad["entries"].insert(1, {"name": "bad", "ports": [8081], "allow": ["fd00:250::/129"]})
    res = node.module(MODULE, bad)
    assert res["failed"] and "fd00:250::/129" in res["msg"] and not res["changed"], res
    assert node.saves() == before

    # A rule the kernel refuses in the middle of one family's transaction (what a
    # rendering bug would produce; validated input cannot), through the apply code the
    # module and the boot program share: the --test pass of every family runs before
    # any family is written.
    lib = "/tmp/dg-rel-module-utils"
    target = lib + "/ansible_collections/dockerguard/firewall/plugins/module_utils"
    node.sh("mkdir -p %s" % target)
    # what the script imports, and what those import (read from the code)
    for name in set(module_utils_files("_chain_apply") + module_utils_files("_policy")):
        docker("cp", os.path.join(ROOT, "plugins", "module_utils", name),
               "%s:%s/%s" % (node.node, target, name))
        docker("cp", os.path.join(ROOT, "plugins", "module_utils", name),
               "%s:%s/%s" % (node.node, target, name))
    changed = policy(node, entries=policy(node)["entries"][::-1])   # same rules, reordered
    seen = {}
    for family, bad_rule in (("ipv4", "-m nosuchmatch -j DROP"),
                             ("ipv6", "-m nosuchmatch -j DROP"),
                             # iptables-nft --test accepts a jump to a missing chain; the
                             # real restore refuses it, after IPv4 was written
                             ("ipv6", "-p tcp -j DOCKERGUARD-MISSING")):
        proc = docker("exec", node.node, "python3", "-c", APPLY_WITH_A_BAD_RULE, lib,
                      json.dumps(dict(changed, family=family, bad=bad_rule)))
        out = json.loads(proc.stdout)
        assert "error" in out and ("refused the %s change" % family) in out["error"], out
        at_test = "--test refused" in out["error"]
        assert at_test or "(nothing changed: ipv4 put back)" in out["error"], out
        seen["%s: %s" % (family, bad_rule)] = out["error"]
        assert node.saves() == before, (family, bad_rule)
    print(json.dumps(seen, indent=1))
    # the apply-time refusal, and so the rollback of IPv4, really happened
    assert "ipv4 put back" in seen["ipv6: -p tcp -j DOCKERGUARD-MISSING"]


# -- case 10: conntrack ------------------------------------------------------------------

class Session(object):
    """A TCP connection from a client to the node's echo port, held open."""

    def __init__(self, lab, role, port):
        self.proc = subprocess.Popen(
            ["docker", "exec", "-i", lab.clients[role]["name"], "nc", lab.address4, str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            universal_newlines=True, bufsize=1)

    def echo(self, text, timeout=4):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        ready = select.select([self.proc.stdout], [], [], timeout)[0]
        return self.proc.stdout.readline().strip() if ready else None

    def close(self):
        self.proc.kill()
        self.proc.wait()


def outbound(lab):
    """A container in the node fetches from the outside server: True if it answered."""
    out = lab.docker("exec", "inner", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 %s 80"
                     % lab.clients["outside"]["ipv4"], check=False)
    return out.startswith("HTTP/")


def test_case10_established_session_survives_reapply_and_outbound_works(node):
    apply(node, policy(node))
    assert outbound(node)
    session = Session(node, "allowed", 8070)
    try:
        assert session.echo("one") == "one"
        # a re-apply that rewrites our chain (another policy, the allowed client still in)
        wider = policy(node)
        wider["entries"][1]["allow"].append(node.clients["other"]["ipv4"])
        assert apply(node, wider)["changed"] is True
        assert session.echo("two") == "two"
        # a policy that no longer allows the client at all: its open connection lives on
        # (replies and established connections return first), a new one is dropped
        narrower = policy(node)
        narrower["entries"][1]["allow"] = [node.clients["other"]["ipv4"]]
        assert apply(node, narrower)["changed"] is True
        assert session.echo("three") == "three"
        assert not node.probe("allowed", 8070)
        assert outbound(node)   # containers' own connections and their replies
        # default deny as well: only what entries name is DNATed through
        assert apply(node, policy(node, default="deny"))["changed"] is True
        assert session.echo("four") == "four"
        # it went through our RELATED,ESTABLISHED rule (the chain was just rewritten)
        counters = node.sh("iptables -L %s -v -n -x | sed -n 3p" % CHAIN).split()
        assert int(counters[0]) > 0, counters
        assert outbound(node)
        assert not node.probe("denied", 9090)
    finally:
        session.close()
    apply(node, policy(node))


# -- case 11: IPv6 -----------------------------------------------------------------------

def exposure(lab, sources):
    res = lab.module("dockerguard.firewall.docker_exposure_info",
                     {"sources": sources, "trace": False, "reachability": False})
    assert not res.get("failed"), res.get("msg")
    return dict(((r["target"]["host_port"], r["target"]["family"], r["source"]["name"]), r)
                for r in res["exposure"])


def test_case11_ipv6_restricted_by_ip6tables_and_proxy_path_reported(node):
    if node.sh("python3 -c 'import docker' 2>/dev/null || echo missing", check=False).strip():
        install_sdk(node.node)   # docker_network_facts needs the Docker SDK
    apply(node, policy(node))
    v6 = node.saves(["ipv6"])["ipv6"]
    assert jump_first(v6)
    assert any(r.startswith("-A %s -s %s:a/128 " % (CHAIN, node.net6)) for r in v6), v6
    want = expected()
    check_probes(node, want)

    names = dict((role, node.clients[role]) for role in ("allowed", "denied", "other"))
    sources = [{"name": "%s-%s" % (role, f), "address": c[f], "interface": "eth0"}
               for role, c in sorted(names.items()) for f in ("ipv4", "ipv6")]
    verdicts = exposure(node, sources)
    # the engine agrees with the packets, and says why
    for (role, port, family), reached in sorted(want.items()):
        key = (port, family, "%s-%s" % (role, family))
        if key in verdicts:
            assert (verdicts[key]["verdict"] == "exposed") == reached, verdicts[key]
    web6 = verdicts[(8086, "ipv6", "denied-ipv6")]
    assert web6["path"] == "forward" and web6["decided_by"].startswith("filter/%s#" % CHAIN), web6
    proxy = verdicts[(8080, "ipv6", "denied-ipv6")]
    assert proxy["verdict"] == "exposed" and proxy["path"] == "local", proxy
    assert proxy["target"]["dnat"] is False
    assert verdicts[(8080, "ipv4", "denied-ipv4")]["verdict"] == "filtered"

    # The docker-proxy path is closed in INPUT (host_input_policy), IPv6 only.
    allow6 = [node.net6 + ":8/125", node.net6 + ":1c/126"]
    res = node.module(INPUT_MODULE, {"entries": [{"name": "web-v6", "ports": [8080, 9090],
                                                  "allow": allow6}], "families": ["ipv6"]})
    assert res["changed"] is True and not res.get("failed"), res
    try:
        check_probes(node, {("denied", 8080, "ipv6"): False, ("allowed", 8080, "ipv6"): True,
                            ("other", 8080, "ipv6"): True, ("denied", 8080, "ipv4"): False})
        proxy = exposure(node, sources)[(8080, "ipv6", "denied-ipv6")]
        assert proxy["verdict"] == "filtered" and INPUT_CHAIN in proxy["decided_by"], proxy
    finally:
        res = node.module(INPUT_MODULE, {"state": "absent", "families": ["ipv6"]})
        assert res["changed"] is True and not res.get("failed"), res


# -- case 3: another tool flushes DOCKER-USER or the filter table --------------------------

def test_case3_flush_of_docker_user_then_apply_restores_exactly_ours(node):
    apply(node, policy(node))
    before = node.saves()
    node.sh("iptables -F DOCKER-USER && ip6tables -F DOCKER-USER")
    flushed = node.saves()
    check_probes(node, {("denied", 8080, "ipv4"): True, ("denied", 8086, "ipv6"): True})
    res = apply(node, policy(node))
    assert res["changed"] is True
    after = node.saves()
    for family in ("ipv4", "ipv6"):
        assert rl.ours(after[family]) == rl.ours(before[family]), family
        assert rl.not_ours(after[family]) == rl.not_ours(flushed[family]), family
        assert jump_first(after[family])
    check_probes(node, expected())


def user_chains(lines):
    builtin = (":PREROUTING ", ":INPUT ", ":FORWARD ", ":OUTPUT ", ":POSTROUTING ")
    return [ln for ln in lines if ln.startswith(":") and not ln.startswith(builtin)]


RELOAD = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


def test_case3_firewall_reload_then_dockerd_restart_then_apply(node):
    apply(node, policy(node))
    before = node.saves()
    # what a firewall reload (netfilter-persistent, a ferm/shorewall restart) does: the
    # filter table replaced, Docker's chains and ours gone
    node.sh("printf '%s' | iptables-restore && printf '%s' | ip6tables-restore" % (RELOAD, RELOAD))
    reloaded = node.saves()
    check_probes(node, {("denied", 8080, "ipv4"): True, ("denied", 8086, "ipv6"): True})
    # DOCKER-USER is gone: refused, nothing written (Docker must create it first)
    res = node.module(MODULE, policy(node))
    assert res["failed"] and "DOCKER-USER does not exist for ipv4" in res["msg"], res
    assert node.saves() == reloaded
    node.restart_dockerd()
    node.wait_published(SERVICES, PORTS)
    assert apply(node, policy(node))["changed"] is True
    after = node.saves()
    for family in ("ipv4", "ipv6"):
        assert rl.ours(after[family]) == rl.ours(before[family]), family
        assert jump_first(after[family])
        # Docker's chains are back as Docker makes them. (Not the built-in chains'
        # policies: the reload left the IPv6 FORWARD policy at ACCEPT, and Docker, finding
        # forwarding already on, does not set it back to DROP.)
        assert user_chains(after[family]) == user_chains(before[family]), family
    check_probes(node, expected())


# -- case 5: concurrent writers ------------------------------------------------------------

def test_case5_concurrent_docker_writers_final_state_correct_foreign_rules_kept(node):
    apply(node, policy(node))
    wanted = node.saves()
    foreign = node.add_foreign()
    before = node.saves()
    alternate = policy(node, default="deny", action="reject")
    results, rounds = node.churn_while(MODULE, [alternate, policy(node), alternate, policy(node),
                                                alternate, policy(node)])
    assert not [r["msg"] for r in results if r.get("failed")], results
    assert rounds >= 2, "the churn loop ran %d times only" % rounds
    print("case 5 (nf_tables): %d applies, %d churn rounds meanwhile, all ok" % (len(results), rounds))
    after = node.saves()
    for family in ("ipv4", "ipv6"):
        assert rl.ours(after[family]) == rl.ours(wanted[family]), family
        assert jump_first(after[family])
        user = rl.chain_rules(after[family], "DOCKER-USER")
        assert user.count(foreign[family]) == 1, user
        # Docker's chains back exactly as before the churn, the foreign rule in place
        assert rl.not_ours(after[family]) == rl.not_ours(before[family]), family
    check_probes(node, expected())
    node.remove_foreign()


# -- case 4, nf_tables side: the xtables lock is not used ----------------------------------

def test_case4_nft_ignores_the_xtables_lock(node):
    apply(node, policy(node))
    assert "nf_tables" in node.sh("iptables --version")
    pid = node.background("exec flock -o /run/xtables.lock sleep 120")
    try:
        wait_for(lambda: node.sh("flock -n /run/xtables.lock true || echo held",
                                 check=False).strip() == "held",
                 timeout=10, what="the lock holder")
        started = time.time()
        res = apply(node, policy(node, action="reject"), timeout=60)
        took = time.time() - started
        assert res["changed"] is True
        assert took < 8, "took %.1fs: it waited for a lock nf_tables does not use" % took
        print("case 4 (nf_tables): lock held, applied in %.1fs with wait=10" % took)
    finally:
        node.stop(pid)
    apply(node, policy(node))


# -- case 12: backend mismatch -------------------------------------------------------------

def test_case12_legacy_iptables_command_while_docker_uses_nf_tables_is_refused(node):
    apply(node, policy(node))
    nft = node.saves(tool="%s-nft-save")
    legacy = node.saves(tool="%s-legacy-save")
    node.sh("update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null && "
            "update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null")
    try:
        res = node.module(MODULE, policy(node, action="reject"))
        assert res["failed"] and not res["changed"], res
        assert "nf_tables" in res["msg"] and "uses legacy" in res["msg"], res["msg"]
        assert node.saves(tool="%s-nft-save") == nft
        assert node.saves(tool="%s-legacy-save") == legacy
    finally:
        node.sh("update-alternatives --set iptables /usr/sbin/iptables-nft >/dev/null && "
                "update-alternatives --set ip6tables /usr/sbin/ip6tables-nft >/dev/null")
    assert apply(node, policy(node))["changed"] is False


# -- case 13: host-network lock-out rolled back ----------------------------------------------

CONFIRM = "/run/dg-rel/confirm"


def confirm_loop(lab, run, timeout):
    """Act as the controller: once the change is in, confirm if we can still reach SSH.

    Meanwhile Docker writes rules of its own (a container published on 8095). Returns
    (seconds from the change to the module's result, confirmed?).
    """
    wait_for(lambda: lab.sh("test -e %s.applied && echo yes" % CONFIRM,
                            check=False).strip() == "yes",
             timeout=60, what="the change to be applied")
    applied = time.time()
    lab.docker("run", "-d", "--name", "during", "-p", "8095:80", *rl.WEB)
    confirmed = False
    while run.proc.poll() is None and time.time() - applied < timeout + 15:
        if not confirmed and lab.probe("controller", 2222, timeout=1):
            lab.sh("touch %s" % CONFIRM)
            confirmed = True
        time.sleep(0.2)
    result = run.results(60)
    return result, time.time() - applied, confirmed


def test_case13_lockout_policy_rolled_back_docker_rules_created_meanwhile_remain(node):
    apply(node, policy(node))
    controller = node.clients["controller"]["ipv4"]
    allowed = node.clients["allowed"]["ipv4"]
    old = {"entries": [{"name": "old", "ports": [2223], "allow": [allowed]}],
           "ssh_sources": [controller], "ssh_port": 2222}
    res = node.module(INPUT_MODULE, old)
    assert res["changed"] is True and not res.get("failed"), res
    assert node.probe("controller", 2222) and node.probe("denied", 2222)
    before = node.saves()
    timeout = 6
    lockout = {"entries": [{"name": "ssh", "ports": [2222], "allow": [allowed]}],
               "ssh_sources": [], "rollback_timeout": timeout, "confirm_file": CONFIRM}
    try:
        run = node.start_tasks([{"name": "lock-out", INPUT_MODULE: lockout}])
        result, took, confirmed = confirm_loop(node, run, timeout)
        assert not confirmed
        assert result[0]["failed"] and result[0]["rolled_back"] is True, result
        assert "rolled back" in result[0]["msg"]
        assert timeout - 1 < took < timeout + 5, took
        print("case 13: rolled back %.1fs after the change (rollback_timeout=%d): %s"
              % (took, timeout, result[0]["msg"]))
        after = node.saves()
        for family in ("ipv4", "ipv6"):
            assert rl.ours(after[family], INPUT_CHAIN) == rl.ours(before[family], INPUT_CHAIN)
            gone = [ln for ln in before[family] if ln not in after[family]]
            assert not gone, gone
        added = [ln for ln in after["ipv4"] if ln not in before["ipv4"]]
        assert any("--dport 8095" in ln and "DNAT" in ln for ln in added), added
        assert not any(INPUT_CHAIN in ln for ln in added), added
        assert node.probe("controller", 2222)

        # the same change, with the controller kept: confirmed and kept
        keep = dict(lockout, ssh_sources=[controller], ssh_port=2222, rollback_timeout=20)
        run = node.start_tasks([{"name": "keep", INPUT_MODULE: keep}])
        result, took, confirmed = confirm_loop_keep(node, run)
        assert confirmed and result[0]["changed"] is True and result[0]["rolled_back"] is False
        assert took < 10, took
        print("case 13: with the controller kept, confirmed and kept after %.1fs" % took)
        check_probes(node, {("controller", 2222, "ipv4"): True, ("allowed", 2222, "ipv4"): True,
                            ("denied", 2222, "ipv4"): False})
    finally:
        node.docker("rm", "-f", "during", check=False)
        res = node.module(INPUT_MODULE, {"state": "absent"})
        assert not res.get("failed"), res


def confirm_loop_keep(lab, run):
    wait_for(lambda: lab.sh("test -e %s.applied && echo yes" % CONFIRM,
                            check=False).strip() == "yes",
             timeout=60, what="the change to be applied")
    applied = time.time()
    confirmed = False
    while not confirmed and time.time() - applied < 15:
        if lab.probe("controller", 2222, timeout=1):
            lab.sh("touch %s" % CONFIRM)
            confirmed = True
    return run.results(60), time.time() - applied, confirmed
