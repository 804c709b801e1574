"""The boot/re-apply program's logic (plugins/module_utils/_saved_policy.py) against a
small stateful stand-in for iptables-save/-restore: both hooks, --check, idempotence,
refusals. The real kernel runs it in molecule/host_network (boot path on a node)."""
import io
import json

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import PolicyError
from ansible_collections.dockerguard.firewall.plugins.module_utils._saved_policy import (
    EXIT_DIFFERS, EXIT_ERROR, EXIT_OK, EXIT_USAGE, load, main)

INPUT_POLICY = {"format": 1, "hook": "INPUT", "chain": "DOCKERGUARD-INPUT", "action": "drop",
                "ssh_sources": ["10.250.9.1"], "ssh_port": 2222, "families": ["ipv4"],
                "wait": 5, "entries": [{"name": "web", "ports": [8080],
                                        "allow": ["10.250.9.10/32"]}]}


class Kernel:
    """The filter table of one family: chains and their rules; restore applies payloads."""

    def __init__(self, chains=None, fail_restore=False):
        self.chains = chains if chains is not None else {"INPUT": ["-s 10.250.9.99/32 -j ACCEPT"]}
        self.fail_restore = fail_restore
        self.restores = []

    def save(self):
        lines = ["*filter"] + [":%s - [0:0]" % c for c in self.chains]
        for chain, rules in self.chains.items():
            lines += ["-A %s %s" % (chain, r) for r in rules]
        return "\n".join(lines + ["COMMIT"]) + "\n"

    def restore(self, payload, test):
        chains = {k: list(v) for k, v in self.chains.items()}
        for line in payload.splitlines():
            if line in ("*filter", "COMMIT"):
                continue
            if line.startswith(":"):
                chains[line[1:].split()[0]] = []
                continue
            op, chain, rest = (line.split(" ", 2) + [""])[:3]
            if op == "-A":
                chains[chain].append(rest)
            elif op == "-D":
                chains[chain].remove(rest)
            elif op == "-I":
                chains[chain].insert(int(rest.split(" ", 1)[0]) - 1, rest.split(" ", 1)[1])
            elif op == "-F":
                chains[chain] = []
            elif op == "-X":
                del chains[chain]
        if not test:
            self.chains = chains
            self.restores.append(payload)

    def __call__(self, argv, data=None):
        if argv[0].endswith("-save"):
            return 0, self.save(), ""
        if self.fail_restore:
            return 1, "", "iptables-restore: line 2 failed"
        self.restore(data, "--test" in argv)
        return 0, "", ""


def which(name):
    return "/usr/sbin/" + name


class Runner:
    """The CmdRunner seam: ``run`` is the stand-in kernel, ``which`` finds every tool."""

    def __init__(self, kernel, which_=which):
        self.run, self.which = kernel, which_


def run_main(tmp_path, kernel, saved, *args):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(saved) if not isinstance(saved, str) else saved)
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(args), config=str(path), prog="t", runner=Runner(kernel), out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def test_input_policy_is_put_in_place_then_left_alone(tmp_path):
    k = Kernel()
    rc, out, err = run_main(tmp_path, k, INPUT_POLICY)
    assert rc == EXIT_OK, err
    assert "DOCKERGUARD-INPUT applied (5 rules, jumped to from INPUT)" in out
    assert k.chains["INPUT"] == ["-j DOCKERGUARD-INPUT", "-s 10.250.9.99/32 -j ACCEPT"]
    ours = k.chains["DOCKERGUARD-INPUT"]
    assert '-s 10.250.9.1/32 -p tcp -m tcp --dport 2222 -m comment --comment "dockerguard: ' \
           'controller ssh" -j RETURN' in ours
    assert ours[-1] == '-p tcp -m tcp --dport 8080 -m comment --comment "dockerguard: web deny" -j DROP'
    rc, out, err = run_main(tmp_path, k, INPUT_POLICY)
    assert rc == EXIT_OK and "already in place" in out and len(k.restores) == 1


