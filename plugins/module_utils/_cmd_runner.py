# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection runs a command on the managed host.

Shaped like community.general's ``module_utils/_cmd_runner.py`` (``CmdRunner(module,
..., force_lang, path_prefix)``), cut down to what we need: find a binary (also in the
sbin directories, where iptables lives), run it with the C locale so its output parses
the same everywhere, optionally feed it stdin, and start it in a worker thread while
something else runs. ``run(argv, data=None) -> (rc, stdout, stderr)`` never raises for
a non-zero exit: callers turn the status into their own message.

With an AnsibleModule it goes through ``module.run_command`` / ``module.get_bin_path``
(so Ansible's logging, no_log and environment handling apply); without one (the boot
program, where no AnsibleModule exists) through ``subprocess``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

# Searched after PATH: boot-time programs and `become` without a login shell often have
# a PATH without the sbin directories.
PATH_PREFIX = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


class CmdRunner(object):
    """Run host commands, through ``module`` when there is one."""

    def __init__(self, module=None, path_prefix=PATH_PREFIX, force_lang="C"):
        self.module = module
        self.path_prefix = list(path_prefix)
        self.environ_update = {"LC_ALL": force_lang} if force_lang else {}

    def which(self, name):
        """The absolute path of ``name``, or None when it is not installed."""
        if self.module is not None:
            return self.module.get_bin_path(name, opt_dirs=self.path_prefix)
        for d in os.environ.get("PATH", "").split(os.pathsep) + self.path_prefix:
            path = os.path.join(d, name)
            if d and os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        return None

    def run(self, argv, data=None):
        """``(rc, stdout, stderr)`` of ``argv``, with ``data`` (text) on its stdin."""
        if self.module is not None:
            return self.module.run_command(argv, data=data, binary_data=data is not None,
                                           environ_update=self.environ_update)
        env = dict(os.environ, **self.environ_update)
        try:
            # No AnsibleModule, so no run_command to call (the boot program): ansible-core
            # 2.21's sanity flags any subprocess call in module_utils, this one is deliberate.
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else None,  # pylint: disable=ansible-bad-function
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        except OSError as exc:  # as run_command reports a binary that cannot start
            return 127, "", "%s: %s" % (argv[0], exc)
        out, err = proc.communicate(data.encode("utf-8") if data is not None else None)
        return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    __call__ = run

    def start(self, pool, argv):
        """Start ``argv`` in a worker thread of ``pool`` at once; see ``Pending``."""
        return Pending(self, pool, argv)


class Pending(object):
    """A command started in the background (``argv[0]`` looked up first)."""

    def __init__(self, runner, pool, argv):
        self.argv = argv
        self.path = runner.which(argv[0])
        self.future = None
        if self.path is not None:
            self.future = pool.submit(runner.run, [self.path] + list(argv[1:]))

    def result(self):
        """None: not installed; (True, stdout) or (False, error text)."""
        if self.future is None:
            return None
        rc, out, err = self.future.result()
        if rc != 0:
            return False, err.strip() or out.strip()
        return True, out
