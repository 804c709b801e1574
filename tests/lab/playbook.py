# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible on lab nodes, as a user runs it: the community.docker.docker connection,
the collection of this checkout (``.tmp/collections``, linked by the root conftest.py),
JSON results."""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".tmp", "collections")


def write_inventory(nodes, prefix="dg-lab-", local=False):
    """A temporary inventory file of lab node containers (and ``localhost`` with this
    Python when ``local``); its path (the caller removes it)."""
    hosts = dict((node, {"ansible_connection": "community.docker.docker",
                         "ansible_python_interpreter": "/usr/bin/python3"}) for node in nodes)
    if local:
        hosts["localhost"] = {"ansible_connection": "local",
                              "ansible_python_interpreter": sys.executable}
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump({"all": {"hosts": hosts}}, fh)
    return path


def env(**extra):
    """The environment for ansible / ansible-playbook: this collection, JSON output."""
    settings = dict(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                    ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                    ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_NOCOLOR="1",
                    ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
                    ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_RETRY_FILES_ENABLED="0",
                    ANSIBLE_LOCALHOST_WARNING="0")
    settings.update(extra)
    return dict(os.environ, **settings)


def binary(name):
    """``ansible`` / ``ansible-playbook`` of the running Python's environment when there."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else name


def run_module(inventory, host, module, args=None, check=False, timeout=600):
    """Run ``module`` on ``host`` with ``ansible HOST -m``; the host's result dict."""
    cmd = [binary("ansible"), host, "-i", inventory, "-m", module]
    if args:
        cmd += ["-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, check=False)
    try:
        data = json.loads(proc.stdout[proc.stdout.index("{"):])
        return data["plays"][0]["tasks"][0]["hosts"][host]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("ansible gave no JSON result (rc=%d):\n%s\n%s" % (
            proc.returncode, proc.stdout, proc.stderr))
