# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 12: docker_user_policy and host_input_policy with ``backend: nftables``, on real
nft in network namespaces, run through ansible-playbook as a user runs them.

The Docker-29 layout of test_nft_ground_truth (``ip``/``ip6 docker-bridges`` loaded from
tests/fixtures/nft/docker29, 8080 -> 10.250.20.2:80, a host service on 8086, clients c1
c2 c3): real probes before and after applying, and the engine's verdicts - predicted
from the check-mode result spliced into the ruleset, and judged on the ruleset read
back - equal the probes. Then idempotence, check and diff mode, absent, migration both
ways, and the faults refused before anything changes. Only 10.250.x.x inside the
namespaces. Run under ``flock /tmp/dg-lab.lock``.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_run import playbook
from tests.lab.netns import namespace, sh
from tests.integration.test_exposure_connection import _host_facts
from tests.integration.test_nft_ground_truth import CLIENTS, FIX, _probe, docker29_lab

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure, _nftables
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save

BRIDGES = {"bridge1": ["10.250.20.0/24"], "docker0": ["10.250.17.0/24"]}
POLICY = {"backend": "nftables", "bridges": ["docker0", "bridge1"],
          "entries": [{"name": "web", "ports": [8080],
                       "allow": ["10.250.21.10", "10.250.23.0/24", "fd00:250:21::/64"]}]}
TABLE = "inet dockerguard"


@pytest.fixture(scope="module")
def lab():
    with docker29_lab("np", (80,)) as wired:
        yield wired


@pytest.fixture()
def docker29(lab):
    """The host namespace with Docker 29's nftables tables only (no iptables rules)."""
    host = lab["host"]
    sh("iptables", "-F", ns=host, check=False)
    sh("nft", "flush", "ruleset", ns=host)
    sh("nft", "-f", os.path.join(FIX, "docker29/docker-bridges.nft"), ns=host)
    sh("conntrack", "-F", ns=host, check=False)
    return lab


def module(ns, args, name="docker_user_policy", extra=(), wrap=()):
    tasks = ("    - name: Apply\n"
             "      dockerguard.firewall.%s: %s\n"
             "      register: out\n"
             "      ignore_errors: true\n" % (name, json.dumps(args)))
    rc, data, log = playbook(tasks, ns=None if wrap else ns, extra_args=extra, check=False,
                             wrap=wrap)
    assert data is not None, log
    return data, log


def ruleset(ns):
    return sh("nft", "list", "ruleset", ns=ns)


def model(ns):
    return _nftables.parse(sh("nft", "-j", "list", "ruleset", ns=ns))


def probes(lab, ports=(8080, 8086)):
    cases = [(c, CLIENTS[c][2], p) for c in sorted(CLIENTS) for p in ports]
    sh("conntrack", "-F", ns=lab["host"], check=False)
    with ThreadPoolExecutor(len(cases)) as pool:
        got = list(pool.map(lambda c: _probe(lab["clients"][c[0]], c[1], c[2]), cases))
    return dict(((c, p), "exposed" if ok else "filtered") for (c, _a, p), ok in zip(cases, got))


def engine_verdicts(lab, nft, ports=(8080, 8086)):
    host = lab["host"]
    ipt = {"ipv4": dict(parse_save(sh("iptables-save", ns=host)), available=True)}
    engine = _exposure.Engine(ipt, dict(_host_facts(host), bridges=BRIDGES), nftables=nft)
    out, why = {}, {}
    for client in sorted(CLIENTS):
        iface, source, haddr = CLIENTS[client]
        for port in ports:
            r = engine.evaluate(dict(source=source, in_interface=iface, destination=haddr,
                                     dport=port))
            out[(client, port)] = r["verdict"]
            why[(client, port)] = _exposure.explain(r)
    return out, why


def test_docker_user_nftables_probes_prediction_idempotence(docker29):
    lab, host = docker29, docker29["host"]
    before = probes(lab)
    assert set(before.values()) == {"exposed"}, before       # published to everyone

    preview, log = module(host, POLICY, extra=["--check", "--diff"])
    assert preview["changed"] is True and preview["backend"] == "nftables", preview
    assert "dockerguard" not in ruleset(host)                 # check mode writes nothing
    assert "+\ttable inet dockerguard {" in log or "+table inet dockerguard {" in log, log
    predicted, why = engine_verdicts(lab, _nftables.with_tables(
        model(host), preview["nft_table"]))

    out, log = module(host, POLICY)
    assert out["changed"] is True and not out.get("failed"), out
    assert out["table"] == TABLE and out["backend_reason"] == "backend: nftables was asked for"
    after = probes(lab)
    assert after == {("c1", 8080): "exposed", ("c2", 8080): "filtered",
                     ("c3", 8080): "filtered", ("c1", 8086): "exposed",
                     ("c2", 8086): "exposed", ("c3", 8086): "exposed"}, after
    assert predicted == after, "\n".join("%s: %s" % (k, why[k]) for k in predicted
                                         if predicted[k] != after[k])
    judged, why = engine_verdicts(lab, model(host))
    assert judged == after, why
    written = ruleset(host)

    again, log = module(host, POLICY, extra=["--diff"])
    assert again["changed"] is False and not again.get("failed"), again
    assert ruleset(host) == written

    auto, log = module(host, dict(POLICY, backend="auto"))
    assert auto["backend"] == "nftables" and auto["changed"] is False, auto
    assert "docker-bridges" in auto["backend_reason"]


