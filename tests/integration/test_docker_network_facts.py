# -*- coding: utf-8 -*-
"""docker_network_facts against real engines (docs/lab.md).

- the host's engine (Debian's Docker 20.10), through ``ansible localhost``;
- a Docker 28.5 lab node (node-forky:local), through ``ansible`` with the
  ``community.docker.docker`` connection and the node's /usr/bin/python3.

On each, containers of every kind issue 3 lists are started for real (default bridge
publish, user-defined bridge with a custom bridge name and an IPv6 subnet, host network,
none, ``-p 127.0.0.1:PORT:80``, a port range, UDP, ``container:`` mode, a created but
stopped container) and the facts are checked against what was started
(``tests.lab.scenario.Scenario.check``). Everything created is removed by fixture finalizers.

Skips (with the reason) when no Docker daemon is reachable or a lab image is missing.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

from tests.lab import playbook as lab_ansible
from tests.lab.engine import Engine, LabError, docker_unavailable, image_present
from tests.lab.node import install_sdk, node_exec, stop_node
from tests.lab.scenario import NODE_PORTS, PREFIX, Scenario, free_ports, node_engine

COLLECTIONS = os.path.join(ROOT, ".tmp", "collections")
NODE = PREFIX + "node28"
NODE_IMAGE = "node-forky:local"
WHY = docker_unavailable()
needs_docker = pytest.mark.skipif(bool(WHY), reason=WHY or "docker available")


def ansible_bin(name):
    return lab_ansible.binary(name)


def ansible_env():
    return lab_ansible.env()


def write_inventory(tmp_path):
    path = tmp_path / "inventory.json"
    shutil.move(lab_ansible.write_inventory([NODE], local=True), str(path))
    return str(path)


def run_module(inventory, host, args=None, check=False):
    """Run the module for real with ``ansible HOST -m ...``; the host's result dict."""
    return lab_ansible.run_module(inventory, host, "dockerguard.firewall.docker_network_facts",
                                  args, check, timeout=300)


def facts_of(result):
    assert not result.get("failed"), result.get("msg")
    assert result.get("changed") is False
    return result["ansible_facts"]["docker_network"]


# ---------------------------------------------------------------- fixtures ----------

@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    return write_inventory(tmp_path_factory.mktemp("inv"))


@pytest.fixture(scope="module")
def host_scenario(request):
    engine = Engine("host")
    request.addfinalizer(engine.cleanup)
    if not image_present("svc:local"):
        pytest.skip("lab image svc:local missing (scripts/lab/images.sh svc)")
    tag = "h%d" % (os.getpid() % 10000)
    ports = free_ports(9)
    last = None
    for third in (77, 78, 79, 87, 97):   # avoid pools other tests may hold
        scenario = Scenario(engine, ports, tag, "10.250.%d.0/24" % third,
                            "fd00:250:%d::/64" % third)
        try:
            scenario.start()
            return scenario
        except LabError as exc:
            engine.cleanup()
            last = exc
            if "overlap" not in str(exc) and "in use" not in str(exc):
                raise
    raise last


@pytest.fixture(scope="module")
def node(request):
    if not image_present(NODE_IMAGE):
        pytest.skip("lab image %s missing (scripts/lab/images.sh forky)" % NODE_IMAGE)
    request.addfinalizer(lambda: stop_node(NODE))
    return node_engine(NODE, NODE_IMAGE)


# ---------------------------------------------------------------- tests -------------

