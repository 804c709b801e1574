# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify the docker_user role on the lab fleet with real traffic.

Per node (Docker 20.10 and Docker 28.5), in this order:
1. what the role put in the kernel and on disk;
2. the allowed client reaches the restricted port, the denied one does not, the other
   port follows ``docker_user_default``;
3. after dockerd is stopped and started again (the way the node started it; containers
   come back by their restart policy) the same probes give the same answers, our chain
   is unchanged and its jump still first in DOCKER-USER, with nothing re-applied; the
   denied client, probing all along, was never served;
4. the boot path: dockerd stopped, every rule and chain removed (the kernel as at boot),
   then exactly what boot runs (the unit's ExecStart where the role installed units,
   else the apply program), then dockerd, then the docker.service ExecStartPost: our
   chain was there before dockerd started, the denied client probing all through the
   start was never served (while the allowed one got through), and the probes give the
   same answers.
"""

from __future__ import absolute_import, division, print_function

import json
import re
import time

import pytest

# tests.lab: the repository root is on PYTHONPATH (molecule.yml verifier.env)
from tests.lab.node import dockerd_running, restart_dockerd, start_dockerd, stop_dockerd, wait_published
from tests.lab.verdicts import NodeVars, check_loops, check_probes, loops, services, through, unit_command

testinfra_hosts = ["ansible://lab_nodes"]

PROGRAM = "/usr/local/sbin/dockerguard-apply"
CONFIG = "/etc/dockerguard/docker_user.json"
LIB = "/usr/local/lib/dockerguard-apply/ansible_collections/dockerguard/firewall/plugins/module_utils"
UNIT = "/etc/systemd/system/dockerguard.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/dockerguard.service"
DROPIN = "/etc/systemd/system/docker.service.d/dockerguard.conf"
CHAIN = "DOCKERGUARD"
JUMP = "-A DOCKER-USER -j %s" % CHAIN

WIPE = """
for cmd in iptables ip6tables; do
  for t in filter nat mangle raw security; do
    $cmd -t $t -F 2>/dev/null; $cmd -t $t -X 2>/dev/null
  done
  for c in INPUT FORWARD OUTPUT; do $cmd -P $c ACCEPT; done