def test_host_input_policy_nftables_probes(docker29):
    """The host's own service (8086) restricted in our input table; the engine agrees."""
    lab, host = docker29, docker29["host"]
    inp = {"backend": "nftables", "entries": [{"name": "svc", "ports": [8086],
                                               "allow": ["10.250.22.0/24"]}]}
    out, log = module(host, inp, name="host_input_policy")
    assert out["changed"] and not out.get("failed"), out
    after = probes(lab)
    assert after == {("c1", 8080): "exposed", ("c2", 8080): "exposed", ("c3", 8080): "exposed",
                     ("c1", 8086): "filtered", ("c2", 8086): "exposed",
                     ("c3", 8086): "filtered"}, after
    judged, why = engine_verdicts(lab, model(host))
    assert judged == after, why
    out, log = module(host, dict(inp, state="absent"), name="host_input_policy")
    assert out["changed"] and "dockerguard" not in ruleset(host)


def test_absent_removes_only_our_table(docker29):
    host = docker29["host"]
    original = ruleset(host)
    module(host, POLICY)
    out, log = module(host, {"backend": "nftables", "state": "absent"}, extra=["--diff"])
    assert out["changed"] is True, out
    assert ruleset(host) == original
    again, log = module(host, {"backend": "nftables", "state": "absent"})
    assert again["changed"] is False


# ----------------------------------------------------------------- migration and faults
@pytest.fixture()
def plain():
    """A namespace with Docker-like iptables chains (DOCKER-USER), as the iptables tests."""
    from tests.integration.test_docker_user_policy import DOCKER_V4, DOCKER_V6
    with namespace("dg-np-m") as ns:
        sh("iptables-restore", ns=ns, input=DOCKER_V4)
        sh("ip6tables-restore", ns=ns, input=DOCKER_V6)
        yield ns


def saves(ns):
    return tuple("\n".join(l for l in sh(tool, ns=ns).splitlines() if not l.startswith("#"))
                 for tool in ("iptables-save", "ip6tables-save"))


def test_migration_both_ways(plain):
    ns = plain
    ipt = dict(POLICY, backend="iptables")
    out, log = module(ns, ipt)
    assert out["changed"] and out["backend"] == "iptables", out
    with_chain = saves(ns)
    assert "-A DOCKER-USER -j DOCKERGUARD" in with_chain[0]

    out, log = module(ns, POLICY)
    assert out["changed"] and out["backend"] == "nftables" and not out.get("failed"), out
    assert "-A DOCKERGUARD" in out["families"]["ipv4"]["retired"]
    assert "DOCKERGUARD" not in saves(ns)[0] and "DOCKERGUARD" not in saves(ns)[1]
    assert "table inet dockerguard {" in ruleset(ns)
    assert module(ns, POLICY)[0]["changed"] is False

    out, log = module(ns, ipt)
    assert out["changed"] and out["backend"] == "iptables", out
    assert "table inet dockerguard" in out["families"]["ipv4"]["retired"]
    assert "dockerguard" not in ruleset(ns)
    assert saves(ns) == with_chain

    module(ns, POLICY)
    out, log = module(ns, {"backend": "iptables", "state": "absent"})
    assert out["changed"] and "dockerguard" not in ruleset(ns)


def test_both_modules_keep_their_own_tables(plain):
    ns = plain
    module(ns, POLICY)
    inp = {"backend": "nftables", "entries": [{"name": "svc", "ports": [8086],
                                               "allow": ["10.250.21.0/24"]}],
           "ssh_sources": ["10.250.9.9"]}
    out, log = module(ns, inp, name="host_input_policy")
    assert out["changed"] and out["table"] == "inet dockerguard_input", out
    mine = sh("nft", "list", "table", "inet", "dockerguard_input", ns=ns)
    assert module(ns, POLICY)[0]["changed"] is False
    assert module(ns, inp, name="host_input_policy")[0]["changed"] is False
    out, log = module(ns, {"backend": "nftables", "state": "absent"})
    assert out["changed"]
    left = ruleset(ns)
    assert "table inet dockerguard {" not in left and "table inet dockerguard_input {" in left
    assert sh("nft", "list", "table", "inet", "dockerguard_input", ns=ns) == mine


