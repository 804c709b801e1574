"""Benchmark: parsing iptables-save output vs iptables-save itself printing it.

For rule sets of 1k, 10k and 50k rules (kube-proxy-like and Docker-like), loads the
rules into a network namespace of its own (never the host's), then measures:
  save   - `iptables-save` printing them (the floor: the host must do at least this)
  parse  - _iptables.parse_save on that text
  ratio  - parse / save
and the memory the parsed 50k-rule model holds (tracemalloc). Targets (issue 2):
parse of 10k rules <= 0.3 s and <= 3x save; memory <= 150 MB at 50k rules.

Run as root: python bench/bench_iptables_parse.py [--sizes 1000,10000,50000] [--repeat 5]
"""
import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import conftest  # noqa: E402
conftest.ensure_collection_path()
from ansible_collections.dockerguard.firewall.plugins.module_utils._iptables import (  # noqa: E402
    count_rules, parse_save)


def kube_like(n):
    """kube-proxy shape: services -> statistic-balanced endpoints -> DNAT."""
    nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
           ":POSTROUTING ACCEPT [0:0]", ":KUBE-SERVICES - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
    rules = ["-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
             "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"]
    svc = 0
    while len(rules) < n:
        svc += 1
        s, e = "KUBE-SVC-%012X" % svc, ["KUBE-SEP-%010X%02d" % (svc, k) for k in range(3)]
        ip = "10.96.%d.%d" % (svc // 250 % 250, svc % 250 + 1)
        nat.append(":%s - [0:0]" % s)
        nat.extend(":%s - [0:0]" % x for x in e)
        rules.append('-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment "ns%d/svc%d:http cluster IP" '
                     "-m tcp --dport 80 -j %s" % (ip, svc % 50, svc, s))
        for k, sep in enumerate(e):
            prob = ["-m statistic --mode random --probability 0.33333333349 ",
                    "-m statistic --mode random --probability 0.50000000000 ", ""][k]
            rules.append('-A %s -m comment --comment "ns%d/svc%d:http -> 10.244.%d.%d:8080" %s-j %s'
                         % (s, svc % 50, svc, k, svc % 250, prob, sep))
            rules.append("-A %s -s 10.244.%d.%d/32 -j KUBE-MARK-MASQ" % (sep, k, svc % 250))
            rules.append("-A %s -p tcp -m tcp -j DNAT --to-destination 10.244.%d.%d:8080"
                         % (sep, k, svc % 250))
    return "\n".join(nat + rules[:n] + ["COMMIT", ""])


def docker_like(n):
    """Docker 28 shape: per published port an ACCEPT in DOCKER and a DNAT, plus DOCKER-USER."""
    flt = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
           ":DOCKER - [0:0]", ":DOCKER-USER - [0:0]", ":DOCKER-FORWARD - [0:0]",
           "-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-FORWARD",
           "-A DOCKER-FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
           "-A DOCKER-FORWARD -o docker0 -j DOCKER"]
    nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
           ":POSTROUTING ACCEPT [0:0]", ":DOCKER - [0:0]",
           "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"]
    count, port = 6, 0
    while count < n:
        port += 1
        ip = "172.17.%d.%d" % (port // 250 % 250, port % 250 + 2)
        flt.append("-A DOCKER -d %s/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT" % ip)
        nat.append("-A DOCKER ! -i docker0 -p tcp -m tcp --dport %d -j DNAT --to-destination %s:80"
                   % (10000 + port, ip))
        flt.append('-A DOCKER-USER ! -s 10.%d.0.0/16 -p tcp -m conntrack --ctorigdstport %d '
                   '--ctdir ORIGINAL -m comment --comment "dockerguard: svc%d" -j DROP'
                   % (port % 250, 10000 + port, port))
        count += 3
    return "\n".join(flt + ["COMMIT"] + nat + ["COMMIT", ""])


def sh(ns, *argv, input=None):
    proc = subprocess.run(("ip", "netns", "exec", ns) + argv, input=input,
                          capture_output=True, text=True, check=True)
    return proc.stdout


def best(fn, repeat):
    times = []
    for dummy in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("%-7s %7s %7s | %10s %10s %7s | %s"
          % ("shape", "rules", "parsed", "save s", "parse s", "ratio", "targets"))
    ok = True
    for shape, gen in (("kube", kube_like), ("docker", docker_like)):
        for n in sizes:
            ns = "dg-bench-%s" % uuid.uuid4().hex[:8]
            subprocess.run(["ip", "netns", "add", ns], check=True)
            try:
                sh(ns, "iptables-restore", input=gen(n))
                text = sh(ns, "iptables-save")
                save = best(lambda: sh(ns, "iptables-save"), args.repeat)[0]
                parse = best(lambda: parse_save(text), args.repeat)[0]
                got = count_rules(parse_save(text))
                note = ""
                if n == 10000:
                    good = parse <= 0.3 and parse <= 3 * save
                    ok &= good
                    note = "parse<=0.3s and <=3x save: %s" % ("MET" if good else "MISSED")
                if n == max(sizes):
                    gc.collect()
                    tracemalloc.start()
                    model = parse_save(text)
                    mem = tracemalloc.get_traced_memory()[0] / 2**20
                    tracemalloc.stop()
                    del model
                    good = mem <= 150
                    ok &= good if n >= 50000 else True
                    note += (" " if note else "") + "model %.1f MB (<=150 MB at 50k: %s)" % (
                        mem, "MET" if good else "MISSED")
                print("%-7s %7d %7d | %10.4f %10.4f %6.2fx | %s"
                      % (shape, n, got, save, parse, parse / save, note))
            finally:
                subprocess.run(["ip", "netns", "delete", ns], check=False)
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
