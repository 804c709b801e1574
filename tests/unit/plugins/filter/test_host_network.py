# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host_network_plan filter (the logic is tested in test__host_network.py)."""

from __future__ import absolute_import, division, print_function

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.filter.host_network import FilterModule

from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model as lab

F = FilterModule().filters()


def test_the_filter_gives_the_plan():
    assert sorted(F) == ["host_network_plan", "host_network_running"]
    got = F["host_network_plan"](lab.docker(), "svc", [7000, "53/udp"], allow=["10.0.0.0/8"],
                                 env={"SSH_CLIENT": "10.250.0.5 5000 22"})
    assert got["specs"] == ["7000/tcp", "53/udp"] and got["ssh_sources"] == ["10.250.0.5"]
    assert [e["name"] for e in got["entries"]] == ["svc/tcp", "svc/udp"]


def test_errors_are_filter_errors_naming_the_value():
    with pytest.raises(AnsibleFilterError,
                       match="host_network_plan: host_network_ports: '80/icmp' is not a port"):
        F["host_network_plan"](lab.docker(), "svc", ["80/icmp"], allow=["10.0.0.0/8"])


def test_running_errors_name_the_value():
    with pytest.raises(AnsibleFilterError,
                       match="host_network_running: host_network_ports: '80/icmp' is not a port"):
        F["host_network_running"](lab.docker(), "svc", ["80/icmp"])
