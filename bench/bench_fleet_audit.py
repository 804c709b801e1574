"""Benchmark: the audit playbook on 1 node vs 10 nodes, in one run, forks >= 10.

Starts --nodes lab nodes at once (Docker inside Docker, docs/lab.md section 3;
node-bookworm:local with Docker 20.10 and node-forky:local with Docker 28.5,
alternating), publishes 8080 and 9090 on each and copies the Docker SDK in, then runs
`ansible-playbook dockerguard.firewall.audit` (the exposure_audit role: one fact
module run on every host, the engine on the controller, the fleet report) over the
community.docker.docker connection:

  warm-up  one node, not counted (the controller's first run compiles and caches)
  1 node   -l <first node>
  N nodes  every node, forks = max(10, N)

For each: the wall time of the whole ansible-playbook command and the controller's
peak memory - the largest total RSS of ansible-playbook and every process under it
(its forks, the docker CLIs), sampled every 50 ms, and the largest single process
(getrusage RUSAGE_CHILDREN ru_maxrss). Target (issue 16): N nodes <= 2.5x the wall
time of one node.

Where the CPU goes, per run: the controller (ansible-playbook and its children), the
nodes (their containers' cgroups: the module's Python on each host, its dockerd) and
the whole machine (/proc/stat, everything). The lab's nodes share this machine's cores
with the controller, so the machine's CPU divided by its cores is a floor under the
wall time that a fleet of real machines, each doing its own part, does not have.

Run as root with the lab images built (scripts/lab/images.sh):
    python -m bench.bench_fleet_audit [--nodes 10] [--forks 10] [--keep]
Exit status 1 when the target is missed.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# Run from the repository root with ``python -m``: the root is then on sys.path.
# conftest.py creates the .tmp/collections link tree ansible-playbook is pointed at.
import conftest  # noqa: F401  pylint: disable=unused-import
from tests.lab import node as lab_node
from tests.lab.engine import LabError, docker
from tests.lab.playbook import COLLECTIONS

BIN = os.path.dirname(os.path.abspath(sys.executable))
IMAGES = ("node-bookworm:local", "node-forky:local")
PORTS = (8080, 9090)
TARGET_RATIO = 2.5


def prepare(name, image):
    """One node: dockerd up, svc:local loaded, 8080 and 9090 published, the SDK in."""
    lab_node.start_node(name, image)
    for port in PORTS:
        docker("exec", name, "docker", "run", "--detach", "--name", "web%d" % port,
               "--publish", "%d:80" % port, lab_node.SERVICE_IMAGE, "httpd", "-f", "-p", "80", "-h", "/")
    lab_node.wait_published(name, ["web%d" % p for p in PORTS], PORTS)
    if lab_node.node_exec(name, "python3", "-c", "import docker, requests", check=False).returncode:
        lab_node.install_sdk(name)


def _tree_rss(root):
    """Total RSS (KiB) of ``root`` and every process under it, from /proc."""
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(pid))
        except (OSError, IndexError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def _machine_cpu():
    """CPU seconds the whole machine has spent busy (every process: the controller, the
    lab nodes' Python, dockerd and containerd), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / float(os.sysconf("SC_CLK_TCK"))


_IDS = {}


def _nodes_cpu(nodes):
    """CPU seconds the nodes' containers have used (their cgroups, v1 or v2)."""
    total = 0.0
    for node in nodes:
        if node not in _IDS:
            _IDS[node] = docker("inspect", "--format", "{{.Id}}", node).stdout.strip()
        cid = _IDS[node]
        for path, scale in (("/sys/fs/cgroup/cpuacct/docker/%s/cpuacct.usage" % cid, 1e9),
                            ("/sys/fs/cgroup/system.slice/docker-%s.scope/cpu.stat" % cid, 1e6)):
            try:
                with open(path) as f:
                    text = f.read()
            except OSError:
                continue
            if path.endswith("cpu.stat"):
                text = [ln.split()[1] for ln in text.splitlines() if ln.startswith("usage_usec")][0]
            total += int(text) / scale
            break
    return total


def audit(tmp, nodes, limit, forks, cache=None):
    """One ansible-playbook run of the audit over ``limit``; ``cache``: ``fill`` keeps the
    facts it gathers in a fact cache, ``use`` audits from that cache with
    exposure_audit_gather=false (nothing runs on the nodes)."""
    inv = os.path.join(tmp, "inventory.yml")
    with open(inv, "w") as f:
        f.write("all:\n  vars:\n    ansible_connection: community.docker.docker\n"
                "    ansible_python_interpreter: /usr/bin/python3\n    ansible_become: false\n"
                "    exposure_audit_expected: [{name: web, ports: [8080, 9090], from: anywhere}]\n"
                "    exposure_audit_show: false\n"
                "    exposure_audit_report_dir: %s/report\n  hosts:\n" % tmp)
        for n in nodes:
            f.write("    %s: {}\n" % n)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="false", ANSIBLE_PIPELINING="true",
               ANSIBLE_FORKS=str(forks), ANSIBLE_HOST_KEY_CHECKING="false")
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", inv, "-l", ",".join(limit),
            "dockerguard.firewall.audit"]
    if cache:
        env.update(ANSIBLE_CACHE_PLUGIN="ansible.builtin.jsonfile",
                   ANSIBLE_CACHE_PLUGIN_CONNECTION=os.path.join(tmp, "facts"))
    if cache == "use":
        argv += ["-e", '{"exposure_audit_gather": false}']
    nodes0 = _nodes_cpu(nodes)
    machine0, children0 = _machine_cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, env=env)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            done.wait(0.05)
    sampler = threading.Thread(target=sample)
    sampler.start()
    out = proc.communicate()[0]
    wall = time.perf_counter() - start
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine = _machine_cpu() - machine0
    nodes_cpu = _nodes_cpu(nodes) - nodes0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit("the audit of %d node(s) failed (rc=%d):\n%s"
                         % (len(limit), proc.returncode, out[-4000:]))
    ok = out.count("ok=")
    if ok != len(limit):
        raise SystemExit("the audit's recap names %d hosts, want %d:\n%s" % (ok, len(limit), out[-2000:]))
    controller = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
    return {"wall": wall, "peak_tree_mib": peak[0] / 1024.0, "controller_cpu": controller,
            "machine_cpu": machine, "nodes_cpu": nodes_cpu}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="leave the nodes running")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (docker)")
    forks = max(args.forks, args.nodes, 10)
    nodes = ["dg-bench-fleet-%d-%02d" % (os.getpid(), k) for k in range(1, args.nodes + 1)]
    print("%d nodes (%s alternating), 2 published ports each, forks %d"
          % (len(nodes), " / ".join(IMAGES), forks))
    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            list(pool.map(lambda kn: prepare(kn[1], IMAGES[kn[0] % 2]), enumerate(nodes)))
        print("nodes started and prepared in parallel: %.1f s" % (time.perf_counter() - start))
        with tempfile.TemporaryDirectory(prefix="bench-fleet-audit-") as tmp:
            audit(tmp, nodes, nodes[:1], forks)  # warm-up
            one = audit(tmp, nodes, nodes[:1], forks)
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            many = audit(tmp, nodes, nodes, forks)
            single_max = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            # the controller's part alone: the same audits from the facts just gathered
            audit(tmp, nodes, nodes, forks, cache="fill")
            audit(tmp, nodes, nodes[:1], forks, cache="use")  # warm-up
            ctl_one = audit(tmp, nodes, nodes[:1], forks, cache="use")
            ctl_many = audit(tmp, nodes, nodes, forks, cache="use")
    except LabError as exc:
        raise SystemExit(str(exc))
    finally:
        if not args.keep:
            for n in nodes:
                docker("rm", "-f", n, check=False)
    ratio = many["wall"] / one["wall"]
    cores = os.cpu_count()
    print("%-9s %8s %20s %17s %12s %14s" % (
        "audit", "wall s", "controller peak MiB", "controller CPU s", "nodes CPU s", "machine CPU s"))
    for label, run in (("1 node", one), ("%d nodes" % len(nodes), many)):
        print("%-9s %8.2f %20.0f %17.2f %12.2f %14.2f" % (
            label, run["wall"], run["peak_tree_mib"], run["controller_cpu"], run["nodes_cpu"],
            run["machine_cpu"]))
    # The lab's nodes share this machine's cores with the controller: the nodes' work
    # (their Python, dockerd, the docker exec of every task) is CPU the controller
    # cannot use. A fleet of real machines does that work on its own CPUs.
    print("machine: %d cores; %d nodes need %.2f CPU s, so no run here can take less than "
          "%.2f s wall" % (cores, len(nodes), many["machine_cpu"], many["machine_cpu"] / cores))
    extra = len(nodes) - 1
    print("per extra node: controller %+.3f CPU s, nodes %+.3f, machine %+.3f" % tuple(
        (many[k] - one[k]) / extra for k in ("controller_cpu", "nodes_cpu", "machine_cpu")))
    # The target as a CPU budget: the wall time cannot be less than the machine's CPU
    # divided by its cores, so 10 nodes within the target need at most this much CPU.
    budget = TARGET_RATIO * one["wall"] * cores
    print("target %.2f s wall = at most %.2f machine CPU s on %d cores: at most %.3f per extra "
          "node, of which the nodes' own work takes %.3f here"
          % (TARGET_RATIO * one["wall"], budget, cores, (budget - one["machine_cpu"]) / extra,
             (many["nodes_cpu"] - one["nodes_cpu"]) / extra))
    print("the controller's part alone (the same audit from those facts in a fact cache, "
          "exposure_audit_gather=false: nothing runs on the nodes):")
    for label, run in (("1 node", ctl_one), ("%d nodes" % len(nodes), ctl_many)):
        print("%-9s %8.2f %20.0f %17.2f %12.2f %14.2f" % (
            label, run["wall"], run["peak_tree_mib"], run["controller_cpu"], run["nodes_cpu"],
            run["machine_cpu"]))
    print("controller's part: %d nodes / 1 node: %.2fx" % (len(nodes), ctl_many["wall"] / ctl_one["wall"]))
    print("ratio %d nodes / 1 node: %.2fx (target <= %.1fx)" % (len(nodes), ratio, TARGET_RATIO))
    print("largest single controller process (ru_maxrss): %.0f MiB" % (single_max / 1024.0))
    ok = ratio <= TARGET_RATIO
    print("%s  %d nodes <= %.1fx the wall time of one node"
          % ("PASS" if ok else "MISS", len(nodes), TARGET_RATIO))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
