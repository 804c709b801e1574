# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one allow-list validator (_allowlist): every value, good and bad, with the
message naming it. The policy modules, the audit and the host_network role all go
through it (test__policy.py, test__exposure_audit.py, test__host_network.py)."""

from __future__ import absolute_import, division, print_function

import ipaddress

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _allowlist as check
from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
from ansible_collections.dockerguard.firewall.plugins.module_utils import _policy as policy
from ansible_collections.dockerguard.firewall.plugins.module_utils._allowlist import PolicyError


@pytest.mark.parametrize("value,want", [
    (80, (80, 80)), ("80", (80, 80)), (" 443 ", (443, 443)), ("8000-8100", (8000, 8100)),
    ("9000:9001", (9000, 9001)), (65535, (65535, 65535)), ("1-1", (1, 1)),
])
def test_port_range(value, want):
    assert check.port_range(value, "p") == want


@pytest.mark.parametrize("value,message", [
    (0, "p: 0 is outside 1-65535 \\(port 0 is out of range\\)"),
    (70000, "p: 70000 is outside 1-65535 \\(port 70000 is out of range\\)"),
    ("100-70000", "port 70000"),
    ("9000-8000", "p: range '9000-8000' runs backwards"),
    (True, "p: True is not a port"),
    (8.5, "p: 8.5 is not a port or range"),
    ("16a", "p: '16a' is not a port"),
    ("80$(id)", "80\\$\\(id\\)"),
    ("", "p: '' is not a port"),
])
def test_port_range_refused(value, message):
    with pytest.raises(PolicyError, match=message):
        check.port_range(value, "p")


def test_port_ranges_list_or_one():
    assert check.port_ranges([80, "81-82"], "p") == [(80, 80), (81, 82)]
    assert check.port_ranges(80, "p") == [(80, 80)]
    with pytest.raises(PolicyError, match="p: at least one port is required"):
        check.port_ranges([], "p")
    with pytest.raises(PolicyError, match="p: None should be a list"):
        check.port_ranges(None, "p")


@pytest.mark.parametrize("value,want", [
    (8080, "8080/tcp"), ("8080", "8080/tcp"), (" 5353/UDP ", "5353/udp"), ("22/tcp", "22/tcp"),
])
def test_port_spec(value, want):
    assert check.port_spec(value, "ports") == want


@pytest.mark.parametrize("value", [0, 65536, "80/icmp", "80/", "http", "80-90", True, None,
                                   "8080/tcp/x"])
def test_port_spec_refused(value):
    with pytest.raises(PolicyError, match="ports: "):
        check.port_spec(value, "ports")


def test_port_specs_refuse_repeats():
    assert check.port_specs([8080, "53/udp"], "ports") == ["8080/tcp", "53/udp"]
    with pytest.raises(PolicyError, match="ports: a port is listed twice: 8080/tcp"):
        check.port_specs([8080, "8080/tcp"], "ports")


def test_network():
    assert check.network("10.0.0.0/8", "a") == ipaddress.ip_network("10.0.0.0/8")
    assert check.network(" FD00:250::/64 ", "a") == ipaddress.ip_network("fd00:250::/64")
    with pytest.raises(PolicyError, match="did you mean 10.0.0.0/24"):
        check.network("10.0.0.1/24", "a")
    with pytest.raises(PolicyError, match="a: 5 is not an address or CIDR"):
        check.network(5, "a")
    with pytest.raises(PolicyError, match="'10.0.0.300' is not an address or CIDR"):
        check.network("10.0.0.300", "a")


def test_the_audit_and_the_policy_share_the_validator():
    """The same bad port gets the same words from the audit's expected exposure and from
    the policy modules' entries (once two copies, now one)."""
    for bad in (70000, "8000-7000", "http"):
        with pytest.raises(ValueError) as from_audit:
            audit.normalize_expected([{"ports": [bad]}])
        with pytest.raises(PolicyError) as from_policy:
            policy.validate([{"ports": [bad], "allow": ["10.0.0.0/8"]}])
        assert str(from_audit.value).split(": ", 1)[1] == str(from_policy.value).split(": ", 1)[1]
    with pytest.raises(ValueError, match="did you mean 10.0.0.0/8"):
        audit.normalize_expected([{"ports": [1], "from": ["10.0.0.1/8"]}])


def test_families():
    assert check.families(["ipv6", "ipv4", "ipv6"]) == ["ipv6", "ipv4"]
    with pytest.raises(PolicyError, match="families: an empty list would write nothing"):
        check.families([])
    with pytest.raises(PolicyError, match="families: 'ipv5' is not ipv4 or ipv6"):
        check.families(["ipv5"])
    with pytest.raises(PolicyError, match="should be a list"):
        check.families("ipv4")


@pytest.mark.parametrize("value", ["eth0:1", "eth0\n", ".", "a/b", "-x", "x" * 16, 5])
def test_interface_refusals_name_the_value(value):
    with pytest.raises(PolicyError) as err:
        check.interface(value, "bridges")
    assert str(err.value).startswith("bridges: %r is not an interface name" % (value,))


@pytest.mark.parametrize("func,value", [
    (check.chain, "DOCKERGUARD\n"), (lambda v: check.name(v, "n"), "web\n"),
    (lambda v: check.container_name(v, "n"), "web\n"),
    (lambda v: check.port_range(v, "p"), "80\n80"), (lambda v: check.port_spec(v, "p"), "80/tcp\nx"),
])
def test_no_trailing_newline_passes(func, value):
    with pytest.raises(PolicyError):
        func(value)


def test_overlap_is_judged_on_port_protocol_and_interface():
    def norm(**kw):
        e = {"name": "x", "ports": [(80, 80)], "protocol": "tcp", "allow": ["10.0.0.0/8"],
             "interfaces": [], "action": "drop"}
        e.update(kw)
        return e
    refused = [(norm(), norm(name="y", allow=["::/0"])),
               (norm(interfaces=["eth0"]), norm(name="y", allow=["::/0"], interfaces=["eth+"])),
               (norm(interfaces=["wg+"]), norm(name="y", allow=["::/0"], interfaces=["w+"])),
               (norm(protocol="all"), norm(name="y", protocol="udp", allow=["::/0"]))]
    for pair in refused:
        with pytest.raises(PolicyError, match="both cover 80/"):
            check.distinct_ports(list(pair))
    allowed = [(norm(interfaces=["eth0"]), norm(name="y", allow=["::/0"], interfaces=["eth1"])),
               (norm(interfaces=["eth0"]), norm(name="y", allow=["::/0"], interfaces=["eth1+"])),
               (norm(), norm(name="y", ports=[(81, 90)], allow=["::/0"]))]
    for pair in allowed:
        assert check.distinct_ports(list(pair)) == list(pair)
