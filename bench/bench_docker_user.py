"""Benchmark: an allow-list of 100 CIDRs on one port, applied to a real lab node.

Starts one fleet node (Docker inside Docker, docs/lab.md section 3; default
node-forky:local, Docker 28.5 with ip6tables, so both families are written), then runs
real ansible-playbook commands against it over the community.docker.docker connection:

  first    dockerguard.firewall.docker_user_policy, nothing of ours in the kernel yet
  rerun    the same task again, --repeat times (median): unchanged (ok, not changed)
  loop     the same allow-list with a loop of ansible.builtin.iptables tasks (one rule per
           item, the way playbooks usually do it), into a chain of its own

Every playbook runs with the same Ansible settings (pipelining on unless
--no-pipelining: it saves several `docker exec` round trips per task, for both sides).
For each: the wall time of the whole ansible-playbook command (process start to exit)
and the time of the task itself (from the ansible.posix.json callback). Targets
(issue 5): first <= 2 s wall, rerun <= 1.5 s wall, loop / first >= 25x.

Run as root with the lab images built (scripts/lab/images.sh):
    python -m bench.bench_docker_user [--cidrs 100] [--image node-forky:local] [--keep]
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
TARGETS = {"first": 2.0, "rerun": 1.5, "ratio": 25.0}

PLAY = """- hosts: node
  gather_facts: false
  tasks:
%s
"""
MODULE_TASK = """    - name: Allow-list in DOCKER-USER
      dockerguard.firewall.docker_user_policy:
        entries:
          - name: bench
            ports: [@PORT@]
            allow: @CIDRS@
""".replace("@PORT@", str(PORT))
LOOP_TASKS = """    - name: Create the chain
      ansible.builtin.iptables:
        chain: DGBENCHLOOP
        chain_management: true
    - name: One rule per allowed CIDR
      ansible.builtin.iptables:
        chain: DGBENCHLOOP
        source: "{{ item }}"
        protocol: tcp
        destination_port: "@PORT@"
        jump: RETURN
        comment: bench allow
      loop: @CIDRS@
    - name: Everyone else
      ansible.builtin.iptables:
        chain: DGBENCHLOOP
        protocol: tcp
        destination_port: "@PORT@"
        jump: DROP
        comment: bench deny
    - name: Jump from DOCKER-USER
      ansible.builtin.iptables:
        chain: DOCKER-USER
        jump: DGBENCHLOOP
        action: insert
