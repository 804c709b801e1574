"""iptables_facts against real iptables, inside a network namespace of the test's own.

The rules are written with iptables-restore, the module runs through ansible-playbook
inside the namespace, and its facts are compared with what the kernel reports back
(``iptables-save`` in the same namespace).
"""
import json
import sys

import pytest

from ansible_run import playbook
from tests.lab.netns import can_use_netns, namespace, sh

pytestmark = pytest.mark.skipif(bool(can_use_netns()), reason=str(can_use_netns()))

RULES_V4 = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-USER - [0:0]
-A INPUT -p tcp -m tcp --dport 80 -j DROP
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j RETURN
-A DOCKER-USER ! -s 10.250.0.0/24 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -m comment --comment "dockerguard: web \\"front\\" only" -j DROP
-A DOCKER-USER -p udp -m multiport --dports 53,5353:5360 -j REJECT --reject-with icmp-port-unreachable
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
"""

RULES_V6 = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A DOCKER-USER ! -s fd00:250::/64 -p tcp -m conntrack --ctorigdstport 8080 -j DROP
-A DOCKER-USER -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT
COMMIT
"""


def _gather_tasks(args=None):
    return ("    - name: Gather\n"
            "      dockerguard.firewall.iptables_facts: %s\n"
            "      register: out\n" % json.dumps(args or {}))


def _gather(ns, args=None, extra=()):
    return playbook(_gather_tasks(args), ns=ns, extra_args=extra)[1]


def _kernel_rules(ns, save="iptables-save"):
    """(table, chain, rule text) for every rule, as the kernel reports it."""
    out, table = [], None
    for line in sh(save, ns=ns).splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A "):
            out.append((table, line.split()[1], line))
    return out


def _fact_rules(model):
    return [(t, c, r["rule"]) for t, tbl in model["tables"].items()
            for c, ch in tbl["chains"].items() for r in ch["rules"]]


@pytest.fixture()
def ns():
    with namespace("dg-it-ipt") as name:
        sh("iptables-restore", ns=name, input=RULES_V4)
        sh("ip6tables-restore", ns=name, input=RULES_V6)
        yield name


@pytest.mark.smoke
def test_facts_equal_what_the_kernel_holds(ns):
    facts = _gather(ns)["ansible_facts"]["iptables"]
    v4, v6 = facts["ipv4"], facts["ipv6"]
    assert v4["available"] and v6["available"]
    assert _fact_rules(v4) == _kernel_rules(ns)
    assert _fact_rules(v6) == _kernel_rules(ns, "ip6tables-save")
    assert v4["rule_count"] == 15 and v6["rule_count"] == 3
    assert facts["backend"] in ("nf_tables", "legacy")
    assert facts["version"].startswith("1.")


def test_fields_of_docker_rules(ns):
    v4 = _gather(ns)["ansible_facts"]["iptables"]["ipv4"]
    flt = v4["tables"]["filter"]["chains"]
    assert flt["FORWARD"]["policy"] == "DROP" and flt["FORWARD"]["builtin"] is True
    assert flt["DOCKER-USER"]["policy"] is None and flt["DOCKER-USER"]["builtin"] is False
    drop = flt["DOCKER-USER"]["rules"][0]
    assert drop["source"] == "10.250.0.0/24" and drop["negated"] == ["source"]
    assert drop["matches"][0] == {"name": "conntrack",
                                  "options": {"ctorigdstport": "8080", "ctdir": "ORIGINAL"}}
    assert drop["matches"][1]["options"]["comment"] == 'dockerguard: web "front" only'
    assert drop["target"] == "DROP"
    reject = flt["DOCKER-USER"]["rules"][1]
    assert reject["matches"][0]["options"] == {"dports": "53,5353:5360"}
    assert reject["target_options"] == {"reject-with": "icmp-port-unreachable"}
    dnat = v4["tables"]["nat"]["chains"]["DOCKER"]["rules"][1]
    assert dnat["in_interface"] == "docker0" and dnat["negated"] == ["in_interface"]
    assert dnat["target"] == "DNAT"
    assert dnat["target_options"] == {"to-destination": "172.17.0.2:80"}


def test_options_families_tables_counters_and_check_mode(ns):
    # Put traffic through a rule so counters are non-zero.
    sh("iptables", "-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT", ns=ns)
    sh(sys.executable, "-c", "import socket; s = socket.socket(socket.AF_INET, "
       "socket.SOCK_DGRAM); [s.sendto(b'x', ('127.0.0.1', 9)) for _ in range(4)]", ns=ns)
    out = _gather(ns, {"families": ["ipv4"], "tables": ["filter"], "counters": True},
                  extra=["--check"])
    facts = out["ansible_facts"]["iptables"]
    assert out["changed"] is False
    assert list(facts["ipv4"]["tables"]) == ["filter"]
    assert facts["ipv6"] == {"family": "ipv6", "available": False, "reason": "not gathered"}
    lo_rule = facts["ipv4"]["tables"]["filter"]["chains"]["OUTPUT"]["rules"][-1]
    assert lo_rule["rule"] == "-A OUTPUT -o lo -j ACCEPT"
    assert lo_rule["counters"][0] >= 4  # four datagrams (and their ICMP errors) on lo
    assert facts["ipv4"]["tables"]["filter"]["chains"]["INPUT"]["counters"][0] >= 4


def test_empty_namespace_has_no_docker_backend():
    with namespace("dg-it-ipt") as name:
        facts = _gather(name)["ansible_facts"]["iptables"]
    assert facts["docker_backend"] is None
    assert facts["ipv4"]["rule_count"] == 0


def test_rules_in_both_backends_are_reported(ns):
    legacy = sh("sh", "-c", "command -v iptables-legacy || true").strip()
    if not legacy:
        pytest.skip("iptables-legacy not installed")
    sh(legacy, "-A", "INPUT", "-s", "10.250.9.9", "-j", "DROP", ns=ns)
    rc, data, log = playbook(_gather_tasks(), ns=ns)
    facts = data["ansible_facts"]["iptables"]
    assert facts["backends"]["legacy"]["ipv4"]["rules"] == 1
    assert facts["backends"]["nf_tables"]["ipv4"]["rules"] == 15
    assert facts["docker_backend"] == "nf_tables"  # Docker-like chains live there
    assert any("both the nf_tables and the legacy" in w for w in facts["warnings"])
    assert "both the nf_tables and the legacy" in log  # shown to the user as a warning
