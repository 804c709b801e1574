# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify the docker_user role with ``backend: nftables`` on a firewalld node, with real traffic.

The node runs firewalld 2.5 and Docker 28.5 (``iptables+firewalld``); the role wrote our
table ``inet dockerguard`` (and nothing in iptables). In this order:
1. what the role put in the kernel and on disk (the units with their nftables.service
   hooks, written as in an image build: the node has no systemd);
2. the allowed client reaches the restricted port, the denied one does not, the other
   port follows ``docker_user_default``;
3. ``firewall-cmd --reload``: firewalld deletes and rebuilds its own table, never ours;
   the denied client, probing all along, is never served; our table is unchanged;
4. a dockerd restart: the same;
5. ``systemctl restart nftables`` with Debian's /etc/nftables.conf (``flush ruleset``),
   run as systemd runs it (the nftables unit's ExecStop, its ExecStart, then our unit's
   ExecStart, which PartOf= and After= order after it): our table is gone after the
   flush and back exactly after our unit; then firewalld's table and Docker's chains,
   which the flush removed too, are put back (firewalld reload, dockerd restart) and
   the probes are right again;
6. the boot path (a reboot): the ruleset empty as at boot, firewalld's table rebuilt,
   our unit's ExecStart before dockerd starts, then dockerd and the docker.service
   ExecStartPost; the denied client never served while Docker starts its containers.
