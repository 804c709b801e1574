"""Benchmark: allow-lists of 100 and 10,000 CIDRs on one port, both backends, on a real lab node.

Starts one fleet node (Docker inside Docker, docs/lab.md section 3; default
node-forky-firewalld:local without starting firewalld: Docker 28.5 with ip6tables, and
nft, so both backends can be written), then runs real ansible-playbook commands against
it over the community.docker.docker connection. For each size (--cidrs, default 100 and
10000):

  iptables first   dockerguard.firewall.docker_user_policy, backend: iptables, nothing of
                   ours in the kernel yet
  iptables rerun   the same task again, --repeat times (median): unchanged
  nftables first   backend: nftables, after the iptables policy was removed (untimed):
                   nothing of ours in the kernel
  nftables rerun   the same task again, --repeat times (median): unchanged
  loop             the same allow-list with a loop of ansible.builtin.iptables tasks (one
                   rule per item, the way playbooks usually do it), into a chain of its own

The loop is measured whole up to --loop-max items. Above that it is extrapolated, and
the output says so: each ansible.builtin.iptables call reads the whole chain, so a call
costs more as the chain grows; --loop-sample items are timed on an empty chain (the
start of the loop) and the same number again on a chain preloaded (untimed, with
iptables-restore) to the full size less the sample (its end), and the whole loop is
estimated as size x the mean of the two per-item times (linear growth in between).

Every playbook runs with the same Ansible settings (pipelining on unless
--no-pipelining). For each: the wall time of the whole ansible-playbook command and the
time of the tasks themselves (from the ansible.posix.json callback). Targets: for 100
CIDRs with iptables (issue 5) first <= 2 s wall, rerun <= 1.5 s wall, loop / first >=
25x; for 10,000 CIDRs with nftables (issue 12) first <= 1 s task time; every rerun
unchanged.

Run as root with the lab images built (scripts/lab/images.sh):
    python -m bench.bench_docker_user [--cidrs 100,10000] [--backends iptables,nftables] [--keep]
Exit status 1 when a target is missed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# Run from the repository root with ``python -m``: the root is then on sys.path.
# conftest.py creates the .tmp/collections link tree ansible-playbook is pointed at.
import conftest  # noqa: F401  pylint: disable=unused-import
from tests.lab import node as lab_node
from tests.lab.engine import LabError, wait_for
from tests.lab.playbook import COLLECTIONS

BIN = os.path.dirname(os.path.abspath(sys.executable))
PORT = 8080
LOOP_CHAIN = "DGBENCHLOOP"
TARGETS = {"first": 2.0, "rerun": 1.5, "ratio": 25.0, "nft_first_task_10k": 1.0}

PLAY = """- hosts: node
  gather_facts: false
  tasks:
%s
"""
MODULE_TASK = """    - name: Allow-list for published ports
      dockerguard.firewall.docker_user_policy:
        backend: @BACKEND@
        state: @STATE@
        entries:
          - name: bench
            ports: [@PORT@]
            allow: @CIDRS@
""".replace("@PORT@", str(PORT))
LOOP_HEAD = """    - name: Create the chain
      ansible.builtin.iptables:
        chain: @CHAIN@
        chain_management: true
""".replace("@CHAIN@", LOOP_CHAIN)
LOOP_TASKS = """@HEAD@    - name: One rule per allowed CIDR
      ansible.builtin.iptables:
        chain: @CHAIN@
        source: "{{ item }}"
        protocol: tcp
        destination_port: "@PORT@"
        jump: RETURN
        comment: bench allow
      loop: @CIDRS@
@TAIL@""".replace("@PORT@", str(PORT)).replace("@CHAIN@", LOOP_CHAIN)
LOOP_TAIL = """    - name: Everyone else
      ansible.builtin.iptables:
        chain: @CHAIN@
        protocol: tcp
        destination_port: "@PORT@"
        jump: DROP
        comment: bench deny
    - name: Jump from DOCKER-USER
      ansible.builtin.iptables:
        chain: DOCKER-USER
        jump: @CHAIN@
        action: insert
