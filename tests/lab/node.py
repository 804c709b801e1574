# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet nodes: Docker inside Docker (docs/lab.md section 3), started and driven.

The nodes have no init: dockerd runs beside ``sleep infinity``, is stopped by its pid
file and started again with the same command (``DOCKERD``).
"""

from __future__ import absolute_import, division, print_function

import io
import os
import subprocess
import tarfile
import threading

from tests.lab.engine import LabError, docker, routes_to, run, wait_for

# The flags docs/lab.md section 3 gives for a lab node (no --privileged: the kernel's bounding
# set lacks CAP_SYS_RESOURCE; systempaths=unconfined for Docker 28). The one copy:
# Molecule's create.yml reads them as lab_node_flags from the fleet inventory.
NODE_FLAGS = [
    "--cap-add", "NET_ADMIN", "--cap-add", "SYS_ADMIN", "--cap-add", "NET_RAW",
    "--security-opt", "apparmor=unconfined", "--security-opt", "seccomp=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/var/lib/docker:exec,dev,suid",
]
DOCKERD = "dockerd >>/var/log/dockerd.log 2>&1"
SERVICE_IMAGE = "svc:local"
# docs/lab.md section 3c: a forky node with firewalld. Its boot: dbus, then firewalld
# (waited for), then dockerd (node_command adds it), so Docker finds firewalld running.
FIREWALLD_IMAGE = "node-forky-firewalld:local"
FIREWALLD_BOOT = (
    "mkdir -p /run/dbus; dbus-daemon --system --fork; "
    "firewalld --nofork --nopid >/var/log/firewalld.log 2>&1 & "
    "i=0; until firewall-cmd --state >/dev/null 2>&1 || [ $i -ge 120 ]; do "
    "sleep 0.5; i=$((i+1)); done; ")
SDK_PACKAGES = ("docker", "requests", "urllib3", "idna", "certifi", "charset_normalizer")


def node_command(boot=""):
    """The node's command line: ``boot`` (shell commands ending in ``;`` or ``&``), then
    dockerd in the background, ``sleep`` as PID 1."""
    return boot + DOCKERD + " & exec sleep infinity"


def start_node(name, image, *run_args, **kwargs):
    """Start a lab node, wait for its dockerd, load ``svc:local``; stops it on failure.

    ``run_args`` go to ``docker run`` (network, address, label); ``boot``: shell commands
    the node runs before it starts dockerd (``node_command``); ``hostname``: default
    ``name``.
    """
    docker("rm", "-f", name, check=False)
    docker("run", "--detach", "--name", name, "--hostname", kwargs.get("hostname", name),
           *(list(run_args) + NODE_FLAGS + [image, "sh", "-c", node_command(kwargs.get("boot", ""))]))
    try:
        wait_for(lambda: dockerd_running(name), timeout=120, what="dockerd in %s" % name)
        load_image(name)
    except Exception:
        stop_node(name)
        raise


def stop_node(name):
    docker("rm", "-f", name, check=False)


def load_image(node, image=SERVICE_IMAGE):
    """``docker save IMAGE | docker exec -i NODE docker load`` (no registry here)."""
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    load = subprocess.run(["docker", "exec", "-i", node, "docker", "load"], stdin=save.stdout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise LabError("loading %s into %s failed: %s"
                       % (image, node, load.stderr.decode("utf-8", "replace")))


def node_exec(node, *cmd, **kwargs):
    """``docker exec NODE CMD...``; CompletedProcess (text unless ``text=False``)."""
    kwargs.setdefault("timeout", 300)
    return docker("exec", node, *cmd, **kwargs)


def node_sh(node, script, check=True, timeout=120):
    return node_exec(node, "sh", "-c", script, check=check, timeout=timeout)


def dockerd_running(node):
    return node_exec(node, "docker", "info", "--format", "{{.ServerVersion}}",
                     check=False).returncode == 0


def stop_dockerd(node, timeout=60):
    """SIGTERM dockerd by its pid file; it stops the containers and removes the file."""
    node_sh(node, 'kill "$(cat /var/run/docker.pid)"')
    wait_for(lambda: node_sh(node, "test -e /var/run/docker.pid", check=False).returncode != 0,
             timeout=timeout, what="dockerd to exit in %s" % node)


def start_dockerd(node, command=DOCKERD, timeout=90):
    """Start dockerd the way the node's own command line does, detached."""
    docker("exec", "--detach", node, "sh", "-c", command)
    wait_for(lambda: dockerd_running(node), timeout=timeout, what="dockerd in %s" % node)


