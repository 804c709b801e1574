# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nft_ruleset filter: saved ``nft -j list ruleset`` output -> the nftables model."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.filter.nft_ruleset import (
    FilterModule,
    nft_ruleset,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._nftables import parse

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "fixtures", "nft",
                                        "firewalld", "rich-rule", "ruleset.json"))


def _text():
    with open(CAPTURE, encoding="utf-8") as fh:
        return fh.read()


class _Tagged(str):
    """Like the str subclasses Jinja and Ansible hand to filters."""


def test_text_parsed_and_tagged_give_the_module_model():
    model = parse(_text())
    assert nft_ruleset(_text()) == model
    assert nft_ruleset(_Tagged(_text())) == model
    assert nft_ruleset(json.loads(_text())) == model
    assert FilterModule().filters()["nft_ruleset"] is nft_ruleset
    rich = [r["text"] for c in model["tables"]["inet firewalld"]["chains"].values()
            for r in c["rules"] if "10.250.40.20" in r["text"]]
    assert rich == ["ip saddr 10.250.40.20 reject with icmp port-unreachable"]


@pytest.mark.parametrize("data,message", [
    (None, "got NoneType"),
    (42, "got int"),
    ("{", "nft_ruleset: nftables: not JSON"),
    ({"nftables": [{"table": {"family": "ip"}}]},
     "nft_ruleset: nftables[0].table: missing field 'name'"),
])
def test_bad_input(data, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("[", r"\[").replace(
            "]", r"\]")):
        nft_ruleset(data)
