"""Benchmark: parsing `nft -j list ruleset` vs nft itself printing it.

For rulesets of 1k, 10k and 50k rules (a Docker-29-like table with per-bridge chains and
verdict maps, beside a user's allow-list table with sets), loads them with `nft -f` into
a network namespace of its own (never the host's), then measures, in the same run:
  list   - `nft -j list ruleset` printing them (the floor: the host must do at least this)
  parse  - _nftables.parse on that JSON text
  ratio  - parse / list
and the memory the parsed 50k-rule model holds (tracemalloc). Targets (issue 11):
parse of 10k rules <= 3x list; memory < 150 MB at 50k rules.

Run as root: python bench/bench_nft_parse.py [--sizes 1000,10000,50000] [--repeat 3]
"""
import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import conftest  # noqa: E402
conftest.ensure_collection_path()
from ansible_collections.dockerguard.firewall.plugins.module_utils._nftables import (  # noqa: E402
    parse)

PER_CHAIN = 250


def ruleset(n):
    """nft -f text with about ``n`` rules: half Docker-29-like bridges, half a user's
    restrictions (ct original proto-dst, named sets, anonymous sets, concatenations)."""
    out = ["table ip bench-docker {",
           " map fwd-in { type ifname : verdict; }",
           " chain filter-FORWARD { type filter hook forward priority filter; policy accept;",
           "  oifname vmap @fwd-in", " }",
           " chain nat-PREROUTING { type nat hook prerouting priority dstnat; policy accept;",
           "  fib daddr type local jump nat-prerouting-and-output", " }"]
    dnat, maps, count, bridge = [], [], 2, 0
    while count < n // 2:
        bridge += 1
        name = "br%d" % bridge
        out.append(" chain filter-forward-in__%s {" % name)
        out.append("  ct state established,related counter accept")
        out.append('  iifname "%s" counter accept comment "ICC"' % name)
        count += 2
        for k in range(min(PER_CHAIN, n // 2 - count)):
            ip = "10.%d.%d.%d" % (250, bridge % 250, k % 250 + 2)
            out.append("  ip daddr %s tcp dport %d counter accept" % (ip, 80 + k))
            dnat.append('  iifname != "%s" tcp dport %d counter dnat to %s:%d comment "DNAT"'
                        % (name, 10000 + count + k, ip, 80 + k))
        count += 2 * min(PER_CHAIN, n // 2 - count)
        out.append('  counter drop comment "UNPUBLISHED PORT DROP"')
        out.append(" }")
        maps.append('"%s" : jump filter-forward-in__%s' % (name, name))
    out.append(" chain nat-prerouting-and-output {")
    out.extend(dnat)
    out.append(" }")
    if maps:
        out.append(" map fwd-in2 { type ifname : verdict; elements = { %s } }" % ", ".join(maps))
    out.append("}")
    out += ["table inet bench-user {",
            " set allowed { type ipv4_addr; flags interval; elements = { 10.250.0.0/24, "
            "10.250.1.1-10.250.1.9 } }",
            " set pairs { type ipv4_addr . inet_service; elements = { 10.250.2.1 . 80 } }",
            " chain forward { type filter hook forward priority filter - 10; policy accept;",
            "  ct direction != original accept"]
    k = 0
    while count < n:
        if k % PER_CHAIN == 0:
            if k:
                out.append(" }")
            out.append(" chain c%d {" % (k // PER_CHAIN))
        ip = "10.250.%d.%d" % ((k >> 8) & 255, k & 255)
        m = k % 4
        if m == 0:
            out.append('  ip saddr %s tcp dport %d counter accept comment "r%d"'
                       % (ip, 1024 + k % 60000, k))
        elif m == 1:
            out.append("  meta l4proto tcp ct original proto-dst %d ip saddr != %s/24 drop"
                       % (1024 + k % 60000, ip))
        elif m == 2:
            out.append("  ip6 saddr fd00:250::%x tcp dport { 80, 443, 8000-8100 } ct state new "
                       "accept" % k)
        else:
            out.append("  meta l4proto udp th dport %d ip saddr . th dport @pairs counter drop"
                       % (1024 + k % 60000))
        k += 1
        count += 1
    if k:
        out.append(" }")
    # the jumps into the user chains belong to the base chain: insert them there
    chains = (k + PER_CHAIN - 1) // PER_CHAIN
    jumps = ['  iifname "ext%d" jump c%d' % (c % 16, c) for c in range(chains)]
    at = out.index("  ct direction != original accept") + 1
    out[at:at] = jumps + [" }"]
    out.append("}")
    return "\n".join(out) + "\n"


def sh(ns, *argv):
    proc = subprocess.run(("ip", "netns", "exec", ns) + argv, capture_output=True,
                          text=True, check=True)
    return proc.stdout


def best(fn, repeat):
    times = []
    for dummy in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("%7s %7s | %10s %10s %7s | %s" % ("rules", "parsed", "list s", "parse s", "ratio",
                                            "targets"))
    ok = True
    for n in sizes:
        ns = "dg-bench-%s" % uuid.uuid4().hex[:8]
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            with tempfile.NamedTemporaryFile("w", suffix=".nft") as fh:
                fh.write(ruleset(n))
                fh.flush()
                sh(ns, "nft", "-f", fh.name)
            text = sh(ns, "nft", "-j", "list", "ruleset")
            listed = best(lambda: sh(ns, "nft", "-j", "list", "ruleset"), args.repeat)
            parsed = best(lambda: parse(text), args.repeat)
            got = parse(text)["rule_count"]
            note = ""
            if n == 10000:
                good = parsed <= 3 * listed
                ok &= good
                note = "parse <= 3x list: %s" % ("MET" if good else "MISSED")
            if n == max(sizes):
                gc.collect()
                tracemalloc.start()
                model = parse(text)
                mem = tracemalloc.get_traced_memory()[0] / 2**20
                tracemalloc.stop()
                del model
                good = mem < 150
                ok &= good if n >= 50000 else True
                note += (" " if note else "") + "model %.1f MB (< 150 MB at 50k: %s)" % (
                    mem, "MET" if good else "MISSED")
            print("%7d %7d | %10.4f %10.4f %6.2fx | %s"
                  % (n, got, listed, parsed, parsed / listed, note))
        finally:
            subprocess.run(["ip", "netns", "delete", ns], check=False)
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
