"""Reliability II (issue 13): the failures adversarial testing found, on real iptables
in network namespaces of the test's own, through a real ansible-playbook.

Each test names the class of issue 13 it proves; each failed on the code before its fix
(docs/reliability.md, "Reliability II").
"""
import json
import sys

import pytest

from ansible_run import COLLECTIONS, playbook
from netns import can_use_netns, namespace, sh
from test_docker_user_policy import DOCKER_V4, DOCKER_V6

pytestmark = pytest.mark.skipif(bool(can_use_netns()), reason=str(can_use_netns()))

INPUT_V6 = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"


def module(ns, name, args, extra=()):
    tasks = ("    - name: Apply\n"
             "      dockerguard.firewall.%s: %s\n"
             "      register: out\n"
             "      ignore_errors: true\n" % (name, json.dumps(args)))
    rc, data, log = playbook(tasks, ns=ns, extra_args=extra)
    return data, log


def saves(ns):
    """iptables-save and ip6tables-save, comments about the save time dropped."""
    return tuple("\n".join(l for l in sh(cmd, ns=ns).splitlines() if not l.startswith("#"))
                 for cmd in ("iptables-save", "ip6tables-save"))


def ours(ns, chain, cmd="iptables-save"):
    return [l for l in sh(cmd, ns=ns).splitlines()
            if l.startswith("-A %s " % chain) or l.endswith("-j %s" % chain)]


@pytest.fixture()
def ns():
    with namespace("dg-it-rel2") as name:
        sh("iptables-restore", ns=name, input=DOCKER_V4)
        sh("ip6tables-restore", ns=name, input=DOCKER_V6)
        yield name


# -- class 1: equivalent spellings and the read-back -------------------------------------

SPELLINGS = {"entries": [
    {"name": "pub", "ports": [443], "allow": ["0.0.0.0/0", "::/0"]},       # the module's EXAMPLE
    {"name": "mapped", "ports": [8443], "allow": ["::ffff:10.250.0.1", "10.250.0.1"]},
    {"name": "any-if", "ports": [9443], "allow": ["10.250.0.0/24"], "interfaces": ["+"]},
]}


def test_class1_allow_everyone_and_equivalent_spellings_apply_once(ns):
    out, log = module(ns, "docker_user_policy", SPELLINGS)
    assert not out.get("failed") and out["changed"] is True, out
    v4, v6 = ours(ns, "DOCKERGUARD"), ours(ns, "DOCKERGUARD", "ip6tables-save")
    # what iptables prints back: no -s for everyone, no -i +, the mapped address as it likes
    assert any("--ctorigdstport 443 " in l and "-s " not in l and "-j RETURN" in l for l in v4), v4
    assert any("--ctorigdstport 443 " in l and "-s " not in l and "-j RETURN" in l for l in v6), v6
    assert not any("-i +" in l for l in v4 + v6)
    assert any("::ffff:" in l and "8443" in l for l in v6), v6
    state = saves(ns)
    again, log = module(ns, "docker_user_policy", SPELLINGS)
    assert not again.get("failed") and again["changed"] is False, again
    assert saves(ns) == state


def test_class1_host_input_ssh_from_everyone_applies_once():
    with namespace("dg-it-rel2") as name:
        sh("ip6tables-restore", ns=name, input=INPUT_V6)
        args = {"entries": [{"name": "web", "ports": [8080], "allow": ["0.0.0.0/0"]}],
                "ssh_sources": ["0.0.0.0/0", "::/0"]}
        out, log = module(name, "host_input_policy", args)
        assert not out.get("failed") and out["changed"] is True, out
        assert any("--dport 22 " in l and "-s " not in l for l in ours(name, "DOCKERGUARD-INPUT"))
        again, log = module(name, "host_input_policy", args)
        assert not again.get("failed") and again["changed"] is False, again


# A rendering the kernel prints back differently in a way that changes the rule's
# spelling as the parser sees it (a port written "0007": iptables prints 7):
# stands for any rendering bug. Through the one transaction the modules and the boot
# program share, on the real kernel.
MISMATCH = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.dockerguard.firewall.plugins.module_utils import _policy_transaction as t
from ansible_collections.dockerguard.firewall.plugins.module_utils._cmd_runner import CmdRunner
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import validate
real = t.chain_rules
t.chain_rules = lambda policy, family: real(policy, family) + (
    ["-p tcp -m tcp --dport 0007 -j DROP"] if family == "ipv6" else [])
policy = validate([{"name": "web", "ports": [8080], "allow": ["10.250.0.0/24", "fd00:250::/64"]}])
try:
    t.apply_policy(CmdRunner(), policy, ["ipv4", "ipv6"], check_backend=False)
    print(json.dumps({"ok": True}))
except t.ApplyError as exc:
    print(json.dumps({"error": str(exc), "details": exc.details}))
"""


def test_class1_a_read_back_mismatch_puts_both_families_back(ns):
    module(ns, "docker_user_policy", {"entries": [{"name": "old", "ports": [9999],
                                                   "allow": ["10.250.9.0/24"]}]})
    before = saves(ns)
    out = json.loads(sh(sys.executable, "-c", MISMATCH, COLLECTIONS, ns=ns))
    assert "error" in out, out
    assert "differs from what was written" in out["error"], out
    assert "ipv4, ipv6 put back" in out["error"] and out["details"]["rolled_back"] is True, out
    assert saves(ns) == before