def test_input_rollback_puts_the_table_back(plain, tmp_path):
    ns = plain
    inp = {"backend": "nftables", "entries": [{"name": "svc", "ports": [8086],
                                               "allow": ["10.250.21.0/24"]}]}
    module(ns, inp, name="host_input_policy")
    before = ruleset(ns)
    changed = dict(inp, entries=[{"name": "svc", "ports": [8086, 8087], "allow": ["10.250.22.0/24"]}],
                   rollback_timeout=2, confirm_file=str(tmp_path / "confirm"))
    out, log = module(ns, changed, name="host_input_policy")
    assert out.get("failed") and out["rolled_back"] is True, out
    assert ruleset(ns) == before


def test_a_foreign_table_named_like_ours_is_refused(plain):
    ns = plain
    sh("nft", "-f", "-", ns=ns, input="table inet dockerguard {\n chain x {\n  counter\n }\n}\n")
    before, ipt = ruleset(ns), saves(ns)
    out, log = module(ns, POLICY)
    assert out.get("failed") and "table inet dockerguard exists and is not ours" in out["msg"], out
    assert ruleset(ns) == before and saves(ns) == ipt
    out, log = module(ns, {"backend": "nftables", "state": "absent"})
    assert out.get("failed") and ruleset(ns) == before


def _shim(tmp_path, body):
    """A mount namespace where ``nft`` is a script (``body``, with $REAL the real nft)."""
    nft = shutil.which("nft")
    real = tmp_path / "nft-real"
    shutil.copy(nft, str(real))
    shim = tmp_path / "nft-shim"
    shim.write_text("#!/bin/sh\nREAL=%s\n%s\n" % (real, body))
    shim.chmod(0o755)
    return nft, str(shim)


def _wrapped(ns, source, target="nft"):
    path = shutil.which(target) if target == "nft" else target
    script = "mount --bind %s %s && exec ip netns exec %s \"$@\"" % (source, path, ns)
    return ["unshare", "-m", "sh", "-c", script, "sh"]


def test_nft_missing_is_refused(plain):
    ns = plain
    before, ipt = ruleset(ns), saves(ns)
    out, log = module(ns, POLICY, wrap=_wrapped(ns, "/dev/null"))
    assert out.get("failed") and "nft not found" in out["msg"], out
    assert ruleset(ns) == before and saves(ns) == ipt


def test_kernel_without_inet_tables_is_refused(plain, tmp_path):
    ns = plain
    nft, shim = _shim(tmp_path, (
        'if [ "$1" = "-c" ]; then input=$(cat); case "$input" in *dockerguard_probe*)\n'
        '  echo "Error: Could not process rule: Operation not supported" >&2; exit 1;; esac\n'
        '  printf "%s\\n" "$input" | exec $REAL "$@"; fi\nexec $REAL "$@"'))
    before, ipt = ruleset(ns), saves(ns)
    out, log = module(ns, POLICY, wrap=_wrapped(ns, shim))
    assert out.get("failed") and "cannot create an inet table" in out["msg"], out
    assert "Operation not supported" in out["msg"]
    assert ruleset(ns) == before and saves(ns) == ipt


def test_a_failure_in_the_transaction_leaves_the_table_as_it_was(plain, tmp_path):
    ns = plain
    module(ns, POLICY)
    before, ipt = ruleset(ns), saves(ns)
    other = dict(POLICY, entries=[{"name": "changed", "ports": [8081], "allow": ["10.250.30.0/24"]}])
    # the write itself fails (nft -c passed): nothing changes
    nft, shim = _shim(tmp_path, 'if [ "$1" = "-f" ]; then cat >/dev/null; '
                                'echo "Error: injected" >&2; exit 1; fi\nexec $REAL "$@"')
    out, log = module(ns, other, wrap=_wrapped(ns, shim))
    assert out.get("failed") and "injected" in out["msg"], out
    assert ruleset(ns) == before and saves(ns) == ipt
    # the write lands but differs from the render (a rule lost): the read-back sees it
    # and the saved table is put back exactly
    (tmp_path / "nft-shim").write_text(
        "#!/bin/sh\nREAL=%s\nif [ \"$1\" = \"-f\" ]; then sed '/changed allow/d' | exec $REAL -f -; fi\n"
        "exec $REAL \"$@\"\n" % (tmp_path / "nft-real"))
    out, log = module(ns, other, wrap=_wrapped(ns, shim))
    assert out.get("failed") and out.get("rolled_back") is True, out
    assert "differs from what was written" in out["msg"]
    assert ruleset(ns) == before and saves(ns) == ipt
