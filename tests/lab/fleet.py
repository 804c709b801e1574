# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Molecule lab fleet, defined once for every scenario (an Ansible inventory).

``molecule/shared/inventory.py`` (linked from each scenario's inventory directory) prints
``inventory()``; the scenario adds its own ``group_vars/`` and ``host_vars/`` there.
``create.yml`` / ``destroy.yml`` start and remove what it describes (the node flags come
from ``tests.lab.node``, as ``lab_node_flags``); the testinfra verifier reads it with
``ansible-inventory``.

Nodes are Docker-in-Docker containers on the host's docker engine reached with the
community.docker.docker connection; probe clients are busybox containers with fixed
addresses on the same lab network.

Several checkouts may run their scenarios on one docker engine at the same time, so
every container, the network and the subnet carry a lab id: ``DG_MOL_LAB_ID`` when set
(1-8 of ``a-z0-9``), else a short hash of the path of this checkout. Names are
``dg-mol-<id>-<node>``, the network ``dg-mol-<id>`` with a /24 in 10.250.64.0/18 (never
the machine's uplink or the registries' ranges, see docs/lab.md); create.yml refuses a
subnet that is already routed.

The fleet has two nodes, ``bookworm`` (Docker 20.10) and ``forky`` (Docker 28.5), unless
``DG_MOL_FLEET_SIZE`` asks for more (a scenario sets it in its molecule.yml,
``ansible.env``): nodes 3, 4, ... alternate between the two images and are named after
their suite and number (``bookworm3``, ``forky4``, ...), at host numbers 103, 104, ...
so that they never meet the clients' (10, 20) or a scenario's own nodes (13).
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import re
import sys

from tests.lab.node import DOCKERD, FIREWALLD_BOOT, FIREWALLD_IMAGE, NODE_FLAGS, SERVICE_IMAGE, node_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
# Inventory name -> image and host number in the lab subnet: the first two nodes.
NODES = {
    "bookworm": {"lab_image": "node-bookworm:local", "host": 11},  # Docker 20.10, iptables 1.8.9
    "forky": {"lab_image": "node-forky:local", "host": 12},        # Docker 28.5, iptables 1.8.11+
}
# Nodes of the group firewalld_nodes (not lab_nodes: only the scenarios that name
# lab_scenario_group: firewalld_nodes start them): inventory name -> image, host number
# and what the node runs before dockerd (docs/lab.md section 3c).
FIREWALLD_NODES = {
    "forky-firewalld": {"lab_image": FIREWALLD_IMAGE, "host": 13, "boot": FIREWALLD_BOOT},
}
SUITES = ("bookworm", "forky")
# 2 cores and the lab's /24: more than this many nodes is a typo, not a fleet.
MAX_FLEET = 40
# Probe clients: role -> host number.
CLIENTS = {"allowed": 10, "denied": 20}


NODE_VARS = {
    "ansible_connection": "community.docker.docker",
    "ansible_python_interpreter": "/usr/bin/python3",
}


def lab_id():
    """This checkout's lab id (``DG_MOL_LAB_ID``, else a hash of the checkout's path)."""
    wanted = os.environ.get("DG_MOL_LAB_ID", "")
    if wanted:
        if not re.match(r"^[a-z0-9]{1,8}$", wanted):
            sys.exit("DG_MOL_LAB_ID=%r: use 1-8 characters a-z0-9" % wanted)
        return wanted
    here = os.path.dirname(os.path.realpath(__file__))
    return hashlib.sha1(here.encode("utf-8")).hexdigest()[:6]


def fleet_size():
    """How many nodes (``DG_MOL_FLEET_SIZE``, default 2)."""
    wanted = os.environ.get("DG_MOL_FLEET_SIZE", "") or "2"
    if not re.match(r"^[0-9]+$", wanted) or not 1 <= int(wanted) <= MAX_FLEET:
        sys.exit("DG_MOL_FLEET_SIZE=%r: use a number of nodes from 1 to %d" % (wanted, MAX_FLEET))
    return int(wanted)


def nodes(size=None):
    """The fleet's nodes: name -> {lab_image, host}; bookworm and forky first."""
    size = fleet_size() if size is None else size
    out = {}
    for index in range(1, size + 1):
        suite = SUITES[(index - 1) % 2]
        if index <= 2:
            out[suite] = dict(NODES[suite])
        else:
            out["%s%d" % (suite, index)] = {"lab_image": NODES[suite]["lab_image"],
                                            "host": 100 + index}
    return out


def inventory():
    ident = lab_id()
    octet = 64 + int(hashlib.sha1(ident.encode("utf-8")).hexdigest()[:4], 16) % 64
    net = "10.250.%d" % octet
    prefix = "dg-mol-%s" % ident
    hostvars = {}
    fleet = nodes()
    for name, node in list(fleet.items()) + list(FIREWALLD_NODES.items()):
        hostvars[name] = {
            "ansible_host": "%s-%s" % (prefix, name),
            "lab_image": node["lab_image"],
            "lab_address": "%s.%d" % (net, node["host"]),
        }
        if "boot" in node:
            hostvars[name]["lab_node_command"] = node_command(node["boot"])
    return {
        "_meta": {"hostvars": hostvars},
        "all": {
            "children": ["lab_nodes", "firewalld_nodes"],
            "vars": {
                "lab_id": ident,
                "lab_label": "dg-mol=%s" % ident,
                "lab_network": prefix,
                "lab_subnet": "%s.0/24" % net,
                "lab_gateway": "%s.1" % net,
                "lab_service_image": SERVICE_IMAGE,
                # The checkout holding tests/lab: playbooks run ``python -m tests.lab`` there.
                "lab_root": ROOT,
                "lab_node_flags": NODE_FLAGS,
                # How every node runs dockerd (no init in the node); tests.lab.node
                # restarts it the same way.
                "lab_dockerd_command": DOCKERD,
                "lab_node_command": node_command(),
                "lab_clients": dict(
                    (role, {"name": "%s-%s" % (prefix, role), "address": "%s.%d" % (net, host)})
                    for role, host in CLIENTS.items()),
            },
        },
        "lab_nodes": {"hosts": list(fleet), "vars": NODE_VARS},  # in order: bookworm (the canary) first
        "firewalld_nodes": {"hosts": sorted(FIREWALLD_NODES), "vars": NODE_VARS},
    }


def main(argv):
    """``--list`` | ``--host NAME``, as Ansible calls an inventory script."""
    data = inventory()
    if len(argv) == 2 and argv[1] == "--list":
        print(json.dumps(data, indent=1, sort_keys=True))
    elif len(argv) == 3 and argv[1] == "--host":
        print(json.dumps(data["_meta"]["hostvars"].get(argv[2], {})))
    else:
        print("inventory.py --list | --host NAME", file=sys.stderr)
        return 2
    return 0