done
conntrack -F >/dev/null 2>&1 || true
"""


@pytest.fixture(scope="module")
def nodevars():
    return NodeVars()


def our_state(host, family="ipv4"):
    """Our chain's rules and DOCKER-USER's rules, as iptables-save prints them."""
    save = "iptables-save" if family == "ipv4" else "ip6tables-save"
    text = host.check_output("%s -t filter", save)
    ours = [ln for ln in text.splitlines() if ln.startswith("-A %s " % CHAIN)]
    user = [ln for ln in text.splitlines() if ln.startswith("-A DOCKER-USER ")]
    return {"text": text, "ours": ours, "docker_user": user,
            "has_docker_user": bool(re.search(r"(?m)^:DOCKER-USER ", text)),
            "forward_jump": "-A FORWARD -j DOCKER-USER" in text.splitlines()}


def saved_families(host):
    return json.loads(host.file(CONFIG).content_string)["families"]


# -- 1. what the role installed --------------------------------------------------------

def test_policy_in_kernel(host, nodevars):
    v = nodevars(host)
    state = our_state(host)
    assert state["docker_user"][:1] == [JUMP], state["docker_user"]
    assert state["docker_user"].count(JUMP) == 1
    allowed = v["lab_clients"]["allowed"]["address"]
    assert any(r.startswith("-A %s -s %s/32 -p tcp -m conntrack --ctorigdstport 8080 "
                            "--ctdir ORIGINAL" % (CHAIN, allowed)) for r in state["ours"]), \
        state["ours"]
    deny_all = "-m conntrack --ctstate DNAT --ctdir ORIGINAL"
    assert any(deny_all in r for r in state["ours"]) == (v["docker_user_default"] == "deny")
    # IPv6: applied (and saved) exactly where Docker manages ip6tables (Docker 28 here).
    v6 = our_state(host, "ipv6")
    assert ("ipv6" in saved_families(host)) == v6["has_docker_user"]
    if v6["has_docker_user"]:
        assert v6["docker_user"][:1] == [JUMP]


def test_persistence_installed(host, nodevars):
    v = nodevars(host)
    program = host.file(PROGRAM)
    assert program.is_file and program.mode == 0o755 and program.user == "root"
    for name in ("_iptables.py", "_allowlist.py", "_policy.py", "_chain_apply.py"):
        assert host.file("%s/%s" % (LIB, name)).is_file
    saved = json.loads(host.file(CONFIG).content_string)
    assert saved["chain"] == CHAIN and saved["default"] == v["docker_user_default"]
    assert saved["entries"][0]["allow"] == [v["lab_clients"]["allowed"]["address"]]
    units = [host.file(p).exists for p in (UNIT, WANTS, DROPIN)]
    if v["docker_user_init"] == "systemd":
        unit = host.file(UNIT).content_string
        assert "Before=docker.service" in unit and "WantedBy=multi-user.target" in unit
        assert "ExecStart=%s\n" % PROGRAM in unit
        assert host.file(WANTS).is_symlink and host.file(WANTS).linked_to == UNIT
        assert "ExecStartPost=-%s\n" % PROGRAM in host.file(DROPIN).content_string
    else:  # no systemd in the node: program and policy only (the role warned)
        assert units == [False, False, False]


def test_program_agrees(host):
    """The boot program renders exactly what the module applied: nothing to change."""
    out = host.run("%s --check", PROGRAM)
    assert out.rc == 0, out.stdout + out.stderr
    assert "differs" not in out.stdout


# -- 2. real traffic --------------------------------------------------------------------

def test_probes(host, nodevars):
    check_probes(nodevars(host), "after converge")


# -- 3. dockerd restart -------------------------------------------------------------------

def test_dockerd_restart(host, nodevars):
    v = nodevars(host)
    node = v["ansible_host"]
    before = {f: our_state(host, f) for f in saved_families(host)}
    through(v, lambda: restart_dockerd(node, v["lab_dockerd_command"]), "during the dockerd restart")
    for family, was in before.items():
        now = our_state(host, family)
        assert now["ours"] == was["ours"], "%s: our chain changed across the restart" % family
        assert now["docker_user"][:1] == [JUMP] and now["docker_user"].count(JUMP) == 1, \
            now["docker_user"]
        assert now["forward_jump"]
    # Nothing was re-applied, and nothing needs to be.
    out = host.run("%s --check", PROGRAM)
    assert out.rc == 0, out.stdout + out.stderr
    check_probes(v, "after a dockerd restart")


# -- 4. boot path -------------------------------------------------------------------------

def test_boot_path(host, nodevars):
    v = nodevars(host)
    node = v["ansible_host"]
    families = saved_families(host)
    before = {f: our_state(host, f)["ours"] for f in families}
    if v["docker_user_init"] == "systemd":
        boot = unit_command(host.file(UNIT).content_string, "ExecStart", UNIT)
        post = unit_command(host.file(DROPIN).content_string, "ExecStartPost", DROPIN)
    else:  # what the README tells operators without systemd to hook into their init
        boot = post = PROGRAM

    stop_dockerd(node)
    host.check_output(WIPE)
    for family in ("ipv4", "ipv6"):
        fresh = our_state(host, family)
        assert not fresh["has_docker_user"] and not fresh["ours"], fresh["text"]

    # What boot runs, before dockerd.
    out = host.run(boot)
    print("boot (%s): %s%s" % (boot, out.stdout, out.stderr))
    assert out.rc == 0, out.stdout + out.stderr
    assert not dockerd_running(node)
    for family in families:
        now = our_state(host, family)
        assert now["has_docker_user"] and now["docker_user"] == [JUMP], now["text"]
        assert now["ours"] == before[family], "%s: boot rendered another chain" % family
        assert "DOCKER-USER created" in out.stdout

    # dockerd starts (containers come back by their restart policy), then ExecStartPost;
    # meanwhile both clients keep probing the restricted port.
    denied, allowed = loops(v)
    with denied, allowed:
        start_dockerd(node, v["lab_dockerd_command"])
        out = host.run(post)
        wait_published(node, *services(v))
        allowed.wait_reached(since=time.time())
    print("after dockerd (%s): %s%s" % (post, out.stdout, out.stderr))
    assert out.rc == 0, out.stdout + out.stderr
    assert "already in place" in out.stdout
    check_loops(denied, allowed, "while dockerd started")
    for family in families:
        now = our_state(host, family)
        assert now["ours"] == before[family]
        assert now["docker_user"][:1] == [JUMP] and now["forward_jump"], now["text"]
    check_probes(v, "after the boot path")
