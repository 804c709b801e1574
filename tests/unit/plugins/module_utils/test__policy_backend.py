# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_policy_backend.choose: backend auto, from what Docker reports and the tables it wrote
(the command outputs are docker 29's and nft 1.0.6's; pure logic)."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils._policy_backend import choose


class Runner(object):
    def __init__(self, info=None, tables="", docker=True):
        self.info, self.tables, self.docker = info, tables, docker
        self.calls = []

    def which(self, name):
        return None if name == "docker" and not self.docker else "/usr/sbin/" + name

    def run(self, argv, data=None):
        self.calls.append(argv)
        if argv[0].endswith("docker"):
            return (0, self.info + "\n", "") if self.info is not None else (1, "", "Cannot connect")
        return 0, self.tables, ""


@pytest.mark.parametrize("runner, name, why", [
    (Runner('{"Driver":"nftables"}'), "nftables", "Docker reports its firewall backend as nftables"),
    (Runner('{"Driver":"nftables+firewalld"}'), "nftables", "as nftables+firewalld"),
    (Runner('{"Driver":"iptables+firewalld"}', tables="table ip docker-bridges\n"), "iptables",
     "as iptables+firewalld"),
    (Runner("null", tables="table inet firewalld\ntable ip docker-bridges\n"), "nftables",
     "docker-bridges exists"),
    (Runner(None, docker=False, tables="table ip6 docker-bridges\n"), "nftables", "docker-bridges"),
    (Runner("null", tables="table ip docker-bridges-old\n"), "iptables", "no FirewallBackend"),
])
def test_auto(runner, name, why):
    got = choose(runner, "auto")
    assert got[0] == name and why in got[1]


def test_asked_for_is_not_second_guessed():
    runner = Runner('{"Driver":"nftables"}')
    assert choose(runner, "iptables") == ("iptables", "backend: iptables was asked for")
    assert runner.calls == []
