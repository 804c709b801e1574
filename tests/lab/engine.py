# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docker CLI for the lab: one error type, one wrapper, one wait."""

from __future__ import absolute_import, division, print_function

import json
import shutil
import subprocess
import time


class LabError(RuntimeError):
    """The lab could not be set up or did not behave (not a verdict of a test)."""


def run(cmd, check=True, input=None, timeout=300, text=True):
    """Run ``cmd``; CompletedProcess (text unless ``text=False``). LabError when it fails."""
    proc = subprocess.run([str(a) for a in cmd], input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, check=False,
                          universal_newlines=text)
    if check and proc.returncode != 0:
        err = proc.stderr if text else proc.stderr.decode("utf-8", "replace")
        raise LabError("%s failed (rc=%d): %s" % (" ".join(str(a) for a in cmd),
                                                  proc.returncode, err.strip()))
    return proc


def docker(*args, **kwargs):
    """The host's docker CLI; CompletedProcess (text). ``check``, ``timeout``, ``input``."""
    kwargs.setdefault("timeout", 120)
    return run(["docker"] + list(args), **kwargs)


def wait_for(predicate, timeout=90, step=0.3, what="condition"):
    """Call ``predicate`` until it is true; LabError naming ``what`` after ``timeout`` s."""
    deadline = time.time() + timeout
    while True:
        if predicate():
            return
        if time.time() > deadline:
            raise LabError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(step)


def docker_unavailable():
    """None when the host's docker CLI reaches a daemon, else why not (to skip)."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        proc = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return "docker info failed: %s" % exc
    if proc.returncode != 0:
        return "no docker daemon reachable (docker info: %s)" % proc.stderr.strip()
    return None


def image_present(image):
    return docker("image", "inspect", image, check=False).returncode == 0


def missing_images(images):
    """None when every image exists, else the reason to skip naming the first missing one."""
    for image in images:
        if not image_present(image):
            return "lab image %s missing (scripts/lab/images.sh builds it)" % image
    return None


class Engine(object):
    """The docker CLI of one engine; ``prefix`` is how to reach it (``docker`` or
    ``docker exec NODE docker``). Remembers what it created so ``cleanup()`` removes it
    even when a test fails."""

    def __init__(self, label, prefix=("docker",), node=None):
        self.label = label
        self.prefix = list(prefix)
        self.node = node          # lab node container name, when inside one
        self.containers = []
        self.networks = []

    def docker(self, *args, **kwargs):
        return run(self.prefix + list(args), **kwargs).stdout.strip()

    def container(self, name, *args):
        self.containers.append(name)
        return self.docker("run", "-d", "--name", name, *args)

    def create(self, name, *args):
        self.containers.append(name)
        return self.docker("create", "--name", name, *args)

    def network(self, name, *args):
        self.networks.append(name)
        return self.docker("network", "create", *(list(args) + [name]))

    def inspect(self, *names):
        return json.loads(self.docker("inspect", *names))

    def cleanup(self):
        if self.containers:
            run(self.prefix + ["rm", "-f"] + self.containers, check=False)
            self.containers = []
        for net in reversed(self.networks):
            run(self.prefix + ["network", "rm", net], check=False)
        self.networks = []


def routes_to(address):
    """The host's routes (other than the default) that cover ``address``: a lab subnet
    must not overlap any (docs/lab.md section 4)."""
    out = run(["ip", "-4", "route", "show", "to", "match", address], check=False).stdout
    return [r for r in out.splitlines() if r and not r.startswith("default")]
