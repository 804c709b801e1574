# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the docker_user scenarios expect of real traffic, and how they check it.

A scenario's variables (``lab_clients``, ``lab_services``, ``docker_user_entries``,
``docker_user_default``, ``docker_user_action``, ``lab_address``) say who must reach
which port; ``check_probes`` sends the probes and fails naming every wrong answer;
``loops`` / ``check_loops`` keep the clients probing while something happens (a
restart, a reload, a boot) and prove the denied one was never served meanwhile.
"""

from __future__ import absolute_import, division, print_function

import re
import time

from tests.lab.node import wait_published
from tests.lab.probe import ProbeLoop, probe_many


def restricted_ports(v):
    return {int(p) for e in v["docker_user_entries"] for p in e["ports"]}


def expectations(v):
    """{(client, port): reached?} from the scenario's variables."""
    allowed = v["lab_clients"]["allowed"]["name"]
    denied = v["lab_clients"]["denied"]["name"]
    restricted = restricted_ports(v)
    want = {}
    for service in v["lab_services"]:
        port = int(service["port"])
        if port in restricted:
            want[(allowed, port)], want[(denied, port)] = True, False
        else:  # named by no entry: docker_user_default decides
            want[(allowed, port)] = want[(denied, port)] = v["docker_user_default"] == "allow"
    return want


def check_probes(v, when, want=None):
    """Probe every (client, port) of ``want`` (default: ``expectations``); assert."""
    want = expectations(v) if want is None else want
    results = probe_many((c, v["lab_address"], p) for (c, p) in sorted(want))
    lines, wrong = [], []
    for (client, address, port), r in sorted(results.items()):
        ok = r["reached"] == want[(client, port)]
        lines.append("%s %s -> %s:%d reached=%s (want %s) %.2fs %s" % (
            "ok " if ok else "BAD", client, address, port, r["reached"],
            want[(client, port)], r["seconds"], r["detail"]))
        if not ok:
            wrong.append(lines[-1])
        # reject answers with a TCP reset: a denied client fails at once, not on timeout.
        if (not want[(client, port)] and v["docker_user_action"] == "reject"
                and port in restricted_ports(v)):
            if r["seconds"] >= 1.5 or "refused" not in r["detail"].lower():
                wrong.append("%s: expected a fast reject, got %.2fs %s"
                             % (lines[-1], r["seconds"], r["detail"]))
    print("\n".join(["probes %s on %s:" % (when, v["ansible_host"])] + lines))
    assert not wrong, "probes %s:\n%s" % (when, "\n".join(wrong))


def services(v):
    return [s["name"] for s in v["lab_services"]], [int(s["port"]) for s in v["lab_services"]]


def restricted_port(v):
    return int(v["docker_user_entries"][0]["ports"][0])


def loops(v):
    """Denied and allowed clients probing the restricted port over and over."""
    port = restricted_port(v)
    return (ProbeLoop(v["lab_clients"]["denied"]["name"], v["lab_address"], port),
            ProbeLoop(v["lab_clients"]["allowed"]["name"], v["lab_address"], port))


def check_loops(denied, allowed, when):
    """The denied client was never served, though the allowed one got through meanwhile."""
    print("%s: %d denied probes over %.1fs, %d reached (none may); %d allowed probes, "
          "%d reached" % (when, len(denied.results), denied.results[-1]["at"] if denied.results
                          else 0, len(denied.reached), len(allowed.results),
                          len(allowed.reached)))
    assert not denied.reached, "%s: the denied client was served: %s" % (when, denied.reached)
    assert len(denied.results) >= 3, denied.results


def through(v, event, when):
    """Run ``event()`` while both clients probe the restricted port; then wait until the
    node publishes its services again and the allowed client gets through: the denied
    client must never have been served meanwhile."""
    denied, allowed = loops(v)
    with denied, allowed:
        event()
        wait_published(v["ansible_host"], *services(v))
        allowed.wait_reached(since=time.time())
    check_loops(denied, allowed, when)


class NodeVars(object):
    """A testinfra host's Ansible variables, read once per host (``get(host)``)."""

    def __init__(self):
        self.cache = {}

    def __call__(self, host):
        name = host.backend.host
        if name not in self.cache:
            self.cache[name] = host.ansible.get_variables()
        return self.cache[name]


def unit_command(text, key, path="unit"):
    """The command a systemd unit line ``key=`` runs in ``text`` (``-`` prefix: failure
    ignored, stripped)."""
    m = re.search(r"(?m)^%s=-?(.+)$" % key, text)
    assert m, "%s has no %s=" % (path, key)
    return m.group(1).strip()