""".replace("@PORT@", str(PORT))


def sh(argv, check=True, **kwargs):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise SystemExit("%s failed (rc=%d): %s%s" % (
            " ".join(argv), proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc


def start_node(name, image):
    """A lab node (tests.lab.node) whose Docker has created DOCKER-USER (IPv4)."""
    try:
        lab_node.start_node(name, image)
        wait_for(lambda: lab_node.node_exec(name, "iptables", "-S", "DOCKER-USER",
                                            check=False).returncode == 0,
                 timeout=90, what="DOCKER-USER in %s" % name)
    except LabError as exc:
        raise SystemExit(str(exc))


def playbook(tmp, name, tasks, node, pipelining):
    inv = os.path.join(tmp, "inventory.yml")
    with open(inv, "w") as f:
        f.write("all:\n  hosts:\n    node:\n      ansible_host: %s\n"
                "      ansible_connection: community.docker.docker\n"
                "      ansible_python_interpreter: /usr/bin/python3\n" % node)
    play = os.path.join(tmp, name + ".yml")
    with open(play, "w") as f:
        f.write(PLAY % tasks)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="false",
               ANSIBLE_PIPELINING="true" if pipelining else "false")
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", inv, play]
    start = time.perf_counter()
    proc = sh(argv, check=False, env=env)
    wall = time.perf_counter() - start
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit("%s: ansible-playbook output is not JSON (rc=%d):\n%s%s"
                         % (name, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    if proc.returncode != 0:
        raise SystemExit("%s failed: %s" % (name, json.dumps(data["stats"])))
    task_seconds, changed = 0.0, False
    for play_data in data["plays"]:
        for task in play_data["tasks"]:
            d = task["task"]["duration"]
            task_seconds += _seconds(d["end"]) - _seconds(d["start"])
            changed = changed or bool(task["hosts"]["node"].get("changed"))
    return {"wall": wall, "task": task_seconds, "changed": changed}


def _seconds(stamp):
    # 2026-11-23T08:30:01.123456Z
    clock = stamp.rstrip("Z").split("T")[1]
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def rule_count(node, chain, save="iptables-save"):
    out = sh(["docker", "exec", node, save, "-t", "filter"]).stdout
    return sum(1 for line in out.splitlines() if line.startswith("-A %s " % chain))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--cidrs", type=int, default=100)
    parser.add_argument("--image", default="node-forky:local")
    parser.add_argument("--keep", action="store_true", help="leave the node running")
    parser.add_argument("--repeat", type=int, default=5,
                        help="unchanged re-runs; the median is reported (default 5)")
    parser.add_argument("--no-pipelining", dest="pipelining", action="store_false",
                        help="run every playbook with Ansible pipelining off (default: on)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (docker)")

    cidrs = ["198.18.%d.%d/32" % (k // 250, k % 250 + 1) for k in range(args.cidrs)]
    node = "dg-bench-docker-user-%d" % os.getpid()
    print("node %s (%s), allow-list of %d CIDRs on port %d, Ansible pipelining %s"
          % (node, args.image, len(cidrs), PORT, "on" if args.pipelining else "off"))
    results = {}
    try:
        start_node(node, args.image)
        with tempfile.TemporaryDirectory(prefix="bench-docker-user-") as tmp:
            cidr_yaml = json.dumps(cidrs)
            results["first"] = playbook(tmp, "first", MODULE_TASK.replace("@CIDRS@", cidr_yaml), node,
                                        args.pipelining)
            reruns = [playbook(tmp, "rerun", MODULE_TASK.replace("@CIDRS@", cidr_yaml), node,
                               args.pipelining) for dummy in range(args.repeat)]
            reruns.sort(key=lambda r: r["wall"])
            results["rerun"] = reruns[len(reruns) // 2]   # the median run
            results["rerun"]["changed"] = any(r["changed"] for r in reruns)
            rerun_walls = [r["wall"] for r in reruns]
            ours = rule_count(node, "DOCKERGUARD")
            ours6 = rule_count(node, "DOCKERGUARD", "ip6tables-save")
            results["loop"] = playbook(tmp, "loop", LOOP_TASKS.replace("@CIDRS@", cidr_yaml), node,
                                       args.pipelining)
            loop_rules = rule_count(node, "DGBENCHLOOP")
    finally:
        if not args.keep:
            sh(["docker", "rm", "-f", node], check=False)

    first, rerun, loop = results["first"], results["rerun"], results["loop"]
    ratio = loop["wall"] / first["wall"]
    task_ratio = loop["task"] / first["task"] if first["task"] else float("inf")
    print("%-7s %9s %9s  %s" % ("run", "wall s", "task s", "result"))
    print("%-7s %9.2f %9.2f  changed=%s, DOCKERGUARD: %d rules (ipv4), %d (ipv6)"
          % ("first", first["wall"], first["task"], first["changed"], ours, ours6))
    print("%-7s %9.2f %9.2f  changed=%s (median of %d: %s)" % (
        "rerun", rerun["wall"], rerun["task"], rerun["changed"], len(rerun_walls),
        ", ".join("%.2f" % w for w in rerun_walls)))
    print("%-7s %9.2f %9.2f  changed=%s, DGBENCHLOOP: %d rules (ipv4 only)"
          % ("loop", loop["wall"], loop["task"], loop["changed"], loop_rules))
    print("ratio loop/first: %.1fx wall, %.1fx task time" % (ratio, task_ratio))

    checks = [
        ("first apply <= %.1f s wall" % TARGETS["first"], first["wall"] <= TARGETS["first"]),
        ("unchanged re-run <= %.1f s wall" % TARGETS["rerun"], rerun["wall"] <= TARGETS["rerun"]),
        ("loop of ansible.builtin.iptables / first >= %.0fx" % TARGETS["ratio"],
         ratio >= TARGETS["ratio"]),
        ("first changed, re-run unchanged", first["changed"] and not rerun["changed"]),
        ("%d allow rules + deny + 4 leading rules in DOCKERGUARD" % len(cidrs),
         ours == len(cidrs) + 5),
    ]
    for what, ok in checks:
        print("%s  %s" % ("PASS" if ok else "MISS", what))
    return 0 if all(ok for dummy, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
