# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 12: the boot program (``_saved_policy``) with ``backend: nftables`` on real nft.

In a network namespace of its own: docker_user_policy (``backend: nftables``, through a
real ansible-playbook) writes our table; the policy is saved as the docker_user role
saves it (the module's arguments and the backend it chose); then the boot program, run
as the role installs it (``python3 -I`` with only the copied module_utils):

- ``--check`` right after the module: in place (the program renders what the module wrote);
- after ``nft flush ruleset`` (what ``systemctl restart nftables`` does when
  /etc/nftables.conf begins with it): ``--check`` exits 3, a run puts the table back
  exactly as the module wrote it, a second run finds it in place;
- a leftover iptables chain of ours with its jump from DOCKER-USER (a host moved from the
  iptables backend) is removed by the same run that writes the table;
- a saved ``backend`` that is not iptables or nftables: exit 2, nothing changed.
Run under ``flock /tmp/dg-lab.lock``.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_run import playbook
from tests.lab.netns import can_use_netns, namespace, sh

from ansible_collections.dockerguard.firewall.plugins.filter.module_utils_files import (
    MODULE_UTILS,
    module_utils_files,
)

LIB = os.path.join("ansible_collections", "dockerguard", "firewall", "plugins", "module_utils")
ARGS = {"backend": "nftables", "default": "deny", "action": "reject",
        "bridges": ["docker0", "br-+"], "families": ["ipv4", "ipv6"],
        "entries": [{"name": "web", "ports": [8080], "protocol": "tcp",
                     "allow": ["10.250.21.10", "10.250.23.0/24", "fd00:250:21::/64"]},
                    {"name": "dns", "ports": ["5300-5310"], "protocol": "all",
                     "allow": ["10.250.24.0/24"], "interfaces": ["eth+"]}]}
TABLE = ("inet", "dockerguard")
# What the boot program runs as (roles/persist_policy/templates/apply.j2).
BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
        "from ansible_collections.dockerguard.firewall.plugins.module_utils._saved_policy "
        "import main; sys.exit(main(sys.argv[3:], config=sys.argv[2]))")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    why = can_use_netns()
    if why or not shutil.which("nft"):
        pytest.skip(why or "nft not installed")
    tmp = tmp_path_factory.mktemp("saved-nft")
    target = tmp / "lib" / LIB
    target.mkdir(parents=True)
    for name in module_utils_files("_saved_policy"):   # what the role copies
        shutil.copy(os.path.join(MODULE_UTILS, name), str(target / name))
    with namespace("dg-sp") as ns:
        yield {"ns": ns, "lib": str(tmp / "lib"), "tmp": tmp}


def module(ns, args):
    tasks = ("    - name: Apply\n"
             "      dockerguard.firewall.docker_user_policy: %s\n"
             "      register: out\n" % json.dumps(args))
    rc, data, log = playbook(tasks, ns=ns)
    return data


def save(lab, result, args, name="docker_user.json"):
    """The policy as roles/docker_user saves it."""
    saved = {"format": 1, "backend": result["backend"], "chain": "DOCKERGUARD",
             "default": args["default"], "action": args["action"], "bridges": args["bridges"],
             "wait": 10, "families": sorted(result["families"]), "entries": args["entries"]}
    path = lab["tmp"] / name
    path.write_text(json.dumps(saved))
    return str(path)


def boot(lab, config, *argv):
    proc = subprocess.run(["ip", "netns", "exec", lab["ns"], sys.executable, "-I", "-c", BOOT,
                           lab["lib"], config] + list(argv),
                          capture_output=True, text=True, check=False, timeout=120)
    print("boot program %s: rc=%d %s%s" % (" ".join(argv), proc.returncode, proc.stdout,
                                           proc.stderr))
    return proc


def table(ns):
    return sh("nft", "list", "table", *TABLE, ns=ns, check=False) or None


def test_boot_program_puts_back_what_the_module_wrote(lab):
    ns = lab["ns"]
    result = module(ns, ARGS)
    assert result["changed"] and result["backend"] == "nftables", result
    written = table(ns)
    assert written and "dockerguard" in written
    config = save(lab, result, ARGS)

    proc = boot(lab, config, "--check")
    assert proc.returncode == 0 and "differs" not in proc.stdout, proc.stdout + proc.stderr
    assert "in place" in proc.stdout

    sh("nft", "flush", "ruleset", ns=ns)          # systemctl restart nftables
    assert table(ns) is None
    assert boot(lab, config, "--check").returncode == 3
    proc = boot(lab, config)
    assert proc.returncode == 0, proc.stderr
    assert "table inet dockerguard applied" in proc.stdout
    assert table(ns) == written, "the boot program wrote another table than the module"
    proc = boot(lab, config)
    assert proc.returncode == 0 and "already in place" in proc.stdout, proc.stdout

    # and the module agrees: nothing to change
    again = module(ns, ARGS)
    assert again["changed"] is False, again


def test_boot_program_retires_our_iptables_chain(lab):
    ns = lab["ns"]
    sh("nft", "flush", "ruleset", ns=ns)
    sh("iptables", "-N", "DOCKER-USER", ns=ns)
    sh("iptables", "-A", "FORWARD", "-j", "DOCKER-USER", ns=ns)
    ipt_args = dict(ARGS, backend="iptables", families=["ipv4"])
    result = module(ns, ipt_args)
    assert result["backend"] == "iptables" and result["changed"], result
    assert "-A DOCKER-USER -j DOCKERGUARD" in sh("iptables-save", "-t", "filter", ns=ns)
    config = save(lab, dict(result, backend="nftables"), ARGS, "moved.json")

    proc = boot(lab, config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    filt = sh("iptables-save", "-t", "filter", ns=ns)
    assert "DOCKERGUARD" not in filt, filt
    assert "-A FORWARD -j DOCKER-USER" in filt            # Docker's chain is not ours: kept
    assert table(ns) is not None


def test_unknown_saved_backend_is_refused(lab):
    ns = lab["ns"]
    before = sh("nft", "list", "ruleset", ns=ns)
    path = lab["tmp"] / "bad.json"
    path.write_text(json.dumps({"format": 1, "backend": "nft", "entries": []}))
    proc = boot(lab, str(path))
    assert proc.returncode == 2
    assert "backend: 'nft' is not iptables or nftables" in proc.stderr
    assert sh("nft", "list", "ruleset", ns=ns) == before