"""

from __future__ import absolute_import, division, print_function

import json

import pytest

# tests.lab: the repository root is on PYTHONPATH (molecule.yml verifier.env)
from tests.lab.node import dockerd_running, restart_dockerd, start_dockerd, stop_dockerd, wait_published
from tests.lab.verdicts import NodeVars, check_probes, services, through, unit_command

testinfra_hosts = ["ansible://firewalld_nodes"]

PROGRAM = "/usr/local/sbin/dockerguard-apply"
CONFIG = "/etc/dockerguard/docker_user.json"
UNIT = "/etc/systemd/system/dockerguard.service"
DROPIN = "/etc/systemd/system/docker.service.d/dockerguard.conf"
NFT_WANTS = "/etc/systemd/system/nftables.service.wants/dockerguard.service"
NFT_UNIT = "/lib/systemd/system/nftables.service"
TABLE = "inet dockerguard"


@pytest.fixture(scope="module")
def nodevars():
    return NodeVars()


def our_table(host):
    """``nft list table inet dockerguard`` (None when there is none)."""
    out = host.run("nft list table %s", TABLE)
    return out.stdout if out.rc == 0 else None


def firewalld_reload(host):
    host.check_output("firewall-cmd --reload")


def program_in_place(host):
    out = host.run("%s --check", PROGRAM)
    assert out.rc == 0, out.stdout + out.stderr
    assert "differs" not in out.stdout


# -- 1. what the role installed --------------------------------------------------------

def test_table_in_kernel(host, nodevars):
    v = nodevars(host)
    table = our_table(host)
    assert table is not None, host.run("nft list tables").stdout
    data = json.loads(host.check_output("nft -j list table %s", TABLE))["nftables"]
    chains = [i["chain"] for i in data if "chain" in i]
    base = [c for c in chains if c.get("hook") == "forward"]
    assert len(base) == 1 and base[0]["prio"] < 0, chains      # before Docker's and firewalld's
    elements = json.dumps([i["set"] for i in data if "set" in i])
    assert v["lab_clients"]["allowed"]["address"] in elements, elements
    assert v["lab_clients"]["denied"]["address"] not in elements
    # nothing of ours in iptables: the nftables backend writes only its table
    for save in ("iptables-save", "ip6tables-save"):
        assert "DOCKERGUARD" not in host.check_output("%s -t filter", save)


def test_persistence_installed(host):
    saved = json.loads(host.file(CONFIG).content_string)
    assert saved["backend"] == "nftables", saved
    unit = host.file(UNIT).content_string
    assert "ExecStart=%s\n" % PROGRAM in unit
    for line in ("PartOf=nftables.service", "ReloadPropagatedFrom=nftables.service",
                 "WantedBy=multi-user.target nftables.service"):
        assert line + "\n" in unit, line
    assert "nftables.service" in unit_command(unit, "After", UNIT).split()
    assert host.file(NFT_WANTS).is_symlink and host.file(NFT_WANTS).linked_to == UNIT
    assert "ExecStartPost=-%s\n" % PROGRAM in host.file(DROPIN).content_string


def test_program_agrees(host):
    """The boot program renders exactly what the module applied: nothing to change."""
    program_in_place(host)


# -- 2. real traffic --------------------------------------------------------------------

def test_probes(host, nodevars):
    check_probes(nodevars(host), "after converge")


# -- 3, 4. firewall-cmd --reload, dockerd restart ------------------------------------------

def survives(host, v, event, what):
    """``event`` runs while both clients probe: the denied one is never served, our
    table is unchanged, nothing is left to re-apply, the probes are right."""
    before = our_table(host)
    through(v, event, "during " + what)
    assert our_table(host) == before, "our table changed across " + what
    program_in_place(host)
    check_probes(v, "after " + what)


def test_firewalld_reload(host, nodevars):
    survives(host, nodevars(host), lambda: firewalld_reload(host), "firewall-cmd --reload")


def test_dockerd_restart(host, nodevars):
    v = nodevars(host)
    survives(host, v, lambda: restart_dockerd(v["ansible_host"], v["lab_dockerd_command"]),
             "a dockerd restart")


# -- 5. systemctl restart nftables (flush ruleset) ----------------------------------------

def test_nftables_restart(host, nodevars):
    v = nodevars(host)
    before = our_table(host)
    nft_unit = host.file(NFT_UNIT).content_string
    assert "flush ruleset" in host.file("/etc/nftables.conf").content_string
    # systemctl restart nftables: its stop, its start, then ours (PartOf=, After=).
    host.check_output(unit_command(nft_unit, "ExecStop", NFT_UNIT))
    host.check_output(unit_command(nft_unit, "ExecStart", NFT_UNIT))
    assert our_table(host) is None, "the nftables restart did not flush our table"
    out = host.run(unit_command(host.file(UNIT).content_string, "ExecStart", UNIT))
    print("our unit after nftables.service: %s%s" % (out.stdout, out.stderr))
    assert out.rc == 0, out.stdout + out.stderr
    assert our_table(host) == before, "the unit put back another table"
    # The flush also removed firewalld's table and Docker's chains (its DNAT with them):
    # put them back as an operator would; ours stays as it is.
    firewalld_reload(host)
    restart_dockerd(v["ansible_host"], v["lab_dockerd_command"])
    wait_published(v["ansible_host"], *services(v))
    assert our_table(host) == before
    program_in_place(host)
    check_probes(v, "after systemctl restart nftables")


# -- 6. boot path -------------------------------------------------------------------------

def test_boot_path(host, nodevars):
    v = nodevars(host)
    node = v["ansible_host"]
    before = our_table(host)
    boot = unit_command(host.file(UNIT).content_string, "ExecStart", UNIT)
    post = unit_command(host.file(DROPIN).content_string, "ExecStartPost", DROPIN)

    stop_dockerd(node)
    host.check_output("nft flush ruleset")          # the kernel as at boot
    assert our_table(host) is None
    firewalld_reload(host)                          # firewalld.service starts (ours is After= it)
    out = host.run(boot)                            # dockerguard.service, before docker.service
    print("boot (%s): %s%s" % (boot, out.stdout, out.stderr))
    assert out.rc == 0, out.stdout + out.stderr
    assert not dockerd_running(node)
    assert our_table(host) == before, "boot rendered another table"
    seen = {}

    def start_docker():
        start_dockerd(node, v["lab_dockerd_command"])
        seen["post"] = host.run(post)

    through(v, start_docker, "while dockerd started")
    print("after dockerd (%s): %s%s" % (post, seen["post"].stdout, seen["post"].stderr))
    assert seen["post"].rc == 0
    assert our_table(host) == before
    check_probes(v, "after the boot path")