def test_check_reports_a_difference_without_changing_anything(tmp_path):
    k = Kernel()
    rc, out, dummy = run_main(tmp_path, k, INPUT_POLICY, "--check")
    assert rc == EXIT_DIFFERS and "differs from the saved policy" in out and not k.restores
    run_main(tmp_path, k, INPUT_POLICY)
    assert run_main(tmp_path, k, INPUT_POLICY, "--check", "--quiet") == (EXIT_OK, "", "")


def test_docker_user_is_created_at_boot_before_dockerd(tmp_path):
    k = Kernel({"FORWARD": []})
    saved = {"format": 1, "chain": "DOCKERGUARD", "families": ["ipv4"],
             "entries": [{"ports": [8080], "allow": ["10.250.9.10"]}]}  # no hook: DOCKER-USER
    rc, out, err = run_main(tmp_path, k, saved)
    assert rc == EXIT_OK, err
    assert "DOCKER-USER created (Docker not started yet)" in out
    assert k.chains["DOCKER-USER"] == ["-j DOCKERGUARD"]


def test_a_refused_restore_is_an_error_and_changes_nothing(tmp_path):
    k = Kernel(fail_restore=True)
    before = dict(k.chains)
    rc, out, err = run_main(tmp_path, k, INPUT_POLICY)
    assert rc == EXIT_ERROR and "refused" in err and k.chains == before


@pytest.mark.parametrize("saved, message", [
    ("{not json", "cannot use the saved policy"),
    (dict(INPUT_POLICY, format=2), "unknown format 2"),
    (dict(INPUT_POLICY, hook="OUTPUT"), "'OUTPUT' is not DOCKER-USER or INPUT"),
    (dict(INPUT_POLICY, families=["ipv5"]), "'ipv5' is not ipv4 or ipv6"),
    (dict(INPUT_POLICY, families=[]), "families: an empty list would write nothing"),
    (dict(INPUT_POLICY, entries=[{"name": "a", "ports": [80], "allow": ["10.0.0.0/8"],
                                  "interfaces": ["eth0:1"]}]), "'eth0:1'"),
    (dict(INPUT_POLICY, ssh_sources=["10.250.9.300"]), "10.250.9.300"),
    (dict(INPUT_POLICY, wait="soon"), "wait: 'soon'"),
    (dict(INPUT_POLICY, backend="auto"), "backend: 'auto' is not iptables or nftables"),
])
def test_bad_saved_files_are_refused_naming_the_value(tmp_path, saved, message):
    k = Kernel()
    rc, out, err = run_main(tmp_path, k, saved)
    assert rc == EXIT_USAGE and message in err and not k.restores


def test_load_normalises_an_input_policy():
    policy, families, wait = load(INPUT_POLICY)
    assert policy["hook"] == "INPUT" and policy["bridges"] == [] and policy["ssh_port"] == 2222
    assert families == ["ipv4"] and wait == 5
    with pytest.raises(PolicyError, match="not a JSON object"):
        load([INPUT_POLICY])


def test_missing_iptables_is_an_error(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(INPUT_POLICY))
    err = io.StringIO()
    rc = main([], config=str(path), prog="t", runner=Runner(Kernel(), lambda n: None),
              out=io.StringIO(), err=err)
    assert rc == EXIT_ERROR and "iptables-save / iptables-restore not found" in err.getvalue()


def test_saved_iptables_policy_stays_on_iptables(tmp_path):
    """A file naming backend iptables (or none, saved before it existed) writes iptables
    only: the stand-in kernel answers nothing but iptables-save/-restore."""
    k = Kernel()
    rc, out, err = run_main(tmp_path, k, dict(INPUT_POLICY, backend="iptables"))
    assert rc == EXIT_OK and "DOCKERGUARD-INPUT applied" in out, err