def restart_dockerd(node, command=DOCKERD, timeout=90):
    stop_dockerd(node, timeout)
    start_dockerd(node, command, timeout)


def wait_published(node, containers, ports, timeout=90):
    """Containers running (restart policy) and each host port DNATed in nat DOCKER."""
    def ready():
        proc = node_exec(node, "docker", "inspect", "--format", "{{.State.Running}}",
                         *containers, check=False)
        if proc.returncode != 0 or set(proc.stdout.split()) != {"true"}:
            return False
        nat = node_sh(node, "iptables -t nat -S DOCKER", check=False).stdout
        return all("--dport %d " % int(p) in nat for p in ports)
    wait_for(ready, timeout=timeout, what="%s published %s in %s" % (
        ", ".join(containers), ", ".join(str(p) for p in ports), node))


def install_sdk(node, site_packages=None):
    """Copy the pure-Python Docker SDK and its dependencies into a node; its version.

    The node images are built without a registry and may carry no python3-docker.
    Compiled files (*.so) are left out: charset_normalizer then uses its pure-Python
    modules, and the node's Python (3.11 bookworm, 3.13+ forky) need not match ours.
    """
    if site_packages is None:
        import docker as sdk  # the controller's SDK: the one the modules are tested with
        site_packages = os.path.dirname(os.path.dirname(sdk.__file__))
    target = node_exec(node, "python3", "-c", "import sys; print('/usr/local/lib/python%d.%d"
                       "/dist-packages' % sys.version_info[:2])").stdout.strip()
    node_exec(node, "mkdir", "-p", target)
    run(["docker", "exec", "-i", node, "tar", "-x", "-C", target],
        input=_sdk_tar(site_packages), text=False)
    proc = node_exec(node, "python3", "-c", "import docker; print(docker.__version__)",
                     check=False)
    if proc.returncode != 0:
        raise LabError("docker SDK copied into %s does not import: %s" % (node, proc.stderr))
    return proc.stdout.strip()


def _sdk_tar(site_packages):
    def keep(info):
        base = os.path.basename(info.name)
        if base == "__pycache__" or base.endswith((".so", ".pyc")):
            return None
        return info
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for pkg in SDK_PACKAGES:
            root = os.path.join(site_packages, pkg)
            if not os.path.isdir(root):
                raise LabError("%s is not installed in %s" % (pkg, site_packages))
            tar.add(root, arcname=pkg, filter=keep)
    return buf.getvalue()


def remove_lab(label, network):
    """Remove every container labelled ``label`` and the lab network (also when half made)."""
    names = docker("ps", "-aq", "--filter", "label=" + label, check=False).stdout.split()
    if names:
        docker("rm", "-f", *names, check=False, timeout=120)
    docker("network", "rm", network, check=False)


def start_lab(network, label, net, clients, lab_nodes, prepare=None):
    """A lab network ``network`` (``net``.0/24, refused when already routed here), busybox
    probe clients (``{name: address}``) and the nodes (``[(hostname, container, image,
    address)]``, started in parallel, the Docker SDK copied in when missing; then
    ``prepare(hostname, container)``), everything labelled ``label``."""
    used = routes_to(net + ".1")
    if used:
        raise LabError("%s.0/24 is already routed here: %s" % (net, used))
    docker("network", "create", "--subnet", net + ".0/24", "--gateway", net + ".1",
           "--label", label, network)
    for name, address in sorted(clients.items()):
        docker("run", "--detach", "--name", name, "--label", label, "--network", network,
               "--ip", address, SERVICE_IMAGE, "sleep", "864000")
    errors = []

    def start(host, container, image, address):
        try:
            start_node(container, image, "--label", label, "--network", network, "--ip", address,
                       hostname=host)
            if node_exec(container, "python3", "-c", "import docker", check=False).returncode != 0:
                install_sdk(container)
            if prepare:
                prepare(host, container)
        except Exception as exc:  # pylint: disable=broad-except
            errors.append("%s: %s" % (host, exc))
    threads = [threading.Thread(target=start, args=n) for n in lab_nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise LabError("lab nodes did not start: %s" % errors)
