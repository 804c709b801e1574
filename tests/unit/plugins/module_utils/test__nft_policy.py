# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_nft_policy: the table a policy renders, and comparing it by meaning with what nft
reads back. The captures in tests/fixtures/nft/policy are ``nft -j list table`` of the
rendered tables of DOCKER_USER and INPUT below, loaded into a real kernel with nft 1.0.6
(rewrite them with ``python tests/unit/plugins/module_utils/test__nft_policy.py NETNS``
as root, from the repository root)."""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _nft_policy, _nftables
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import validate

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "nft")

DOCKER_USER = validate(
    [{"name": "web", "ports": [8080, "9000-9010"], "interfaces": ["eth+"],
      "allow": ["10.250.0.0/24", "10.250.1.10", "10.250.0.5", "fd00:250::/64"]},
     {"name": "dns", "ports": [53], "protocol": "all", "allow": ["0.0.0.0/0"],
      "action": "reject"}], default="deny")
INPUT = validate([{"name": "svc", "ports": [8086], "allow": ["10.250.3.0/24"],
                   "action": "reject"}], hook="INPUT", bridges=[],
                 ssh_sources=["10.250.9.9", "fd00::/64"])


def _read(name):
    with open(os.path.join(FIX, "policy", name + ".json")) as fh:
        return _nftables.parse(fh.read())["tables"]["inet " + name]


@pytest.mark.parametrize("policy, name", [(DOCKER_USER, "dockerguard"),
                                          (INPUT, "dockerguard_input")])
def test_the_kernels_table_means_what_was_rendered(policy, name):
    table = _nft_policy.render(policy, ["ipv4", "ipv6"])
    assert table.key == "inet " + name
    read = _read(name)
    assert _nft_policy.comparable(read) == table.form()
    assert _nft_policy.owned(read)
    # our own JSON (what the preview feeds the engine) means the same too
    ours = _nftables.parse({"nftables": table.items()})["tables"][table.key]
    assert _nft_policy.comparable(ours) == table.form()
    # and nft's own text of the table is what body() writes (the diff)
    with open(os.path.join(FIX, "policy", name + ".nft-list.txt")) as fh:
        listed = [l.split(" # handle")[0].strip() for l in fh.read().splitlines() if l.strip()]
    body = [l.strip() for l in table.body().splitlines() if l.strip()]
    assert body == listed


def test_any_change_of_meaning_compares_unequal():
    read = _nft_policy.comparable(_read("dockerguard"))
    for entries, default in (
            ([dict(DOCKER_USER["entries"][0], allow=DOCKER_USER["entries"][0]["allow"][:1])], "deny"),
            (DOCKER_USER["entries"], "allow"),
            ([dict(e, action="drop") for e in DOCKER_USER["entries"]], "deny")):
        other = dict(DOCKER_USER, entries=entries, default=default)
        assert _nft_policy.render(other, ["ipv4", "ipv6"]).form() != read
    assert _nft_policy.render(DOCKER_USER, ["ipv4"]).form() != read


def test_overlapping_cidrs_are_merged_and_many_cidrs_are_one_set():
    """nft refuses overlapping interval elements ('conflicting intervals'): collapse."""
    nets = ["10.%d.%d.0/26" % (i // 256, i % 256) for i in range(10000)]   # none adjacent
    policy = validate([{"name": "many", "ports": [443], "allow": nets + ["10.0.0.0/16"]}])
    table = _nft_policy.render(policy, ["ipv4", "ipv6"])
    rules = table.family_rules("ipv4")
    assert len(rules) == 2 and "@allow_1_ipv4" in rules[0]
    (name, type_, elements), = table.sets
    assert type_ == "ipv4_addr" and len(elements) == 10000 - 256 + 1    # 10.0/16 took 256
    assert "10.0.0.0/16" in [str(e) for e in elements]


def test_one_family_only_and_wildcards():
    table = _nft_policy.render(DOCKER_USER, ["ipv6"])
    base = table.chains[0][2]
    texts = [_nftables.rule_text(e, c) for e, c in base]
    assert 'iifname "br-*" accept comment "dockerguard: from containers"' in texts
    assert [t for t in texts if "jump" in t] == [
        'meta nfproto ipv6 jump ipv6 comment "dockerguard: ipv6"']
    assert table.family_rules("ipv4") is None


def test_a_table_without_our_mark_is_not_ours():
    with open(os.path.join(FIX, "docker29", "docker-bridges+user-restrict.json")) as fh:
        model = _nftables.parse(fh.read())
    assert not _nft_policy.owned(model["tables"]["inet dg-user-restrict"])


def test_with_tables_splices_and_removes():
    with open(os.path.join(FIX, "docker29", "docker-bridges.json")) as fh:
        model = _nftables.parse(fh.read())
    table = _nft_policy.render(DOCKER_USER, ["ipv4", "ipv6"])
    after = _nftables.with_tables(model, {"nftables": table.items()})
    forward = [b["table"] for b in after["base_chains"] if b["hook"] == "forward"]
    assert forward[0] == "inet dockerguard"     # priority filter - 10 runs first
    assert "inet dockerguard" not in model["tables"]      # the input is not changed
    gone = _nftables.with_tables(after, None, remove=["inet dockerguard"])
    assert gone["base_chains"] == model["base_chains"]


def _capture(ns):     # pragma: no cover - rewrites the fixtures (root, real nft)
    for name, policy in (("dockerguard", DOCKER_USER), ("dockerguard_input", INPUT)):
        table = _nft_policy.render(policy, ["ipv4", "ipv6"])
        run = ["ip", "netns", "exec", ns, "nft"]
        subprocess.run(run + ["-f", "-"], input=table.script(), text=True, check=True)
        for suffix, args in ((".json", ["-j"]), (".nft-list.txt", ["-a"])):
            out = subprocess.run(run + args + ["list", "table", "inet", name],
                                 capture_output=True, text=True, check=True).stdout
            if suffix == ".json":
                out = json.dumps(json.loads(out), indent=1) + "\n"
            with open(os.path.join(FIX, "policy", name + suffix), "w") as fh:
                fh.write(out)


if __name__ == "__main__":
    _capture(sys.argv[1])
