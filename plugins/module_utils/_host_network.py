# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host_network role's plan: what one run will do, before it changes anything.

``plan(docker_facts, name, ports, ...)`` takes the host's Docker model, the services
the role deployed earlier (its registry file) and the Ansible session's environment,
and gives the role everything it decides on:

- ``specs``: the service's ports as ``PORT/PROTO`` (these and the service's name are
  checked by ``_allowlist``);
- ``conflicts``: why another container, process or service of the role already owns
  one of those ports (host networking cannot share a port);
- ``ssh_sources`` / ``ssh_port``: the controller's address and the SSH port as the host
  sees them (``SSH_CLIENT``), unless given;
- ``own_entries``: this service's policy entries; ``entries``: every service's entries
  (our one INPUT chain holds them all);
- ``services`` (the registry's services) and ``was`` (what the container was before).

``running(docker_facts, name, ports)``: the Docker facts as they will be once the service
runs (the ``host_network_running`` filter), what deploy_host_network's check mode audits.

Raises ``PolicyError`` (a ``ValueError``) naming the bad value. Pure Python, no Ansible
import; the role calls it through the ``host_network_plan`` filter.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.dockerguard.firewall.plugins.module_utils import _allowlist as check

NOT_VISIBLE = "a process not visible here (run the role as root)"


def _unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def conflicts(model, name, specs, services, registry_path):
    """Why each of ``specs`` is not free for the service ``name``, as sentences."""
    out = []
    for c in model.get("containers") or ():
        if c.get("name") == name:
            continue
        for p in c.get("ports") or ():
            spec = "%s/%s" % (p["host_port"], p["protocol"])
            if spec in specs:
                out.append("%s is published by container %s (-p %s:%s): Docker forwards it to "
                           "that container before INPUT is consulted"
                           % (spec, c.get("name"), p["host_port"], p["container_port"]))
    for other, svc in services.items():
        if other == name:
            continue
        for spec in (svc or {}).get("ports") or ():
            if spec in specs:
                out.append("%s belongs to host-network service %s deployed by this role (%s)"
                           % (spec, other, registry_path))
    for lst in model.get("listeners") or ():
        spec = "%s/%s" % (lst["port"], lst["protocol"])
        container = lst.get("container") or {}
        if spec not in specs or container.get("name", "") == name:
            continue
        who = ", ".join(_unique(p["name"] for p in lst.get("processes") or ())) or NOT_VISIBLE
        out.append("%s is in use on %s by %s%s" % (
            spec, lst["address"], who,
            " for container %s" % container.get("name") if container else ""))
    return _unique(out)


def controller(env, ssh_sources=None, ssh_port=None):
    """``(ssh_sources, ssh_port)``: the given ones, else the controller's address (an
    IPv4-mapped one as IPv4) and the server port of the session's ``SSH_CLIENT`` (or
    ``SSH_CONNECTION``); without either, nobody and port 22."""
    env = env or {}
    client = str(env.get("SSH_CLIENT", env.get("SSH_CONNECTION", "")) or "").split()
    if ssh_sources is None:
        ssh_sources = ([re.sub(r"\A::ffff:([0-9.]+)\Z", r"\1", client[0])]
                       if len(client) >= 3 else [])
    if ssh_port is None:
        ssh_port = int(client[-1]) if len(client) >= 3 else 22
    return ssh_sources, ssh_port


def own_entries(name, specs, allow=None, entries=None):
    """This service's entries: ``entries`` with names defaulting to the service's, or
    one entry per protocol of ``specs`` allowing ``allow``."""
    if entries:
        out = []
        for k, entry in enumerate(entries, 1):
            default = name if len(entries) == 1 else "%s-%d" % (name, k)
            out.append(dict(entry, name=entry.get("name") or default))
        return out
    protocols = _unique(spec.split("/")[1] for spec in specs)
    return [{"name": name if len(protocols) == 1 else "%s/%s" % (name, proto),
             "protocol": proto,
             "ports": [int(spec.split("/")[0]) for spec in specs if spec.endswith("/" + proto)],
             "allow": allow} for proto in protocols]


def was(model, name):
    """What the container ``name`` is now, in words (``absent``, ``bridge network,
    publishing 8080``)."""
    own = next((c for c in model.get("containers") or () if c.get("name") == name), None)
    if not own:
        return "absent"
    text = "%s network" % own.get("network_mode")
    if own.get("ports"):
        text += ", publishing " + ", ".join(_unique(str(p["host_port"]) for p in own["ports"]))
    return text


def running(docker_facts, name, ports):
    """The Docker facts as they will be once ``name`` runs on the host's network: its
    same-named container (e.g. the ``-p`` one it replaces) and that container's
    docker-proxy sockets gone, a listener of the container on every wildcard address of
    both families for each port. What a check-mode preview audits as "after"; the real
    service may bind fewer addresses, never more. Checks ``name`` and ``ports`` as
    ``plan`` does."""
    if not isinstance(docker_facts, dict) or "containers" not in docker_facts:
        raise check.PolicyError("docker facts must be the docker_network_facts model "
                                "(ansible_facts.docker_network), got %s"
                                % type(docker_facts).__name__)
    check.container_name(name, "host_network_name")
    specs = check.port_specs(ports or [], "host_network_ports")
    model = docker_facts
    out = dict(model)
    out["containers"] = [c for c in model.get("containers") or () if c.get("name") != name]
    ident = {"id": "(%s, not deployed yet)" % name, "name": name}
    out["containers"].append({"name": name, "id": ident["id"], "state": "running", "running": True,
                              "network_mode": "host", "network_kind": "host", "networks": [],
                              "ports": [], "exposed_ports": [], "labels": {}})
    if model.get("listeners") is not None:
        kept = [x for x in model["listeners"] if (x.get("container") or {}).get("name") != name]
        for spec in specs:
            port, proto = spec.split("/")
            kept.append({"protocol": proto, "family": "ipv6", "address": "::", "port": int(port),
                         "interface": None, "dual_stack": True, "processes": [],
                         "owner": "container", "container": ident, "published": None})
        out["listeners"] = kept
    return out


def plan(docker_facts, name, ports, registry=None, allow=None, entries=None, state="present",
         firewall=True, ssh_sources=None, ssh_port=None, env=None, registry_path=""):
    """Everything the role decides before it changes anything (see the module doc)."""
    if not isinstance(docker_facts, dict) or "containers" not in docker_facts:
        raise check.PolicyError("docker facts must be the docker_network_facts model "
                                "(ansible_facts.docker_network), got %s"
                                % type(docker_facts).__name__)
    check.container_name(name, "host_network_name")
    check.choice(state, ("present", "absent"), "host_network_state")
    specs = check.port_specs(ports or [], "host_network_ports")
    restrict = state == "present" and firewall
    if restrict and not allow and not entries:
        raise check.PolicyError(
            "host_network_allow is empty: name the sources that may reach %s (0.0.0.0/0 and "
            "::/0 allow everyone), give host_network_entries, or set host_network_firewall: "
            "false" % ", ".join(specs))
    services = dict(((registry or {}).get("services") or {}))
    own = own_entries(name, specs, allow, entries) if restrict else []
    others = []
    for other, svc in services.items():
        if other != name and "entries" in (svc or {}):
            others.extend(svc["entries"])
    sources, port = controller(env, ssh_sources, ssh_port)
    return {"specs": specs, "services": services,
            "conflicts": conflicts(docker_facts, name, specs, services, registry_path),
            "ssh_sources": sources, "ssh_port": port, "own_entries": own,
            "entries": others + own, "was": was(docker_facts, name)}
