# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A lab for the reliability tests (issue 8): one real node, real clients, real probes.

``Lab`` starts, on the host's docker engine, a dual-stack lab network of its own, the
probe clients of ``CLIENTS`` at fixed addresses (busybox; ``outside`` also serves HTTP,
for containers' outbound traffic) and one fleet node (docs/lab.md section 3: Docker
inside Docker, the exact flags, no ``--privileged``), optionally with the iptables
alternative set to the legacy backend before its dockerd starts. The modules run on the
node through a real ``ansible`` / ``ansible-playbook`` with the
``community.docker.docker`` connection, as a user runs them.

Probes, dockerd stop/start and waits are those of ``tests.lab.probe`` / ``tests.lab.node``.
``saves()`` gives ``iptables-save`` and ``ip6tables-save`` without comments
and with counters zeroed, so before/after comparisons are exact.

Names: ``dg-rel-<id>-<tag>-...`` with the lab id of ``tests.lab.fleet``
(``DG_MOL_LAB_ID``, else a hash of the checkout path), so several checkouts can run at
once; the network is a /24 of 10.250.128.0/18 and a /64 of fd00:250::/48 derived from
the id and the tag. Everything is labelled and removed at the end, also on failure.
Traffic goes only between the lab's own containers.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import re
import subprocess
import tempfile
import time

from tests.lab import node as nodes
from tests.lab import playbook
from tests.lab.engine import LabError, docker, docker_unavailable, missing_images, routes_to, wait_for
from tests.lab.fleet import lab_id
from tests.lab.probe import probe, probe_many

COLLECTIONS = playbook.COLLECTIONS
SERVICE_IMAGE = nodes.SERVICE_IMAGE
LEGACY = ("update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null && "
          "update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null")
# role -> host number in the lab /24 and /64
CLIENTS = {"controller": 5, "allowed": 10, "denied": 20, "other": 30, "outside": 40}
NODE_HOST = 12
WEB = [SERVICE_IMAGE, "httpd", "-f", "-p", "80", "-h", "/"]
_COUNTERS = re.compile(r"\[\d+:\d+\]")
# Docker writing while we apply (case 5): a network created and removed, containers
# published on it and on the default bridge started, stopped, started, removed, over
# and over until the stop file appears. In the node, as its own docker CLI calls.
CHURN = """
n=0
while [ ! -e /tmp/dg-rel-churn.stop ]; do
  n=$((n+1))
  docker network create --subnet {net} churn-net >/dev/null 2>&1
  docker run -d --name churn-a --network churn-net -p 8201:80 {image} httpd -f -p 80 -h / >/dev/null 2>&1
  docker run -d --name churn-b -p 8202:80 {image} httpd -f -p 80 -h / >/dev/null 2>&1
  docker stop -t 0 churn-a churn-b >/dev/null 2>&1
  docker start churn-a churn-b >/dev/null 2>&1
  docker rm -f churn-a churn-b >/dev/null 2>&1
  docker network rm churn-net >/dev/null 2>&1
  echo $n > /tmp/dg-rel-churn.count
done
touch /tmp/dg-rel-churn.done
"""
CHURN_NET = "10.250.201.0/24"   # inside the node only
FOREIGN = "-s {addr} -m comment --comment 'foreign rule' -j DROP"


def preflight(images):
    """None when the lab can run here, else the reason to skip."""
    why = docker_unavailable() or missing_images([SERVICE_IMAGE] + list(images))
    if why:
        return why
    if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "dockerguard")):
        return "%s does not hold the collection (conftest.py links it)" % COLLECTIONS
    return None


def normalise(text):
    """*-save output without comment lines, counters zeroed."""
    return [_COUNTERS.sub("[0:0]", line) for line in text.splitlines()
            if line and not line.startswith("#")]


def ours(lines, chain="DOCKERGUARD"):
    """Our chain's declaration, rules and jumps to it."""
    return [ln for ln in lines if re.search(r"(^:%s |-A %s |-j %s$)" % (chain, chain, chain), ln)]


def not_ours(lines, chain="DOCKERGUARD"):
    mine = set(ours(lines, chain))
    return [ln for ln in lines if ln not in mine]


def chain_rules(lines, chain):
    return [ln for ln in lines if ln.startswith("-A %s " % chain)]


