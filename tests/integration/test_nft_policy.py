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
from tests.lab.netns import can_use_netns, namespace, sh
from tests.integration.test_exposure_connection import _host_facts, _serve
from tests.integration.test_nft_ground_truth import CLIENTS, CONTAINER, FIX, _probe, _wire

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure, _nftables
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import parse_save

BRIDGES = {"bridge1": ["10.250.20.0/24"], "docker0": ["10.250.17.0/24"]}
POLICY = {"backend": "nftables", "bridges": ["docker0", "bridge1"],
          "entries": [{"name": "web", "ports": [8080],
                       "allow": ["10.250.21.10", "10.250.23.0/24", "fd00:250:21::/64"]}]}
TABLE = "inet dockerguard"


@pytest.fixture(scope="module")
def lab():
    why = can_use_netns()
    if why or not shutil.which("nft"):
        pytest.skip(why or "nft not installed")
    procs = []
    with namespace("dg-np-h") as host, namespace("dg-np-k") as container, \
            namespace("dg-np-c1") as c1, namespace("dg-np-c2") as c2, \
            namespace("dg-np-c3") as c3:
        try:
            clients = {"c1": c1, "c2": c2, "c3": c3}
            _wire(host, container, clients)
            procs.append(_serve(container, 80, "0.0.0.0"))
            procs.append(_serve(host, 8086, "0.0.0.0"))
            yield {"host": host, "clients": clients}
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()


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
    docker_tables = [l for l in ruleset(host).splitlines()]
    written = ruleset(host)

    again, log = module(host, POLICY, extra=["--diff"])
    assert again["changed"] is False and not again.get("failed"), again
    assert ruleset(host) == written

    auto, log = module(host, dict(POLICY, backend="auto"))
    assert auto["backend"] == "nftables" and auto["changed"] is False, auto
    assert "docker-bridges" in auto["backend_reason"]
    assert docker_tables


def test_absent_removes_only_our_table(docker29):
    host = docker29["host"]
    original = ruleset(host)
    module(host, POLICY)
    out, log = module(host, {"backend": "nftables", "state": "absent"}, extra=["--diff"])
    assert out["changed"] is True, out
    assert ruleset(host) == original
    again, log = module(host, {"backend": "nftables", "state": "absent"})
    assert again["changed"] is False
