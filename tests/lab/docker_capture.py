# -*- coding: utf-8 -*-
"""Capture what docker_network_facts reads, as fixtures (stdlib only: runs in lab nodes).

    docker exec -i NODE python3 - < tests/lab/docker_capture.py > bundle.json

Prints one JSON object: the Engine API answers (``/version``, ``/info``,
``/containers/json?all=1``, ``/containers/{id}/json``, ``/networks``,
``/networks/{id}``, ``/services`` on a swarm manager), ``ip -j addr show``, ``ss -Hltnup``, the dockerd command line and the
``/proc/<pid>/cgroup`` of every listening process. ``python -m tests.lab capture`` (tests/lab/scenario.py) splits it
into tests/fixtures/docker/<engine>/.
"""

import json
import os
import socket
import subprocess

try:
    import http.client as httplib
except ImportError:  # pragma: no cover
    import httplib

SOCKET = "/var/run/docker.sock"
# Keys of /info that are long and say nothing about networking.
INFO_DROP = ("Runtimes", "RegistryConfig", "Plugins", "DriverStatus", "GenericResources",
             "CDISpecDirs", "ContainerdCommit", "RuncCommit", "InitCommit",
             "SecurityOptions", "SystemTime", "ID")


class UnixConnection(httplib.HTTPConnection):
    def __init__(self, path):
        httplib.HTTPConnection.__init__(self, "localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def get(path):
    conn = UnixConnection(SOCKET)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 200:
        raise SystemExit("GET %s: %s %s" % (path, resp.status, body))
    return json.loads(body.decode("utf-8"))


def out(cmd):
    return subprocess.check_output(cmd).decode("utf-8")


def main():
    version = get("/version")
    api = "/v" + version["ApiVersion"]
    info = get(api + "/info")
    for key in INFO_DROP:
        info.pop(key, None)
    summary = get(api + "/containers/json?all=1")
    inspect = [get(api + "/containers/%s/json" % c["Id"]) for c in summary]
    services = None
    if (info.get("Swarm") or {}).get("ControlAvailable"):
        services = get(api + "/services")
    networks = get(api + "/networks")
    networks_inspect = [get(api + "/networks/%s" % n["Id"]) for n in networks]
    ss = out(["ss", "-Hltnup"])
    pids = set()
    for line in ss.splitlines():
        for part in line.split("pid=")[1:]:
            pids.add(int(part.split(",")[0]))
    processes = {}
    for pid in sorted(pids):
        try:
            with open("/proc/%d/cgroup" % pid) as fh:
                cgroup = fh.read()
            with open("/proc/%d/comm" % pid) as fh:
                name = fh.read().strip()
        except (IOError, OSError):
            continue
        processes[str(pid)] = {"name": name, "cgroup": cgroup}
    with open("/var/run/docker.pid") as fh:
        dpid = fh.read().strip()
    with open("/proc/%s/cmdline" % dpid, "rb") as fh:
        dockerd_args = [a for a in fh.read().decode().split("\0") if a]
    proc_net = {}
    for name in ("tcp", "tcp6", "udp", "udp6"):
        with open("/proc/net/" + name) as fh:
            proc_net[name] = fh.read()
    daemon_json = None
    if os.path.exists("/etc/docker/daemon.json"):
        with open("/etc/docker/daemon.json") as fh:
            daemon_json = json.load(fh)
    print(json.dumps({
        "version": version, "info": info, "containers_list": summary,
        "containers_inspect": inspect, "networks_list": networks,
        "networks_inspect": networks_inspect,
        "ip_addr": json.loads(out(["ip", "-j", "addr", "show"])),
        "ss": ss, "processes": processes, "dockerd_args": dockerd_args,
        "daemon_json": daemon_json, "proc_net": proc_net,
        "services": services,
    }, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