class Lab(object):
    """One node and the clients on a lab network of their own (see the module doc)."""

    def __init__(self, tag, image, legacy=False):
        ident = lab_id()
        self.prefix = "dg-rel-%s-%s" % (ident, tag)
        self.label = "dg-rel=%s-%s" % (ident, tag)
        digest = int(hashlib.sha1(self.prefix.encode("utf-8")).hexdigest()[:4], 16)
        octet = 128 + digest % 64
        self.net4 = "10.250.%d" % octet
        self.net6 = "fd00:250:%x:" % octet
        self.subnet4, self.subnet6 = self.net4 + ".0/24", self.net6 + ":/64"
        self.network = self.prefix
        self.image = image
        self.legacy = legacy
        self.node = self.prefix + "-node"
        self.address4 = "%s.%d" % (self.net4, NODE_HOST)
        self.address6 = "%s:%x" % (self.net6, NODE_HOST)
        self.clients = dict((role, {"name": "%s-%s" % (self.prefix, role),
                                    "ipv4": "%s.%d" % (self.net4, host),
                                    "ipv6": "%s:%x" % (self.net6, host)})
                            for role, host in CLIENTS.items())
        self.inventory = None
        self.helpers = []   # pids of processes this lab started inside the node

    # -- start / stop -----------------------------------------------------------------
    def cleanup(self):
        names = docker("ps", "-aq", "--filter", "label=" + self.label, check=False).stdout.split()
        if names:
            docker("rm", "-f", "--volumes", *names, check=False, timeout=120)
        docker("network", "rm", self.network, check=False)
        if self.inventory and os.path.exists(self.inventory):
            os.unlink(self.inventory)

    def start(self):
        self.cleanup()
        used = routes_to(self.net4 + ".1")
        if used:
            raise LabError("%s is already routed here (%s): run with another DG_MOL_LAB_ID"
                           % (self.subnet4, "; ".join(used)))
        docker("network", "create", "--ipv6", "--subnet", self.subnet4, "--gateway",
               self.net4 + ".1", "--subnet", self.subnet6, "--gateway", self.net6 + ":1",
               "--label", self.label, self.network)
        for role, client in sorted(self.clients.items()):
            cmd = WEB if role == "outside" else [SERVICE_IMAGE, "sleep", "864000"]
            docker("run", "--detach", "--name", client["name"], "--label", self.label,
                   "--network", self.network, "--ip", client["ipv4"], "--ip6",
                   client["ipv6"], *cmd)
        nodes.start_node(self.node, self.image, "--label", self.label, "--network", self.network,
                         "--ip", self.address4, "--ip6", self.address6, hostname="node",
                         boot=LEGACY + "; " if self.legacy else "")
        self.inventory = playbook.write_inventory([self.node], self.prefix + "-")
        return self

    # -- the node ---------------------------------------------------------------------
    def sh(self, script, check=True, timeout=120):
        """Run a shell script in the node; its stdout."""
        return nodes.node_sh(self.node, script, check=check, timeout=timeout).stdout

    def docker(self, *args, **kwargs):
        """The node's own docker CLI."""
        return docker("exec", self.node, "docker", *args, **kwargs).stdout.strip()

    def background(self, script):
        """Start ``script`` detached in the node; its pid (stopped by ``stop_helpers``)."""
        pid = self.sh("(%s) >/dev/null 2>&1 & echo $!" % script).strip()
        self.helpers.append(pid)
        return pid

    def stop(self, pid):
        self.sh("pkill -P %s 2>/dev/null; kill %s 2>/dev/null; true" % (pid, pid), check=False)
        if pid in self.helpers:
            self.helpers.remove(pid)

    def stop_helpers(self):
        for pid in list(self.helpers):
            self.stop(pid)

    def saves(self, families=("ipv4", "ipv6"), tool="%s-save"):
        """{family: normalised lines} of ``iptables-save`` / ``ip6tables-save``."""
        out = {}
        for family in families:
            base = "iptables" if family == "ipv4" else "ip6tables"
            out[family] = normalise(self.sh(tool % base))
        return out

    def wait_published(self, containers, ports, timeout=90):
        nodes.wait_published(self.node, containers, ports, timeout=timeout)

    def restart_dockerd(self):
        nodes.restart_dockerd(self.node)

    # -- other writers ----------------------------------------------------------------
    def _foreign(self, op):
        rule4 = FOREIGN.format(addr=self.net4 + ".99/32")
        rule6 = FOREIGN.format(addr=self.net6 + ":99/128")
        self.sh("iptables %s DOCKER-USER %s && ip6tables %s DOCKER-USER %s" % (op, rule4, op, rule6))
        return {"ipv4": "-A DOCKER-USER " + rule4.replace("'", '"'),
                "ipv6": "-A DOCKER-USER " + rule6.replace("'", '"')}

    def add_foreign(self):
        """Another tool's rule at the top of DOCKER-USER; {family: its iptables-save line}."""
        return self._foreign("-I")

    def remove_foreign(self):
        self._foreign("-D")

    def churn_count(self):
        text = self.sh("cat /tmp/dg-rel-churn.count 2>/dev/null || echo 0", check=False).strip()
        return int(text or 0)

    def churn_while(self, module, policies):
        """Apply each of ``policies`` with ``module`` while CHURN runs in the node.

        Returns (the module results, how many rounds the churn loop completed meanwhile).
        """
        self.sh("rm -f /tmp/dg-rel-churn.stop /tmp/dg-rel-churn.count /tmp/dg-rel-churn.done")
        self.background(CHURN.format(net=CHURN_NET, image=SERVICE_IMAGE))
        results = []
        try:
            wait_for(lambda: self.churn_count() >= 1, timeout=60, what="the churn loop")
            for args in policies:
                results.append(self.module(module, args))
            rounds = self.churn_count()
        finally:
            self.sh("touch /tmp/dg-rel-churn.stop")
            # (its shell is never reaped in a node whose PID 1 is sleep: no kill -0)
            wait_for(lambda: self.sh("test -e /tmp/dg-rel-churn.done && echo done",
                                     check=False).strip() == "done",
                     timeout=60, what="the churn loop to stop")
            self.helpers = []
            self.sh("docker rm -f churn-a churn-b >/dev/null 2>&1; "
                    "docker network rm churn-net >/dev/null 2>&1; true", check=False)
        return results, rounds

    # -- probes -----------------------------------------------------------------------
    def target(self, family):
        return self.address4 if family == "ipv4" else self.address6

    def probe(self, role, port, family="ipv4", timeout=2):
        return probe(self.clients[role]["name"], self.target(family), port, timeout)["reached"]

    def probes(self, wanted, timeout=2):
        """``wanted``: {(role, port, family): reached?}. Returns the lines that differ."""
        jobs = [(self.clients[role]["name"], self.target(family), port)
                for role, port, family in sorted(wanted)]
        results = probe_many(jobs, timeout=timeout)
        wrong = []
        for (role, port, family), job in zip(sorted(wanted), jobs):
            got = results[job]["reached"]
            if got != wanted[(role, port, family)]:
                wrong.append("%s -> %s:%d (%s): reached=%s, wanted %s (%s)" % (
                    role, job[1], port, family, got, wanted[(role, port, family)],
                    results[job]["detail"]))
        return wrong

    # -- Ansible ----------------------------------------------------------------------
    def start_tasks(self, tasks):
        """Start a playbook of ``tasks`` (dicts; each gets ignore_errors) on the node."""
        play = [{"hosts": "all", "gather_facts": False,
                 "tasks": [dict(t, ignore_errors=True) for t in tasks]}]
        fd, path = tempfile.mkstemp(prefix=self.prefix + "-play-", suffix=".yml")
        with os.fdopen(fd, "w") as fh:
            json.dump(play, fh)
        proc = subprocess.Popen([playbook.binary("ansible-playbook"), "-i", self.inventory, path],
                                env=playbook.env(ANSIBLE_PIPELINING="1"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
        return Run(self, proc, path, len(tasks))

    def tasks(self, tasks, timeout=600):
        return self.start_tasks(tasks).results(timeout)

    def module(self, name, args, timeout=600):
        """Run one module on the node; its result (``failed`` set when it failed)."""
        return self.tasks([{"name": name, name: args}], timeout)[0]


class Run(object):
    """A playbook running in the background; ``results()`` waits for it."""

    def __init__(self, owner, proc, path, count):
        self.owner, self.proc, self.path, self.count = owner, proc, path, count
        self.started = time.time()

    def results(self, timeout=600):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.unlink(self.path)
        try:
            data = json.loads(out[out.index("{"):])
            tasks = data["plays"][0]["tasks"]
            results = [t["hosts"][self.owner.node] for t in tasks]
        except (ValueError, KeyError, IndexError):
            raise AssertionError("ansible-playbook gave no JSON result (rc=%d):\n%s\n%s"
                                 % (self.proc.returncode, out[-4000:], err[-4000:]))
        if len(results) != self.count:
            raise AssertionError("%d task results for %d tasks" % (len(results), self.count))
        for r in results:
            r.pop("invocation", None)
        return results
