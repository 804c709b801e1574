# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An allow-list policy for published ports: validation and rendering to iptables rules.

Pure logic. ``validate(...)`` turns user input into a normalised policy or raises
``PolicyError`` naming the offending value (each value is checked by the one validator,
``_allowlist``); ``chain_rules(policy, family)`` gives the
rules of our chain exactly as ``iptables-save`` prints them (so comparing with the
kernel's state is a plain list comparison).

How a packet meets our chain (jumped to from the top of DOCKER-USER, which sees
packets after Docker's DNAT): replies and packets from container bridges return at
once; then, per entry and port, each allowed source returns and everyone else is
dropped or rejected. The port is matched on the ORIGINAL destination
(``-m conntrack --ctorigdstport``), because ``--dport`` in DOCKER-USER would see the
container's port, not the published one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.dockerguard.firewall.plugins.module_utils import _allowlist as check
from ansible_collections.dockerguard.firewall.plugins.module_utils._allowlist import PolicyError
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import quote

FAMILIES = ("ipv4", "ipv6")
PROTOCOLS = ("tcp", "udp", "all")
ACTIONS = ("drop", "reject")
DEFAULTS = ("allow", "deny")
# Traffic from containers is not ingress: it leaves our chain at once.
DEFAULT_BRIDGES = ("docker0", "br-+", "docker_gwbridge")
COMMENT_PREFIX = "dockerguard"
HOOK_DOCKER_USER, HOOK_INPUT = "DOCKER-USER", "INPUT"
HOOKS = (HOOK_DOCKER_USER, HOOK_INPUT)


def validate_chain(chain):
    return check.chain(chain)


def validate(entries, default="allow", action="drop", chain="DOCKERGUARD",
             bridges=DEFAULT_BRIDGES, hook=HOOK_DOCKER_USER, ssh_port=22, ssh_sources=()):
    """Check and normalise a policy; raise PolicyError naming the first bad value.

    ``hook`` says where the chain is jumped from: DOCKER-USER (published ports, matched
    on the original destination) or INPUT (host-network services, where loopback and
    the controller's SSH from ``ssh_sources`` always stay allowed).
    """
    check.choice(hook, HOOKS, "hook")
    policy = {
        "hook": hook,
        "chain": validate_chain(chain),
        "default": check.choice(default, DEFAULTS, "default"),
        "bridges": [check.interface(b, "bridges")
                    for b in check.as_list(bridges or [], "bridges")],
        "entries": [],
    }
    if hook == HOOK_INPUT:
        if policy["default"] != "allow":
            raise PolicyError("default: 'deny' is offered for DOCKER-USER only; in INPUT it "
                              "would cut every other service of the host")
        policy["ssh_port"] = check.port_range(ssh_port, "ssh_port")[0]
        policy["ssh_sources"] = [check.network(c, "ssh_sources")
                                 for c in check.as_list(ssh_sources or [], "ssh_sources")]
    check.choice(action, ACTIONS, "action")
    seen = set()
    for k, raw in enumerate(check.as_list(entries or [], "entries"), 1):
        where = "entries[%d]" % k
        if not isinstance(raw, dict):
            raise PolicyError("%s: %r should be a mapping with ports and allow" % (where, raw))
        extra = set(raw) - {"name", "ports", "protocol", "allow", "interfaces", "action"}
        if extra:
            raise PolicyError("%s: unknown key(s) %s" % (where, ", ".join(sorted(extra))))
        name = check.name(raw.get("name") or "entry%d" % k, where + ".name")
        if name in seen:
            raise PolicyError("%s.name: %r is used twice" % (where, name))
        seen.add(name)
        ports = check.port_ranges(raw.get("ports"), where + ".ports")
        allow = [check.network(c, where + ".allow")
                 for c in check.as_list(raw.get("allow") or [], where + ".allow")]
        if not allow:
            raise PolicyError("%s.allow: an empty allow list; name at least one address or "
                              "CIDR (use 0.0.0.0/0 and ::/0 to allow everyone)" % where)
        policy["entries"].append({
            "name": name,
            "ports": ports,
            "protocol": check.choice(raw.get("protocol") or "tcp", PROTOCOLS, where + ".protocol"),
            "allow": allow,
            "interfaces": [check.interface(i, where + ".interfaces")
                           for i in check.as_list(raw.get("interfaces") or [], where + ".interfaces")],
            "action": check.choice(raw.get("action") or action, ACTIONS, where + ".action"),
        })
    check.distinct_ports(policy["entries"])
    return policy


def _comment(text):
    return "-m comment --comment %s" % quote("%s: %s" % (COMMENT_PREFIX, text))


def _verdict(action, protocol, family):
    if action == "drop":
        return "-j DROP"
    if protocol == "tcp":
        return "-j REJECT --reject-with tcp-reset"
    return "-j REJECT --reject-with %s" % (
        "icmp-port-unreachable" if family == "ipv4" else "icmp6-port-unreachable")


def _ports(low, high):
    return str(low) if low == high else "%d:%d" % (low, high)


def chain_rules(policy, family):
    """Rule bodies (without ``-A CHAIN``) of our chain, in iptables-save's own form."""
    if family not in FAMILIES:
        raise PolicyError("family: %r is not one of ipv4, ipv6" % (family,))
    version = 4 if family == "ipv4" else 6
    forwarded = policy["hook"] == HOOK_DOCKER_USER
    rules = ["-m conntrack --ctstate RELATED,ESTABLISHED %s -j RETURN" % _comment("replies")]
    for bridge in policy["bridges"]:
        rules.append("-i %s %s -j RETURN" % (bridge, _comment("from containers")))
    if not forwarded:
        rules.append("-i lo %s -j RETURN" % _comment("loopback"))
        for net in policy["ssh_sources"]:
            if net.version == version:
                rules.append("-s %s -p tcp -m tcp --dport %d %s -j RETURN" % (
                    net, policy["ssh_port"], _comment("controller ssh")))
    for entry in policy["entries"]:
        allow = [n for n in entry["allow"] if n.version == version]
        protocols = ("tcp", "udp") if entry["protocol"] == "all" else (entry["protocol"],)
        for iface in entry["interfaces"] or [None]:
            i = "-i %s " % iface if iface else ""
            for proto in protocols:
                for low, high in entry["ports"]:
                    if forwarded:  # DOCKER-USER sees post-DNAT packets: ask conntrack
                        match = ("-p %s -m conntrack --ctorigdstport %s --ctdir ORIGINAL"
                                 % (proto, _ports(low, high)))
                    else:
                        match = "-p %s -m %s --dport %s" % (proto, proto, _ports(low, high))
                    for net in allow:
                        rules.append("-s %s %s%s %s -j RETURN" % (
                            net, i, match, _comment(entry["name"] + " allow")))
                    rules.append("%s%s %s %s" % (i, match, _comment(entry["name"] + " deny"),
                                                 _verdict(entry["action"], proto, family)))
    if policy["default"] == "deny":
        # Everything else Docker forwarded after a DNAT: published ports no entry names.
        rules.append("-m conntrack --ctstate DNAT --ctdir ORIGINAL %s -j DROP"
                     % _comment("default deny"))
    return rules


def restore_payload(chain, rules, parent="DOCKER-USER", jump_count=0, jump_first=False,
                    create_parent=False):
    """iptables-restore --noflush input that sets our chain and its jump in one commit.

    Declaring our chain flushes only it; the jump is moved to the top of ``parent`` when
    it is elsewhere (or there twice); nothing else in ``parent`` is touched.
    """
    lines = ["*filter"]
    if create_parent:
        # Boot path, only when DOCKER-USER does not exist yet (with --noflush, declaring
        # an existing chain would flush it): our chain and jump must be in place before
        # Docker starts containers; Docker keeps an existing DOCKER-USER.
        lines.append(":%s - [0:0]" % parent)
    lines.append(":%s - [0:0]" % chain)
    lines.extend("-A %s %s" % (chain, r) for r in rules)
    if not (jump_first and jump_count == 1):
        lines.extend(["-D %s -j %s" % (parent, chain)] * jump_count)
        lines.append("-I %s 1 -j %s" % (parent, chain))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def removal_payload(chain, parent="DOCKER-USER", jump_count=0):
    """Remove our jump(s) and our chain; nothing else."""
    lines = ["*filter"]
    lines.extend(["-D %s -j %s" % (parent, chain)] * jump_count)
    lines.extend(["-F %s" % chain, "-X %s" % chain, "COMMIT"])
    return "\n".join(lines) + "\n"
