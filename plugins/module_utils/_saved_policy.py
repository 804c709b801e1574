# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Re-apply a policy saved by a role, outside Ansible (at boot, after dockerd starts).

The roles save the arguments their policy module applied as JSON and install a tiny
program (a template in the role) that imports this file from a copy of the
collection's module_utils and calls ``main``. Both hooks are handled:

- ``"hook": "DOCKER-USER"`` (docker_user role): when DOCKER-USER does not exist yet (at
  boot, before dockerd) the same transaction declares it, so our chain is in place
  before Docker starts any container; Docker keeps an existing DOCKER-USER.
- ``"hook": "INPUT"`` (host_network role): INPUT always exists; loopback, replies and
  the saved ``ssh_sources`` stay allowed exactly as the module renders them.

Per family: read the filter table, render our chain, test the ``iptables-restore
--noflush`` payload, apply it in one transaction (earlier families put back when a
later one fails), read it back. Nothing but our chain and its jump is touched.

Saved file, format 1::

    {"format": 1, "hook": "INPUT", "chain": "DOCKERGUARD-INPUT", "action": "drop",
     "default": "allow", "bridges": [], "ssh_sources": ["10.0.0.5/32"], "ssh_port": 22,
     "families": ["ipv4", "ipv6"], "wait": 10, "entries": [...]}

(``hook`` defaults to DOCKER-USER, so files saved before it existed keep working.)
Exit status of ``main``: 0 in place (or put in place), 1 error (nothing half-applied),
2 bad usage or policy file, 3 with ``--check`` when a change is needed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import subprocess
import sys

from ansible_collections.dockerguard.firewall.plugins.module_utils._chain_apply import (
    TOOLS,
    ApplyError,
    FamilyPlan,
    apply_plans,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    DEFAULT_BRIDGES,
    HOOK_DOCKER_USER,
    HOOK_INPUT,
    PolicyError,
    chain_rules,
    validate,
)

PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DIFFERS = 0, 1, 2, 3


def run(argv, data=None):
    """``run(argv, data) -> (rc, out, err)`` with the C locale, as AnsibleModule does."""
    env = dict(os.environ, LC_ALL="C")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate(data.encode("utf-8") if data is not None else None)
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def which(name):
    for d in os.environ.get("PATH", "").split(os.pathsep) + list(PATH_DIRS):
        path = os.path.join(d, name)
        if d and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def load(saved, where="saved policy"):
    """A saved document (already parsed JSON) -> (policy, families, wait).

    Raises PolicyError naming the bad value, like the modules do.
    """
    if not isinstance(saved, dict):
        raise PolicyError("%s: not a JSON object" % where)
    if saved.get("format") != 1:
        raise PolicyError("%s: unknown format %r (re-run the role that saved it)"
                          % (where, saved.get("format")))
    hook = saved.get("hook", HOOK_DOCKER_USER)
    if hook not in (HOOK_DOCKER_USER, HOOK_INPUT):
        raise PolicyError("%s: hook: %r is not DOCKER-USER or INPUT" % (where, hook))
    if hook == HOOK_INPUT:
        policy = validate(saved.get("entries") or [], "allow", saved.get("action", "drop"),
                          saved.get("chain", "DOCKERGUARD-INPUT"), bridges=[], hook=HOOK_INPUT,
                          ssh_port=saved.get("ssh_port", 22),
                          ssh_sources=saved.get("ssh_sources") or [])
    else:
        policy = validate(saved.get("entries") or [], saved.get("default", "allow"),
                          saved.get("action", "drop"), saved.get("chain", "DOCKERGUARD"),
                          saved.get("bridges", list(DEFAULT_BRIDGES)))
    families = saved.get("families", ["ipv4"])
    if not isinstance(families, list):
        raise PolicyError("%s: families: %r should be a list" % (where, families))
    for family in families:
        if family not in TOOLS:
            raise PolicyError("%s: families: %r is not ipv4 or ipv6" % (where, family))
    wait = saved.get("wait", 10)
    if isinstance(wait, bool) or not isinstance(wait, int) or wait < 0:
        raise PolicyError("%s: wait: %r is not a number of seconds" % (where, wait))
    return policy, list(dict.fromkeys(families)), wait


def plan(policy, families, run_=run, which_=which):
    """Read each family and decide what is wanted. Raises ApplyError."""
    parent = policy["hook"]
    plans = []
    for family in families:
        p = FamilyPlan(family, policy["chain"], parent)
        p.save, p.restore = (which_(t) for t in TOOLS[family])
        if not (p.save and p.restore):
            raise ApplyError("%s: %s / %s not found" % (family, TOOLS[family][0],
                                                        TOOLS[family][1]))
        try:
            p.read(run_)
        except ValueError as exc:
            raise ApplyError("%s: %s" % (family, exc))
        if not p.parent_exists and parent != HOOK_DOCKER_USER:
            raise ApplyError("%s: chain %s does not exist in the filter table" % (family, parent))
        p.after = chain_rules(policy, family)
        # Boot, before dockerd: declare DOCKER-USER in the same transaction.
        p.create_parent = not p.parent_exists
        plans.append(p)
    return plans


def main(argv=None, config=None, prog="dockerguard-apply", run_=run, which_=which, out=None,
         err=None):
    out = out or sys.stdout
    err = err or sys.stderr

    def say(text, stream):
        stream.write("%s: %s\n" % (prog, text))
        stream.flush()

    parser = argparse.ArgumentParser(
        prog=prog, description="Put the allow-lists saved by a dockerguard.firewall role in "
                               "place (at boot, and after dockerd starts).")
    parser.add_argument("--config", default=config, required=config is None,
                        help="saved policy (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 3 when the kernel differs from the policy")
    parser.add_argument("--quiet", action="store_true", help="print errors only")
    args = parser.parse_args(argv)

    def note(text):
        if not args.quiet:
            say(text, out)

    try:
        with open(args.config) as f:
            saved = json.load(f)
        policy, families, wait = load(saved, args.config)
    except (OSError, IOError, ValueError) as exc:  # PolicyError and JSON errors are ValueErrors
        say("cannot use the saved policy: %s" % exc, err)
        return EXIT_USAGE

    try:
        plans = plan(policy, families, run_, which_)
    except ApplyError as exc:
        say(str(exc), err)
        return EXIT_ERROR

    if args.check:
        for p in plans:
            note("%s: %s" % (p.family, "differs from the saved policy" if p.changed
                             else "in place"))
        return EXIT_DIFFERS if any(p.changed for p in plans) else EXIT_OK

    try:
        changed = apply_plans(run_, plans, wait)
    except ApplyError as exc:
        say(str(exc), err)
        return EXIT_ERROR
    status = EXIT_OK
    for p in plans:
        if p.family not in changed:
            note("%s: %s already in place" % (p.family, policy["chain"]))
            continue
        wanted, created = p.after, p.create_parent
        try:
            p.read(run_)
        except (ApplyError, ValueError) as exc:
            say("%s: reading back: %s" % (p.family, exc), err)
            status = EXIT_ERROR
            continue
        if p.before != wanted or p.jump_count != 1 or not p.jump_first:
            say("%s: after applying, %s or its jump from %s differs from the policy"
                % (p.family, policy["chain"], p.parent), err)
            status = EXIT_ERROR
            continue
        note("%s: %s applied (%d rules, jumped to from %s)%s" % (
            p.family, policy["chain"], len(wanted), p.parent,
            ", %s created (Docker not started yet)" % p.parent if created else ""))
    return status
