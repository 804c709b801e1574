"""nftables_facts against real nftables, inside a network namespace of the test's own.

The rulesets of tests/fixtures/nft are loaded with ``nft -f`` (and ``iptables-restore``),
the module runs through ansible-playbook inside the namespace, and its facts are compared
with what the kernel reports back there (``nft -a list ruleset``, ``iptables-save``).
"""
import json
import os
import re
import shutil

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils._nftables import (
    priority_value,
)
from ansible_run import playbook
from tests.lab.netns import can_use_netns, namespace, sh
from nft_lab import NETNS_CAPTURES, load

pytestmark = [
    pytest.mark.skipif(bool(can_use_netns()), reason=str(can_use_netns())),
    pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed"),
]

TASKS = ("    - name: Gather\n"
         "      dockerguard.firewall.nftables_facts:\n"
         "      register: out\n")


def _gather(ns, extra=()):
    return playbook(TASKS, ns=ns, extra_args=extra)[1]


def _kernel(ns):
    """(table, chain, handle, text) of every rule, and the base chains' hook/priority,
    from nft's own text listing."""
    rules, bases, table, chain = [], {}, None, None
    for line in sh("nft", "-a", "list", "ruleset", ns=ns).splitlines():
        text = line.strip()
        m = re.match(r"table (\S+) (\S+) \{", text)
        if m:
            table = "%s %s" % m.groups()
            continue
        m = re.match(r"chain (\S+) \{", text)
        if m:
            chain = m.group(1)
            continue
        m = re.match(r"type (\S+) hook (\S+) priority ([^;]+); policy (\S+);", text)
        if m:
            bases[(table, chain)] = m.groups()
            continue
        m = re.match(r"(.*) # handle (\d+)$", text)
        if m and chain and not text.startswith(("set ", "map ")):
            rules.append((table, chain, int(m.group(2)),
                          re.sub(r"counter packets \d+ bytes \d+", "counter", m.group(1))))
    return rules, bases


@pytest.mark.parametrize("capture", ["docker29/docker-bridges+user-restrict",
                                     "debian/nftables-conf+docker-iptables"])
def test_facts_equal_what_the_kernel_holds(capture):
    with namespace("dg-it-nft") as ns:
        load(ns, *NETNS_CAPTURES[capture])
        out = _gather(ns, extra=["--check"])
        rules, bases = _kernel(ns)
        ipt_tables = [line[1:] for line in sh("iptables-save", ns=ns).splitlines()
                      if line.startswith("*")]
        ip6t_tables = [line[1:] for line in sh("ip6tables-save", ns=ns).splitlines()
                       if line.startswith("*")]
    assert out["changed"] is False
    facts = out["ansible_facts"]["nftables"]
    assert facts["available"] is True
    got = [(t, c, r["handle"], r["text"]) for t, table in facts["tables"].items()
           for c, chain in table["chains"].items() for r in chain["rules"]]
    assert [g[:3] for g in got] == [k[:3] for k in rules]
    for mine, nfts in zip(got, rules):
        if " xt " in " " + mine[3]:      # nft's JSON carries no xt details
            continue
        assert mine == nfts
    assert facts["rule_count"] == len(rules)
    for (table, chain), (ctype, hook, prio, policy) in bases.items():
        mine = facts["tables"][table]["chains"][chain]
        assert (mine["type"], mine["hook"], mine["policy"]) == (ctype, hook, policy)
        assert mine["priority"] == priority_value(prio, table.split()[0])[0]
    # iptables-nft's tables are exactly the ones iptables-save shows
    assert sorted(facts["iptables_nft_tables"]) == sorted(
        ["ip " + t for t in ipt_tables] + ["ip6 " + t for t in ip6t_tables])


@pytest.mark.smoke
def test_priorities_and_sets_from_a_live_kernel():
    with namespace("dg-it-nft") as ns:
        load(ns, *NETNS_CAPTURES["docker29/docker-bridges+user-restrict"])
        facts = _gather(ns)["ansible_facts"]["nftables"]
        raw = json.loads(sh("nft", "-j", "list", "set", "inet", "dg-user-restrict",
                            "allowed4", ns=ns))
    user = facts["tables"]["inet dg-user-restrict"]
    assert user["chains"]["forward"]["priority"] == -10
    assert [(b["table"], b["chain"]) for b in facts["base_chains"]
            if b["hook"] == "forward"] == [
        ("inet dg-user-restrict", "forward"), ("ip docker-bridges", "filter-FORWARD"),
        ("ip6 docker-bridges", "filter-FORWARD")]
    assert user["sets"]["allowed4"]["elements"] == raw["nftables"][1]["set"]["elem"]


def test_empty_ruleset():
    with namespace("dg-it-nft") as ns:
        facts = _gather(ns)["ansible_facts"]["nftables"]
    assert facts["available"] is True and facts["tables"] == {} and facts["rule_count"] == 0


def test_nft_missing_is_a_fact_not_a_failure():
    """nft hidden (a non-executable file bound over it, in a mount namespace of its own)."""
    nft = shutil.which("nft")
    task = ("    - name: Gather\n"
            "      dockerguard.firewall.nftables_facts:\n"
            "      register: out\n")
    with namespace("dg-it-nft") as ns:
        script = ("mount --bind /dev/null %s && exec ip netns exec %s \"$@\"" % (nft, ns))
        rc, data, log = playbook(task, extra_args=(), check=False,
                                 wrap=["unshare", "-m", "sh", "-c", script, "sh"])
    assert rc == 0, log
    facts = data["ansible_facts"]["nftables"]
    assert facts["available"] is False
    assert "nft not found" in facts["reason"]
    assert os.access(nft, os.X_OK)      # the host's nft untouched
