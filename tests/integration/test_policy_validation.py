"""Issue 13, class 2: what Linux or iptables refuses is refused by validation, through a
real ansible-playbook run of both policy modules in a network namespace of the test's
own, with a policy already in place: every bad run fails naming the value, and
iptables-save / ip6tables-save are byte for byte what they were (nothing written, the
policy in place undisturbed).

On the code before the fix, the alias label `eth0:1` was written (a rule that never
matches: the port stayed open), `families: []` reported ok and wrote nothing, two
entries on one port put the second entry's sources behind the first one's deny, and a
trailing newline passed the `$`-anchored patterns.
"""
import json

import pytest

from ansible_run import playbook
from tests.lab.netns import can_use_netns, namespace, sh

pytestmark = pytest.mark.skipif(bool(can_use_netns()), reason=str(can_use_netns()))

DOCKER_V4 = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             ":DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\nCOMMIT\n")
DOCKER_V6 = "*filter\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n"
WEB = {"name": "web", "ports": [8080], "allow": ["10.250.0.0/24", "fd00:250::/64"]}
OTHER = {"name": "other", "ports": [8080], "allow": ["10.250.9.0/24"]}
MODULES = {
    "docker_user_policy": ({"entries": [WEB]}, "DOCKERGUARD"),
    "host_input_policy": ({"entries": [WEB], "ssh_sources": ["10.250.0.1"]}, "DOCKERGUARD-INPUT"),
}
# (what changes in the good policy, a piece of the message)
BAD = [
    ({"entries": [dict(WEB, interfaces=["eth0:1"])]}, "'eth0:1' is not an interface name: ':'"),
    ({"entries": [dict(WEB, interfaces=["eth0\n"])]}, "'eth0\\n' is not an interface name"),
    ({"entries": [dict(WEB, interfaces=[".."])]}, "'..' is not an interface name"),
    ({"entries": [dict(WEB, name="web\n")]}, "'web\\n' is not a usable name"),
    ({"chain": "%s\n"}, "\\n' is not a valid chain name"),
    ({"families": []}, "families: an empty list would write nothing"),
    ({"entries": [WEB, OTHER]}, "entries[1] ('web') and entries[2] ('other') both cover 8080/tcp"),
]


def saves(ns):
    return [sh(cmd, ns=ns) for cmd in ("iptables-save", "ip6tables-save")]


def strip(text):
    return "\n".join(l for l in text.splitlines() if not l.startswith("#"))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_what_linux_refuses_is_refused_and_nothing_is_written(module):
    good, chain = MODULES[module]
    with namespace("dg-it-val") as ns:
        sh("iptables-restore", ns=ns, input=DOCKER_V4)
        sh("ip6tables-restore", ns=ns, input=DOCKER_V6)
        tasks = ("    - name: The good policy\n"
                 "      dockerguard.firewall.%s: %s\n"
                 "      register: good\n"
                 "    - name: Read IPv6 after the good policy\n"
                 "      ansible.builtin.command: ip6tables-save\n"
                 "      register: good6\n"
                 "      changed_when: false\n" % (module, json.dumps(good)))
        for k, (change, _message) in enumerate(BAD):
            args = dict(good, **change)
            if "chain" in change:
                args["chain"] = change["chain"] % chain
            tasks += ("    - name: Bad %d\n"
                      "      dockerguard.firewall.%s: %s\n"
                      "      register: bad%d\n"
                      "      ignore_errors: true\n"
                      "    - name: Read the kernel after bad %d\n"
                      "      ansible.builtin.command: iptables-save\n"
                      "      register: save%d\n"
                      "      changed_when: false\n"
                      % (k, module, json.dumps(args), k, k, k))
        tasks += ("    - name: Collect\n"
                  "      ansible.builtin.set_fact:\n"
                  "        out: {good: '{{ good }}', good6: '{{ good6.stdout }}', bad: [%s], saves: [%s]}\n"
                  % (", ".join("'{{ bad%d }}'" % k for k in range(len(BAD))),
                     ", ".join("'{{ save%d.stdout }}'" % k for k in range(len(BAD)))))
        _rc, out, log = playbook(tasks, ns=ns)
        assert out["good"]["changed"] is True and not out["good"].get("failed"), log
        after_good = strip(out["saves"][0])
        assert "-A %s -s 10.250.0.0/24" % chain in after_good
        for (change, message), result, save in zip(BAD, out["bad"], out["saves"]):
            assert result.get("failed") is True, (change, result)
            assert result.get("changed") is False, (change, result)
            assert "invalid policy, nothing changed" in result["msg"], result["msg"]
            assert message in result["msg"], (message, result["msg"])
            assert strip(save) == after_good, change     # nothing written after the refusal
        final4, final6 = saves(ns)
        assert strip(final4) == after_good
        assert strip(final6) == strip(out["good6"])
        assert ("-A %s -s fd00:250::/64" % chain) in final6
