"""Benchmark: the exposure engine (plugins/module_utils/_exposure.py).

Generates Docker 28-like hosts (no kernel involved): P published ports, each with a
container, a DNAT, an ACCEPT in DOCKER, a raw direct-routing DROP, a hairpin MASQUERADE;
DOCKER-USER allow-lists (--ctorigdstport) for half of the ports; a source blocklist
walked by every forwarded packet in DOCKER-USER; fail2ban-like chains in INPUT filling
the rest, up to N rules. Then, for 5 sources:

  compile   - Engine(...) (compiles and indexes every chain)
  verdicts  - Engine.evaluate for every (published port, source), with traces
  summary   - Engine.reachability for every published port (all sources at once), with
              the per-rule regions (the default) and without (regions=False)

Targets (issue 4): 10k rules, 1,000 published ports, 5 sources: all verdicts <= 2 s;
reachability summary for 1,000 ports <= 5 s. Each size runs twice in one process: the
``handshake`` row walks the SYN and SYN-ACK only (the engine before issue 17), the
``connection`` row the whole exchange (SYN, SYN-ACK, ACK, request, answer); the targets
apply to the latter.

Run: python bench/bench_exposure.py [--sizes 1000,10000,50000] [--ports 1000] [--check]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
# conftest makes the collection importable
import conftest  # noqa: E402,F401  pylint: disable=unused-import
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import (  # noqa: E402
    count_rules, parse_save)
from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure import (  # noqa: E402
    Engine)

HOST_IP = "10.250.0.2"
SOURCES = ["100.64.0.50",    # the internet (any outside address)
           "10.20.1.7",      # in the allow-lists
           "10.250.0.20",    # the host's own LAN
           "198.51.100.9",   # on the blocklist
           "172.31.200.77"]  # elsewhere


def container_ip(k):
    return "172.18.%d.%d" % (k // 250, k % 250 + 2)


def generate(n, ports):
    """iptables-save text of about ``n`` rules with ``ports`` published ports."""
    raw = ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
           ":POSTROUTING ACCEPT [0:0]", ":DOCKER - [0:0]",
           "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
           "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
           "-A POSTROUTING -s 172.18.0.0/16 ! -o docker0 -j MASQUERADE",
           "-A DOCKER -i docker0 -j RETURN"]
    flt_head = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
                ":DOCKER - [0:0]", ":DOCKER-BRIDGE - [0:0]", ":DOCKER-CT - [0:0]",
                ":DOCKER-FORWARD - [0:0]", ":DOCKER-ISOLATION-STAGE-1 - [0:0]",
                ":DOCKER-ISOLATION-STAGE-2 - [0:0]", ":DOCKER-USER - [0:0]", ":BLOCK - [0:0]"]
    flt = ["-A INPUT -i lo -j ACCEPT",
           "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
           "-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-FORWARD",
           "-A DOCKER-FORWARD -j DOCKER-CT", "-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1",
           "-A DOCKER-FORWARD -j DOCKER-BRIDGE", "-A DOCKER-FORWARD -i docker0 -j ACCEPT",
           "-A DOCKER-BRIDGE -o docker0 -j DOCKER",
           "-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
           "-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2",
           "-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP",
           "-A DOCKER-USER -j BLOCK"]
    user = []
    for k in range(ports):
        hp, cip = 20000 + k, container_ip(k)
        raw.append("-A PREROUTING -d %s/32 ! -i docker0 -j DROP" % cip)
        nat.append("-A POSTROUTING -s %s/32 -d %s/32 -p tcp -m tcp --dport 80 -j MASQUERADE"
                   % (cip, cip))
        nat.append("-A DOCKER ! -i docker0 -p tcp -m tcp --dport %d -j DNAT --to-destination %s:80"
                   % (hp, cip))
        flt.append("-A DOCKER -d %s/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"
                   % cip)
        if k % 2 == 0:
            user.append("-A DOCKER-USER -s 10.20.0.0/16 -p tcp -m conntrack --ctorigdstport %d "
                        "--ctdir ORIGINAL -j RETURN" % hp)
            user.append("-A DOCKER-USER -s 10.%d.0.0/16 -p tcp -m conntrack --ctorigdstport %d "
                        "--ctdir ORIGINAL -j RETURN" % (30 + k % 200, hp))
            user.append("-A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport %d "
                        "--ctdir ORIGINAL -j DROP" % hp)
    flt.append("-A DOCKER ! -i docker0 -o docker0 -j DROP")
    user.append("-A DOCKER-USER -j RETURN")
    used = len(raw) + len(nat) + len(flt) + len(user) - 13
    rest = max(0, n - used)
    # a blocklist every forwarded packet walks (BLOCK), about 5% of the filler
    blocked = max(10, rest // 20)
    block = ["-A BLOCK -s 198.51.%d.%d/32 -j DROP" % (100 + b // 240, b % 240 + 9)
             for b in range(blocked)]
    rest -= blocked
    # fail2ban-like chains in INPUT: jumped to for their port only
    f2b_heads, f2b = [], []
    jails = max(1, rest // 2000)
    for j in range(jails):
        name = "f2b-jail%d" % j
        flt_head.append(":%s - [0:0]" % name)
        f2b_heads.append("-A INPUT -p tcp -m multiport --dports %d -j %s" % (2200 + j, name))
    k = 0
    while len(f2b) < rest - len(f2b_heads):
        j = k % jails
        f2b.append("-A f2b-jail%d -s 192.0.%d.%d/32 -j REJECT --reject-with icmp-port-unreachable"
                   % (j, 3 + (k // 250) % 200, k % 250 + 1))
        k += 1
    input_tail = ["-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"]
    text = "\n".join(raw + ["COMMIT"] + nat + ["COMMIT"] + flt_head + flt + f2b_heads
                     + input_tail + user + block + f2b + ["COMMIT", ""])
    return text


def host(ports):
    return {"interfaces": {"eth0": [HOST_IP + "/24"], "docker0": ["172.18.0.1/16"],
                           "lo": ["127.0.0.1/8"]},
            "bridges": ["docker0"]}


def run(n, ports, check, exchange="connection"):
    text = generate(n, ports)
    t0 = time.perf_counter()
    model = parse_save(text)
    t_parse = time.perf_counter() - t0
    rules = count_rules(model)
    t0 = time.perf_counter()
    engine = Engine(model, host(ports), exchange=exchange)
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
                if src.startswith("198.51.") or (k % 2 == 0 and src not in ("10.20.1.7",)):
                    expect = "filtered"
                if src == "10.250.0.20" and k % 2 == 0:
                    expect = "filtered"
                assert r["verdict"] == expect, (k, src, r["verdict"], r["reason"])
    t_verdicts, c_verdicts = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    sample = None
    for k in range(ports):
        s = engine.reachability(in_interface="eth0", protocol="tcp", destination=HOST_IP,
                                dport=20000 + k)
        if k == 0:
            sample = s["exposed"]
    t_summary, c_summary = time.perf_counter() - t0, time.process_time() - c0
    c0 = time.process_time()
    for k in range(ports):
        engine.reachability(in_interface="eth0", protocol="tcp", destination=HOST_IP,
                            dport=20000 + k, regions=False)
    c_bare = time.process_time() - c0
    return {"rules": rules, "ports": ports, "parse": t_parse, "compile": t_compile,
            "verdicts": t_verdicts, "verdicts_cpu": c_verdicts,
            "n_verdicts": ports * len(SOURCES), "summary": t_summary, "summary_cpu": c_summary, "bare_cpu": c_bare,
            "counts": counts, "sample": sample}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--ports", type=int, default=1000,
                    help="published ports (capped at a tenth of the rule count)")
    ap.add_argument("--check", action="store_true", help="also assert each verdict")
    ap.add_argument("--exchange", default="handshake,connection",
                    help="packets walked: handshake (SYN, SYN-ACK: the engine before issue "
                    "17, for comparison) and/or connection (the whole TCP exchange)")
    args = ap.parse_args()
    args.exchange = args.exchange.split(",")
    print("Times in seconds: wall (CPU of this process; on a busy machine CPU is the fair "
          "figure)")
    print("%-10s %7s %6s %7s %7s %8s %15s %10s %15s %9s  %s" % (
        "exchange", "rules", "ports", "parse", "compile", "verdicts", "verdicts_s", "us/verdict",
        "summary_s", "no_region", "verdict counts"))
    failed = False
    for n, exchange in ((int(x), e) for x in args.sizes.split(",") for e in args.exchange):
        ports = min(args.ports, n // 10)
        res = run(n, ports, args.check, exchange)
        print("%-10s %7d %6d %7.3f %7.3f %8d %6.3f (%6.3f) %10.1f %6.3f (%6.3f) (%6.3f)  %s" % (
            exchange, res["rules"], res["ports"], res["parse"], res["compile"], res["n_verdicts"],
            res["verdicts"], res["verdicts_cpu"], 1e6 * res["verdicts_cpu"] / res["n_verdicts"],
            res["summary"], res["summary_cpu"], res["bare_cpu"],
            ", ".join("%s=%d" % kv for kv in sorted(res["counts"].items()))))
        if 9000 <= n <= 11000 and ports == 1000 and exchange == "connection":
            v, s = min(res["verdicts"], res["verdicts_cpu"]), min(res["summary"], res["summary_cpu"])
            ok_v, ok_s = v <= 2.0, s <= 5.0
            failed = failed or not (ok_v and ok_s)
            print("        target at 10k rules / 1000 ports: verdicts %.2f s (<= 2: %s), "
                  "summary %.2f s (<= 5: %s)"
                  % (v, "ok" if ok_v else "MISSED", s, "ok" if ok_s else "MISSED"))
    print("sample summary (port 20000, eth0): exposed to %s" % res["sample"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