def test_docs_render():
    """ansible-doc renders the module and the filter (DOCUMENTATION/EXAMPLES/RETURN)."""
    for args in (["dockerguard.firewall.docker_network_facts"],
                 ["-t", "filter", "dockerguard.firewall.docker_inspect"]):
        proc = subprocess.run([ansible_bin("ansible-doc")] + args, env=ansible_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                              check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 0 and "WARNING" not in err.upper(), err
        assert "RETURN" in proc.stdout.decode() or "Return" in proc.stdout.decode()


@needs_docker
@pytest.mark.smoke
def test_host_engine(inventory, host_scenario):
    result = run_module(inventory, "localhost")
    facts = facts_of(result)
    daemon = facts["daemon"]
    assert daemon["server_version"] and daemon["api_version"]
    # dockerd was found and read: nothing is 'assumed'
    assert "assumed" not in daemon["settings_source"].values(), daemon["settings_source"]
    host_scenario.check(facts, daemon["ip6tables"])
    web = [c for c in facts["containers"] if c["name"] == host_scenario.names["web"]][0]
    if daemon["ip6tables"] is False:
        # 20.10 default: IPv6 bindings exist (docker-proxy) but are not DNATed
        assert all(p["dnat"] is False for p in web["ports"] if p["family"] == "ipv6")


@needs_docker
def test_host_engine_check_mode_inspect_and_filters(inventory, host_scenario):
    names = host_scenario.names
    result = run_module(inventory, "localhost", {
        "inspect_containers": True, "gather_subset": ["containers", "networks"],
        "containers_filters": {"name": [PREFIX + host_scenario.tag + "-"]}}, check=True)
    facts = facts_of(result)
    assert facts["interfaces"] is None and facts["listeners"] is None
    got = sorted(c["name"] for c in facts["containers"])
    assert got == sorted(v for k, v in names.items() if k != "net")
    stopped = [c for c in facts["containers"] if c["name"] == names["stopped"]][0]
    assert stopped["port_bindings"][0]["host_port"] == host_scenario.ports[7]
    running = run_module(inventory, "localhost", {
        "all_containers": False, "gather_subset": ["containers"],
        "containers_filters": {"name": [PREFIX + host_scenario.tag + "-"]}})
    assert names["stopped"] not in [c["name"] for c in facts_of(running)["containers"]]


@needs_docker
def test_host_engine_filter_matches_module(inventory, host_scenario, tmp_path):
    """docker_inspect on the CLI output of the same engine gives the module's model."""
    e = host_scenario.engine
    ids = e.docker("ps", "-aq", "--filter", "name=" + PREFIX + host_scenario.tag + "-",
                   "--no-trunc").split()
    (tmp_path / "containers.json").write_text(e.docker("inspect", *ids))
    (tmp_path / "networks.json").write_text(e.docker("network", "inspect",
                                                     host_scenario.names["net"], "bridge"))
    (tmp_path / "info.json").write_text(e.docker("info", "--format", "{{json .}}"))
    playbook = tmp_path / "filter.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - dockerguard.firewall.docker_network_facts:
        gather_subset: [containers, networks]
        containers_filters: {name: ["%(prefix)s"]}
        inspect_containers: true
    - ansible.builtin.set_fact:
        from_filter: >-
          {{ lookup('file', '%(d)s/containers.json')
             | dockerguard.firewall.docker_inspect(
                 networks=lookup('file', '%(d)s/networks.json'),
                 info=lookup('file', '%(d)s/info.json')) }}
    - ansible.builtin.assert:
        that:
          - from_filter.containers == ansible_facts.docker_network.containers
          - from_filter.networks | map(attribute='name') | list == ['bridge', '%(net)s']
          - >-
            (from_filter.networks | selectattr('name', 'eq', '%(net)s') | first) ==
            (ansible_facts.docker_network.networks | selectattr('name', 'eq', '%(net)s')
             | first)
""" % {"prefix": PREFIX + host_scenario.tag + "-", "d": str(tmp_path),
       "net": host_scenario.names["net"]})
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", inventory, str(playbook)],
                          env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=300, check=False)
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out[-4000:] + proc.stderr.decode("utf-8", "replace")


@needs_docker
def test_errors_name_the_socket(inventory):
    result = run_module(inventory, "localhost",
                        {"docker_host": "unix:///run/dg-it-docker-missing.sock",
                         "timeout": 5})
    assert result.get("failed") is True
    assert "unix:///run/dg-it-docker-missing.sock" in result["msg"]
    assert "does not exist" in result["msg"] and "docker -H" in result["msg"]


@needs_docker
def test_docker_28_node(inventory, node):
    # without the Docker SDK (the node image ships Debian's python3-docker: hide it
    # first), the module says what is missing ...
    node_exec(NODE, "sh", "-c", "rm -rf /usr/lib/python3/dist-packages/docker")
    result = run_module(inventory, NODE)
    assert result.get("failed") is True
    assert "docker" in result["msg"] and "Failed to import the required Python library" \
        in result["msg"], result["msg"]
    # ... then the pure-Python SDK of the controller's venv is copied in (no registry)
    install_sdk(NODE)
    scenario = Scenario(node, NODE_PORTS, "n", "10.250.10.0/24",
                        "fd00:250:10::/64")
    scenario.start()
    facts = facts_of(run_module(inventory, NODE))
    daemon = facts["daemon"]
    assert daemon["version"][:2] == [28, 5], daemon["server_version"]
    assert (daemon["firewall_backend"], daemon["firewall_backend_source"]) == (
        "iptables", "reported")
    assert daemon["ip6tables"] is True and daemon["settings_source"]["ip6tables"] == "default"
    scenario.check(facts, ip6tables_default=True)
    if scenario.side_error:
        import warnings
        warnings.warn("Docker 28.5 node: %s" % scenario.side_error)


@needs_docker
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run the module as another user")
def test_permission_denied_says_so():
    """As a user outside the docker group, the socket refuses: the message says why."""
    args = json.dumps({"ANSIBLE_MODULE_ARGS": {"gather_subset": ["containers"]}})
    ansible_env()  # makes sure the collection link tree exists
    module = os.path.join(ROOT, "plugins", "modules", "docker_network_facts.py")
    # the arguments come on stdin, as AnsiballZ-less modules read them. The user keeps
    # CAP_DAC_READ_SEARCH (read any file: a pyenv Python under a private home still
    # loads its libpython) but not CAP_DAC_OVERRIDE, which connecting to the socket needs.
    proc = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                           "--inh-caps", "+dac_read_search", "--ambient-caps", "+dac_read_search",
                           sys.executable, module],
                          input=args.encode(), env=dict(os.environ, PYTHONPATH=COLLECTIONS),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                          check=False)
    out = proc.stdout.decode("utf-8", "replace")
    result = json.loads(out[out.index("{"):])
    assert result.get("failed") is True, result
    assert "Permission denied on the Docker socket unix:///var/run/docker.sock" \
        in result["msg"]
    assert "docker' group" in result["msg"]
