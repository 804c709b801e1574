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
- ``"backend": "nftables"``: our table (``inet dockerguard`` / ``inet dockerguard_input``)
  replaced whole in one ``nft -f``, as the module writes it; our iptables chain and jump,
  if any are left, removed in the same run. It is run again after anything that flushed
  the ruleset (``systemctl restart nftables``), and at boot it needs nothing of Docker's.

Per family: read the filter table, render our chain, test the ``iptables-restore
--noflush`` payload, apply it in one transaction (earlier families put back when a
later one fails), read it back: the one policy transaction the modules also run
(``_policy_transaction.apply_policy``). Nothing but our chain and its jump is touched.

Saved file, format 1::

    {"format": 1, "backend": "iptables", "hook": "INPUT", "chain": "DOCKERGUARD-INPUT",
     "action": "drop", "default": "allow", "bridges": [], "ssh_sources": ["10.0.0.5/32"],
     "ssh_port": 22, "families": ["ipv4", "ipv6"], "wait": 10, "entries": [...]}

(``hook`` defaults to DOCKER-USER and ``backend`` to iptables, so files saved before
they existed keep working. The roles save the backend the module chose, never ``auto``:
at boot Docker is not running to be asked.)
Exit status of ``main``: 0 in place (or put in place), 1 error (nothing half-applied),
2 bad usage or policy file, 3 with ``--check`` when a change is needed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import sys

from ansible_collections.dockerguard.firewall.plugins.module_utils._allowlist import (
    families as check_families,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._cmd_runner import CmdRunner
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    DEFAULT_BRIDGES,
    HOOK_DOCKER_USER,
    HOOK_INPUT,
    PolicyError,
    validate,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy_backend import backend_for
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy_transaction import (
    ApplyError,
    apply_policy,
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DIFFERS = 0, 1, 2, 3
SAVED_BACKENDS = ("iptables", "nftables")


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
    families = check_families(saved.get("families", ["ipv4"]), "%s: families" % where)
    wait = saved.get("wait", 10)
    if isinstance(wait, bool) or not isinstance(wait, int) or wait < 0:
        raise PolicyError("%s: wait: %r is not a number of seconds" % (where, wait))
    return policy, families, wait


def saved_backend(saved, where="saved policy"):
    """The backend a saved document names (``iptables`` when it names none)."""
    backend = saved.get("backend", "iptables")
    if backend not in SAVED_BACKENDS:
        raise PolicyError("%s: backend: %r is not iptables or nftables" % (where, backend))
    return backend


def main(argv=None, config=None, prog="dockerguard-apply", runner=None, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    runner = runner or CmdRunner()

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
        backend = saved_backend(saved, args.config)
    except (OSError, IOError, ValueError) as exc:  # PolicyError and JSON errors are ValueErrors
        say("cannot use the saved policy: %s" % exc, err)
        return EXIT_USAGE

    nft = backend == "nftables"
    try:
        # Boot, before dockerd: DOCKER-USER is declared in the same transaction, so our
        # chain is in place before Docker starts any container. INPUT always exists.
        # Our nftables table needs nothing of Docker's.
        res = apply_policy(runner, policy, families, check_mode=args.check, wait=wait,
                           backend=backend_for(runner, backend, families) if nft else None,
                           create_parent=policy["hook"] == HOOK_DOCKER_USER and not nft,
                           check_backend=nft)
    except ApplyError as exc:
        say(str(exc), err)
        return EXIT_ERROR

    for p in res.plans:
        if p.skipped:
            note("%s: skipped (%s)" % (p.family, p.skipped))
        elif nft:
            note("%s: table %s %s" % (p.family, p.table.key, (
                ("differs from the saved policy" if p.changed else "in place") if args.check
                else "applied (%d rules)" % len(p.after) if p.family in res.applied
                else "already in place")))
        elif args.check:
            note("%s: %s" % (p.family, "differs from the saved policy" if p.changed
                             else "in place"))
        elif p.family not in res.applied:
            note("%s: %s already in place" % (p.family, policy["chain"]))
        else:
            note("%s: %s applied (%d rules, jumped to from %s)%s" % (
                p.family, policy["chain"], len(p.after), p.parent,
                ", %s created (Docker not started yet)" % p.parent if p.create_parent else ""))
    if args.check and res.changed:
        return EXIT_DIFFERS
    return EXIT_OK
