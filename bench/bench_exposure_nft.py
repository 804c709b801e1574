"""Benchmark: the exposure engine with the rules split across iptables and native nftables.

The host of bench_exposure.py (P published ports, Docker's own rules in iptables), but
the user's rules live in native nftables tables, written the way nftables users write
them (issue 11):

- ``inet dg-user`` forward base chain at ``filter - 10``: replies accepted, a source
  blocklist as a named interval set (``ip saddr @blocklist drop``), then a verdict map on
  ``ct original proto-dst`` sending each restricted port (half of them) to a chain of its
  own (allow 10.20.0.0/16 and one more /16, drop the rest from eth0);
- ``inet f2b`` input base chain: fail2ban-like jails (``tcp dport N jump jailN``) filling
  the rest of the rule count with ``ip saddr X reject`` rules.

The nft side is generated as ``nft -j list ruleset`` JSON and parsed with ``_nftables``.
For 5 sources: compile (Engine), verdicts (every port x source, traced), summary
(reachability of every port). Target (issue 11): 10k rules, 1,000 ports, 5 sources:
verdicts <= 2 s, as for iptables alone.

Run: python bench/bench_exposure_nft.py [--sizes 1000,10000,50000] [--ports 1000] [--check]
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conftest  # noqa: E402,F401  pylint: disable=unused-import
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import (  # noqa: E402
    count_rules, parse_save)
from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure import (  # noqa: E402
    Engine)
from ansible_collections.dockerguard.firewall.plugins.module_utils import _nftables  # noqa: E402
from bench_exposure import HOST_IP, SOURCES, generate, host  # noqa: E402


def _m(left, right, op="=="):
    return {"match": {"op": op, "left": left, "right": right}}


SADDR = {"payload": {"protocol": "ip", "field": "saddr"}}
IIF = {"meta": {"key": "iifname"}}


def _prefix(cidr):
    a, _s, n = cidr.partition("/")
    return {"prefix": {"addr": a, "len": int(n)}}


def generate_nft(n, ports):
    """``nft -j list ruleset`` JSON of about ``n`` rules for ``ports`` published ports."""
    items = [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]
    rules = []

    def table(fam, name):
        items.append({"table": {"family": fam, "name": name, "handle": 1}})

    def chain(fam, tname, name, hook=None, prio=0, policy="accept"):
        c = {"family": fam, "table": tname, "name": name, "handle": 1}
        if hook:
            c.update(type="filter", hook=hook, prio=prio, policy=policy)
        items.append({"chain": c})

    def rule(fam, tname, cname, expr):
        rules.append({"rule": {"family": fam, "table": tname, "chain": cname, "handle": 1,
                               "expr": expr}})

    table("inet", "dg-user")
    chain("inet", "dg-user", "forward", "forward", -10)
    blocked = max(10, n // 20)
    items.append({"set": {"family": "inet", "table": "dg-user", "name": "blocklist",
                          "type": "ipv4_addr", "flags": ["interval"], "handle": 2,
                          "elem": ["198.51.%d.%d" % (100 + b // 240, b % 240 + 9)
                                   for b in range(blocked)]}})
    vmap = []
    for k in range(0, ports, 2):
        hp = 20000 + k
        name = "port-%d" % hp
        chain("inet", "dg-user", name)
        rule("inet", "dg-user", name, [_m(SADDR, _prefix("10.20.0.0/16")), {"accept": None}])
        rule("inet", "dg-user", name, [_m(SADDR, _prefix("10.%d.0.0/16" % (30 + k % 200))),
                                       {"accept": None}])
        rule("inet", "dg-user", name, [_m(IIF, "eth0"), {"drop": None}])
        vmap.append([hp, {"jump": {"target": name}}])
    items.append({"map": {"family": "inet", "table": "dg-user", "name": "restricted",
                          "type": "inet_service", "map": "verdict", "handle": 3, "elem": vmap}})
    rule("inet", "dg-user", "forward", [_m({"ct": {"key": "direction"}}, "original", "!="),
                                        {"accept": None}])
    rule("inet", "dg-user", "forward", [_m(SADDR, "@blocklist"), {"counter": None},
                                        {"drop": None}])
    rule("inet", "dg-user", "forward", [
        _m({"meta": {"key": "l4proto"}}, "tcp"),
        {"vmap": {"key": {"ct": {"key": "proto-dst", "dir": "original"}},
                  "data": "@restricted"}}])
    table("inet", "f2b")
    chain("inet", "f2b", "input", "input", 0)
    rest = max(0, n - len(rules))
    jails = max(1, rest // 2000)
    for j in range(jails):
        chain("inet", "f2b", "jail%d" % j)
        rule("inet", "f2b", "input", [_m({"payload": {"protocol": "tcp", "field": "dport"}},
                                         2200 + j), {"jump": {"target": "jail%d" % j}}])
    k = 0
    while len(rules) < n:
        rule("inet", "f2b", "jail%d" % (k % jails),
             [_m(SADDR, "192.0.%d.%d" % (3 + (k // 250) % 200, k % 250 + 1)),
              {"reject": {"type": "icmp", "expr": "port-unreachable"}}])
        k += 1
    return json.dumps({"nftables": items + rules})


def docker_only(n, ports):
    """bench_exposure's iptables ruleset without the user's rules (those are in nft)."""
    text = generate(10 * ports, ports)
    keep = [ln for ln in text.splitlines() if not ln.startswith("-A BLOCK")
            and not ln.startswith("-A f2b-") and not (ln.startswith("-A DOCKER-USER")
                                                      and "RETURN" not in ln.split()[-1:])]
    keep = [ln for ln in keep if not (ln.startswith("-A DOCKER-USER") and "-s " in ln)]
    return "\n".join(keep) + "\n"


def run(n, ports, check):
    ipt_text = docker_only(n, ports)
    model = parse_save(ipt_text)
    ipt_rules = count_rules(model)
    nft_text = generate_nft(max(0, n - ipt_rules), ports)
    t0 = time.perf_counter()
    nft = _nftables.parse(nft_text)
    t_parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = Engine(model, host(ports), nftables=nft)
    t_compile = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    counts = {}
    for k in range(ports):
        for src in SOURCES:
            r = engine.evaluate(source=src, in_interface="eth0", protocol="tcp",
                                destination=HOST_IP, dport=20000 + k)
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
            if check:
                expect = "exposed"
                if src.startswith("198.51.") or (k % 2 == 0 and src != "10.20.1.7"):
                    expect = "filtered"
                assert r["verdict"] == expect, (k, src, r["verdict"], r["reason"])
    t_verdicts, c_verdicts = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    sample = None
    for k in range(ports):
        s = engine.reachability(in_interface="eth0", protocol="tcp", destination=HOST_IP,
                                dport=20000 + k, regions=False)
        if k == 0:
            sample = s["exposed"]
    t_summary, c_summary = time.perf_counter() - t0, time.process_time() - c0
    return {"ipt": ipt_rules, "nft": nft["rule_count"], "ports": ports, "parse": t_parse,
            "compile": t_compile, "verdicts": t_verdicts, "verdicts_cpu": c_verdicts,
            "n_verdicts": ports * len(SOURCES), "summary": t_summary,
            "summary_cpu": c_summary, "counts": counts, "sample": sample}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--check", action="store_true", help="also assert each verdict")
    args = ap.parse_args()
    print("Times in seconds: wall (CPU of this process)")
    print("%7s %7s %6s %7s %7s %8s %15s %10s %15s  %s" % (
        "ipt", "nft", "ports", "nftparse", "compile", "verdicts", "verdicts_s", "us/verdict",
        "summary_s", "verdict counts"))
    failed = False
    res = None
    for n in (int(x) for x in args.sizes.split(",")):
        ports = min(args.ports, n // 10)
        res = run(n, ports, args.check)
        print("%7d %7d %6d %7.3f %7.3f %8d %6.3f (%6.3f) %10.1f %6.3f (%6.3f)  %s" % (
            res["ipt"], res["nft"], res["ports"], res["parse"], res["compile"],
            res["n_verdicts"], res["verdicts"], res["verdicts_cpu"],
            1e6 * res["verdicts_cpu"] / res["n_verdicts"], res["summary"], res["summary_cpu"],
            ", ".join("%s=%d" % kv for kv in sorted(res["counts"].items()))))
        if 9000 <= n <= 11000 and ports == 1000:
            v = min(res["verdicts"], res["verdicts_cpu"])
            failed = failed or v > 2.0
            print("        target at 10k rules / 1000 ports: verdicts %.2f s (<= 2: %s)"
                  % (v, "ok" if v <= 2.0 else "MISSED"))
    print("sample summary (port 20000, eth0): exposed to %s" % res["sample"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
