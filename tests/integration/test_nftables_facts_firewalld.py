"""nftables_facts on a real firewalld lab node (node-forky-firewalld: firewalld 2.5 +
Docker 28.5, ``FirewallBackend.Driver: iptables+firewalld``), through ``ansible`` with
the community.docker.docker connection, compared with what nft and iptables-save say on
the node; then a port opened with firewall-cmd shows up in the facts.
"""
import os
import re
import time

import pytest

from nft_lab import FIREWALLD_IMAGE, HOST_PORT, FirewalldNode
from tests.lab.engine import docker_unavailable, missing_images
from tests.lab.playbook import run_module, write_inventory

MODULE = "dockerguard.firewall.nftables_facts"
pytestmark = pytest.mark.skipif(bool(docker_unavailable()), reason=str(docker_unavailable()))


@pytest.fixture(scope="module")
def node(request):
    missing = missing_images([FIREWALLD_IMAGE, "svc:local"])
    if missing:
        pytest.skip(missing)
    fw = FirewalldNode()
    request.addfinalizer(fw.stop)
    return fw.start()


@pytest.fixture(scope="module")
def inventory(node, request):
    path = write_inventory([node.name], prefix="dg-it-nft-")
    request.addfinalizer(lambda: os.remove(path))
    return path


def _facts(inventory, node, check=False):
    result = run_module(inventory, node.name, MODULE, check=check)
    assert not result.get("failed"), result.get("msg")
    assert result.get("changed") is False
    return result["ansible_facts"]["nftables"]


def _stable(inventory, node, check=False):
    """Facts read while the ruleset stood still (Docker may still be adding rules just
    after the node started): the listing before and after them is the same."""
    for dummy in range(20):
        before = node.sh("nft -a list ruleset")
        facts = _facts(inventory, node, check)
        listing = node.sh("nft -a list ruleset")
        if listing == before:
            return facts, listing
        time.sleep(1)
    raise AssertionError("the node's ruleset never stood still")


def test_facts_equal_what_nft_and_iptables_save_say(inventory, node):
    facts, listing = _stable(inventory, node, check=True)
    tables = re.findall(r"^table (\S+) (\S+) \{", listing, re.M)
    # (Ansible's JSON output sorts keys: the order of tables is in base_chains, not here)
    assert sorted(facts["tables"]) == sorted("%s %s" % t for t in tables)
    assert facts["rule_count"] == len(re.findall(r"^\t\t.* # handle \d+$", listing, re.M))
    assert "inet firewalld" in facts["tables"]
    assert not facts["tables"]["inet firewalld"]["iptables_nft"]
    shown = ["ip " + t for t in re.findall(r"^\*(\S+)", node.sh("iptables-save"), re.M)]
    shown += ["ip6 " + t for t in re.findall(r"^\*(\S+)", node.sh("ip6tables-save"), re.M)]
    assert sorted(facts["iptables_nft_tables"]) == sorted(shown)
    fwd = [(b["table"], b["priority"]) for b in facts["base_chains"] if b["hook"] == "forward"]
    assert ("inet firewalld", 10) in fwd and ("ip filter", 0) in fwd
    assert fwd.index(("ip filter", 0)) < fwd.index(("inet firewalld", 10))


def test_a_port_opened_with_firewall_cmd_shows(inventory, node):
    def allowed(facts):
        chain = facts["tables"]["inet firewalld"]["chains"]["filter_IN_public_allow"]
        return [r["text"] for r in chain["rules"]]
    before = allowed(_facts(inventory, node))
    node.firewall_cmd("--add-port=%d/tcp" % HOST_PORT)
    try:
        after = allowed(_facts(inventory, node))
    finally:
        node.firewall_cmd("--remove-port=%d/tcp" % HOST_PORT)
    assert [t for t in after if t not in before] == [
        "tcp dport %d accept" % HOST_PORT]