""".replace("@PORT@", str(PORT)).replace("@CHAIN@", LOOP_CHAIN)
REMOVE_LOOP = ("iptables -D DOCKER-USER -j {0} 2>/dev/null; iptables -F {0} 2>/dev/null; "
               "iptables -X {0} 2>/dev/null; true".format(LOOP_CHAIN))


def sh(argv, check=True, **kwargs):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise SystemExit("%s failed (rc=%d): %s%s" % (
            " ".join(argv[:6]), proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc


def cidrs_of(count, offset=0):
    """``count`` distinct /32s in 198.18.0.0/15 (a benchmarking range, never routed here)."""
    return ["198.%d.%d.%d/32" % (18 + k // 62500, k // 250 % 250, k % 250 + 1)
            for k in range(offset, offset + count)]


def start_node(name, image):
    """A lab node (tests.lab.node) whose Docker has created DOCKER-USER (IPv4)."""
    try:
        lab_node.start_node(name, image)
        wait_for(lambda: lab_node.node_exec(name, "iptables", "-S", "DOCKER-USER",
                                            check=False).returncode == 0,
                 timeout=90, what="DOCKER-USER in %s" % name)
    except LabError as exc:
        raise SystemExit(str(exc))


class Runner(object):
    """ansible-playbook against the node, timed."""

    def __init__(self, tmp, node, pipelining):
        self.tmp, self.node, self.pipelining = tmp, node, pipelining
        self.inventory = os.path.join(tmp, "inventory.yml")
        with open(self.inventory, "w") as f:
            f.write("all:\n  hosts:\n    node:\n      ansible_host: %s\n"
                    "      ansible_connection: community.docker.docker\n"
                    "      ansible_python_interpreter: /usr/bin/python3\n" % node)

    def playbook(self, name, tasks):
        play = os.path.join(self.tmp, name + ".yml")
        with open(play, "w") as f:
            f.write(PLAY % tasks)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_DEPRECATION_WARNINGS="false",
                   ANSIBLE_PIPELINING="true" if self.pipelining else "false")
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, play]
        start = time.perf_counter()
        proc = sh(argv, check=False, env=env)
        wall = time.perf_counter() - start
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            raise SystemExit("%s: ansible-playbook output is not JSON (rc=%d):\n%s%s"
                             % (name, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
        if proc.returncode != 0:
            failed = [t["hosts"]["node"].get("msg") for p in data["plays"] for t in p["tasks"]
                      if t["hosts"]["node"].get("failed")]
            raise SystemExit("%s failed: %s %s" % (name, json.dumps(data["stats"]), failed))
        task_seconds, changed, results = 0.0, False, []
        for play_data in data["plays"]:
            for task in play_data["tasks"]:
                d = task["task"]["duration"]
                task_seconds += _seconds(d["end"]) - _seconds(d["start"])
                changed = changed or bool(task["hosts"]["node"].get("changed"))
                results.append(task["hosts"]["node"])
        return {"wall": wall, "task": task_seconds, "changed": changed, "results": results}

    def policy(self, name, backend, cidrs, state="present"):
        return self.playbook(name, MODULE_TASK.replace("@BACKEND@", backend)
                             .replace("@STATE@", state).replace("@CIDRS@", json.dumps(cidrs)))

    def loop(self, name, cidrs, head=True, tail=True):
        return self.playbook(name, LOOP_TASKS.replace("@CIDRS@", json.dumps(cidrs))
                             .replace("@HEAD@", LOOP_HEAD if head else "")
                             .replace("@TAIL@", LOOP_TAIL if tail else ""))

    def node_sh(self, script, data=None):
        return sh(["docker", "exec", "-i", self.node, "sh", "-c", script], input=data).stdout


def _seconds(stamp):
    # 2026-11-23T08:30:01.123456Z
    clock = stamp.rstrip("Z").split("T")[1]
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def median_rerun(run, repeat, *args):
    reruns = sorted((run(*args) for dummy in range(repeat)), key=lambda r: r["wall"])
    mid = dict(reruns[len(reruns) // 2])
    mid["changed"] = any(r["changed"] for r in reruns)
    mid["walls"] = [r["wall"] for r in reruns]
    return mid


def kernel_counts(r):
    """Our iptables rules (IPv4) and the elements of our nftables table."""
    ipt = sum(1 for line in r.node_sh("iptables-save -t filter").splitlines()
              if line.startswith("-A DOCKERGUARD "))
    out = r.node_sh("nft -j list table inet dockerguard 2>/dev/null || true")
    elements = 0
    if out.strip():
        for item in json.loads(out)["nftables"]:
            elements += len(item.get("set", {}).get("elem", []))
    return ipt, elements


def bench_backends(r, size, backends, repeat):
    cidrs = cidrs_of(size)
    rows = []
    for backend in backends:
        first = r.policy("%s-%d-first" % (backend, size), backend, cidrs)
        counts = kernel_counts(r)
        rerun = median_rerun(r.policy, repeat, "%s-%d-rerun" % (backend, size), backend, cidrs)
        rows.append((backend, "first", first, "iptables DOCKERGUARD rules %d, nft set elements %d"
                     % counts))
        rows.append((backend, "rerun", rerun, "median of %d: %s" % (
            len(rerun["walls"]), ", ".join("%.2f" % w for w in rerun["walls"]))))
        for row in rows[-2:]:
            print("measured: %d %s %s wall %.2f s, task %.2f s, changed=%s" % (
                size, row[0], row[1], row[2]["wall"], row[2]["task"], row[2]["changed"]))
        r.policy("%s-%d-absent" % (backend, size), backend, cidrs, state="absent")   # untimed
    return rows


def bench_loop(r, size, loop_max, sample):
    """(result, how): the loop measured whole, or extrapolated from two samples."""
    r.node_sh(REMOVE_LOOP)
    if size <= loop_max:
        res = r.loop("loop-%d" % size, cidrs_of(size))
        res["rules"] = sum(1 for line in r.node_sh("iptables-save -t filter").splitlines()
                           if line.startswith("-A %s " % LOOP_CHAIN))
        r.node_sh(REMOVE_LOOP)
        return res, "measured, %d rules" % res["rules"]
    start = r.loop("loop-%d-start" % size, cidrs_of(sample), tail=False)
    r.node_sh(REMOVE_LOOP)
    # Preload the chain to size - sample rules (untimed), then time the last sample items.
    preload = size - sample
    payload = ["*filter", ":%s - [0:0]" % LOOP_CHAIN]
    payload += ['-A %s -s %s -p tcp -m tcp --dport %d -m comment --comment "bench allow" -j RETURN'
                % (LOOP_CHAIN, c, PORT) for c in cidrs_of(preload, offset=sample)]
    r.node_sh("iptables-restore --noflush", data="\n".join(payload + ["COMMIT", ""]))
    end = r.loop("loop-%d-end" % size, cidrs_of(sample), head=False)   # the chain exists
    r.node_sh(REMOVE_LOOP)
    per_start, per_end = start["task"] / sample, end["task"] / sample
    est = {"task": size * (per_start + per_end) / 2.0,
           "wall": size * (start["wall"] / sample + end["wall"] / sample) / 2.0,
           "changed": start["changed"] and end["changed"]}
    how = ("EXTRAPOLATED, not run whole: %d items timed on an empty chain (%.3f s task per "
           "item) and %d on a chain of %d rules (%.3f s per item); estimate = %d x their mean"
           % (sample, per_start, sample, preload, per_end, size))
    return est, how


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--cidrs", default="100,10000",
                        help="comma-separated allow-list sizes (default 100,10000)")
    parser.add_argument("--backends", default="iptables,nftables")
    parser.add_argument("--image", default=lab_node.FIREWALLD_IMAGE)
    parser.add_argument("--keep", action="store_true", help="leave the node running")
    parser.add_argument("--repeat", type=int, default=3,
                        help="unchanged re-runs; the median is reported (default 3)")
    parser.add_argument("--loop-max", type=int, default=100,
                        help="largest loop run whole (default 100)")
    parser.add_argument("--loop-sample", type=int, default=100,
                        help="items timed at each end of a larger loop (default 100)")
    parser.add_argument("--no-pipelining", dest="pipelining", action="store_false",
                        help="run every playbook with Ansible pipelining off (default: on)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (docker)")
    sizes = [int(s) for s in args.cidrs.split(",")]
    backends = args.backends.split(",")

    node = "dg-bench-docker-user-%d" % os.getpid()
    print("node %s (%s), allow-lists of %s CIDRs on port %d, backends %s, Ansible "
          "pipelining %s" % (node, args.image, " and ".join(str(s) for s in sizes), PORT,
                             ", ".join(backends), "on" if args.pipelining else "off"))
    table, checks = [], []
    try:
        start_node(node, args.image)
        with tempfile.TemporaryDirectory(prefix="bench-docker-user-") as tmp:
            r = Runner(tmp, node, args.pipelining)
            for size in sizes:
                rows = bench_backends(r, size, backends, args.repeat)
                loop, how = bench_loop(r, size, args.loop_max, args.loop_sample)
                rows.append(("loop", "first", loop, how))
                table.append((size, rows))
    finally:
        if not args.keep:
            sh(["docker", "rm", "-f", node], check=False)

    print("%-6s %-9s %-6s %9s %9s  %-7s %s" % ("cidrs", "backend", "run", "wall s", "task s",
                                               "changed", "notes"))
    for size, rows in table:
        got = {}
        for backend, run, res, note in rows:
            got[(backend, run)] = res
            print("%-6d %-9s %-6s %9.2f %9.2f  %-7s %s" % (
                size, backend, run, res["wall"], res["task"], res["changed"], note))
        loop = got[("loop", "first")]
        for backend in backends:
            first, rerun = got[(backend, "first")], got[(backend, "rerun")]
            print("%-6d %-9s loop/first: %.1fx wall, %.1fx task time" % (
                size, backend, loop["wall"] / first["wall"],
                loop["task"] / first["task"] if first["task"] else float("inf")))
            checks.append(("%d CIDRs, %s: first changed, re-run unchanged" % (size, backend),
                           first["changed"] and not rerun["changed"]))
        if size == 100 and "iptables" in backends:
            first, rerun = got[("iptables", "first")], got[("iptables", "rerun")]
            checks += [
                ("100 CIDRs, iptables: first apply <= %.1f s wall" % TARGETS["first"],
                 first["wall"] <= TARGETS["first"]),
                ("100 CIDRs, iptables: unchanged re-run <= %.1f s wall" % TARGETS["rerun"],
                 rerun["wall"] <= TARGETS["rerun"]),
                ("100 CIDRs: loop of ansible.builtin.iptables / iptables first >= %.0fx wall"
                 % TARGETS["ratio"], loop["wall"] / first["wall"] >= TARGETS["ratio"]),
            ]
        if size == 10000 and "nftables" in backends:
            first = got[("nftables", "first")]
            checks.append(("10000 CIDRs, nftables: first apply <= %.1f s task time"
                           % TARGETS["nft_first_task_10k"],
                           first["task"] <= TARGETS["nft_first_task_10k"]))
    for what, ok in checks:
        print("%s  %s" % ("PASS" if ok else "MISS", what))
    return 0 if all(ok for dummy, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
