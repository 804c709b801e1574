# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock-out safety net of host_input_policy: a rollback that outlives the module.

Before the change is written, ``RollbackTimer.arm`` starts a detached process (its own
session, so neither Ansible's async timeout, which kills the module's process group,
nor a dropped connection reaches it) holding the put-back payloads. Once the change is
in place the module writes ``<confirm_file>.applied``; the controller reconnects and
creates ``confirm_file``. The timer then keeps the change; if ``confirm_file`` does not
appear within ``rollback_timeout`` seconds it restores our chains as they were, whether
or not the module is still alive, and removes its marker. The module only waits for
the timer's verdict. The timer also holds the module's host lock (``_host_lock``) until
it is done, so no other run interleaves with a change that may still be rolled back.

Unusable settings (``confirm_file`` empty, or a place where it cannot be written) are
refused by ``check`` before anything changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import subprocess
import sys
import time

# Between arming and the ``.applied`` marker the module writes the change (seconds
# with the xtables lock); if it dies there, the countdown starts after this much.
APPLY_GRACE = 60

# The detached process: standard library only (the module's files are gone once the
# module exits). Reads its settings on stdin.
_TIMER = r"""
import json, os, signal, subprocess, sys, time
cfg = json.loads(sys.stdin.read())
sys.stdin.close()
signal.signal(signal.SIGHUP, signal.SIG_IGN)
confirm, marker, result = cfg["confirm"], cfg["confirm"] + ".applied", cfg["confirm"] + ".result"
start = time.time()
deadline = None
while True:
    if deadline is None and os.path.exists(marker):
        deadline = time.time() + cfg["timeout"]
    if deadline is None and time.time() > start + cfg["grace"]:
        deadline = time.time() + cfg["timeout"]
    if os.path.exists(confirm):
        for path in (confirm, marker):
            if os.path.exists(path):
                os.remove(path)
        verdict = {"confirmed": True}
        break
    if deadline is not None and time.time() >= deadline:
        errors = []
        for argv, payload in cfg["undo"]:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=dict(os.environ, LC_ALL="C"))
            out, err = p.communicate(payload.encode("utf-8"))
            if p.returncode != 0:
                errors.append("%s: %s" % (argv[0], (err or out).decode("utf-8", "replace").strip()))
        if os.path.exists(marker):
            os.remove(marker)
        verdict = {"confirmed": False, "errors": errors}
        break
    time.sleep(0.2)
try:
    os.kill(cfg["module_pid"], 0)
    alive = True
except OSError:
    alive = False
if alive:  # the module reports it; a dead module leaves no stale file behind
    with open(result + ".tmp", "w") as f:
        json.dump(verdict, f)
    os.rename(result + ".tmp", result)
"""


class ConfirmError(RuntimeError):
    """The confirm settings cannot work; nothing was changed."""


class RollbackTimer(object):
    """Keep a change only if ``confirm_file`` appears within ``timeout`` seconds."""

    def __init__(self, confirm_file, timeout, python=None):
        self.confirm_file = confirm_file
        self.timeout = timeout
        self.python = python or sys.executable
        self.marker = confirm_file + ".applied"
        self.result = confirm_file + ".result"
        self.proc = None

    def check(self):
        """Refuse unusable settings, before any change; clear stale files of old runs."""
        if not self.confirm_file:
            raise ConfirmError("rollback_timeout: %d needs a confirm_file, and confirm_file is "
                               "empty: without one nothing could confirm the change, so it "
                               "could never be kept safely. Nothing changed." % self.timeout)
        try:
            d = os.path.dirname(self.confirm_file)
            if d and not os.path.isdir(d):
                os.makedirs(d, 0o700)
            for stale in (self.confirm_file, self.marker, self.result):
                if os.path.exists(stale):
                    os.remove(stale)
            with open(self.marker, "w") as f:  # the module must be able to write it
                f.write("")
            os.remove(self.marker)
        except (IOError, OSError) as exc:
            raise ConfirmError("confirm_file: %s cannot be used (%s): the change could not be "
                               "confirmed, nor rolled back safely. Nothing changed."
                               % (self.confirm_file, exc))

    def arm(self, undo, keep_fds=()):
        """Start the detached timer with ``undo`` ([(argv, payload)]) before the change."""
        cfg = {"confirm": self.confirm_file, "timeout": self.timeout,
               "grace": APPLY_GRACE, "undo": undo, "module_pid": os.getpid()}
        with open(os.devnull, "w") as null:
            # A detached process that outlives the module: run_command cannot start one
            # (ansible-core 2.21's sanity flags any subprocess call in module_utils).
            self.proc = subprocess.Popen([self.python, "-c", _TIMER], stdin=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                                         stdout=null, stderr=null, close_fds=True,
                                         pass_fds=tuple(keep_fds), start_new_session=True)
        self.proc.stdin.write(json.dumps(cfg).encode("utf-8"))
        self.proc.stdin.close()

    def disarm(self):
        """Nothing was changed after all: stop the timer without a rollback."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        if os.path.exists(self.marker):
            os.remove(self.marker)

    def wait(self):
        """The change is in place: say so, then wait for the timer's verdict.

        Returns (confirmed, errors of the rollback).
        """
        with open(self.marker, "w") as f:
            f.write("%d\n" % os.getpid())
        limit = time.time() + self.timeout + APPLY_GRACE
        while time.time() < limit:
            if os.path.exists(self.result):
                with open(self.result) as f:
                    verdict = json.load(f)
                os.remove(self.result)
                self.proc.wait()
                return verdict["confirmed"], verdict.get("errors", [])
            if self.proc.poll() is not None and not os.path.exists(self.result):
                break  # it ended without a verdict (it writes the verdict, then ends)
            time.sleep(0.2)
        return None, ["the rollback timer ended without a verdict"]
