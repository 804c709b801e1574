# -*- coding: utf-8 -*-
"""docker_inspect filter: saved CLI output in, the module's model out."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.filter.docker_inspect import (
    FilterModule,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._docker import (
    build_model,
    dockerd_settings,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "docker")
docker_inspect = FilterModule().filters()["docker_inspect"]


def text(engine, name):
    with open(os.path.join(FIXTURES, engine, name)) as fh:
        return fh.read()


@pytest.mark.parametrize("engine", ["docker-20.10", "docker-28.5", "docker-28.5-swarm"])
def test_filter_on_saved_text_equals_the_module_model(engine):
    """Text as a user saves it (docker inspect, ip -j addr, ss) -> same model as the
    module builds from the API objects of the same engine."""
    args = json.loads(text(engine, "dockerd-args.json"))
    has_services = os.path.exists(os.path.join(FIXTURES, engine, "services.json"))
    got = docker_inspect(
        text(engine, "containers-inspect.json"),
        networks=text(engine, "networks-inspect.json"), info=text(engine, "info.json"),
        version=text(engine, "version.json"), addresses=text(engine, "ip-addr.json"),
        listeners=text(engine, "ss.txt"),
        services=text(engine, "services.json") if has_services else None,
        daemon_config={}, dockerd_args=" ".join(args),
        processes=json.loads(text(engine, "processes.json")))
    info = json.loads(text(engine, "info.json"))
    expected = build_model(
        containers=json.loads(text(engine, "containers-inspect.json")),
        networks=json.loads(text(engine, "networks-inspect.json")), info=info,
        version=json.loads(text(engine, "version.json")),
        interfaces=json.loads(text(engine, "ip-addr.json")),
        listeners=text(engine, "ss.txt").splitlines(),
        services=json.loads(text(engine, "services.json")) if has_services else None,
        settings=dockerd_settings(info["ServerVersion"], args, {}),
        processes=dict((int(k), v)
                       for k, v in json.loads(text(engine, "processes.json")).items()))
    assert got == expected
    assert got["daemon"]["settings_source"]["iptables"] == "default"
    hosts = [x for x in got["listeners"] if x["owner"] == "container"]
    if engine != "docker-28.5-swarm":
        assert [x["container"]["name"] for x in hosts] == ["dg-it-docker-cap-host"]


def test_filter_without_host_parts_or_settings():
    m = docker_inspect(text("real", "docker-20.10-web.container-inspect.json"),
                       networks=text("real", "docker-20.10-bridge.network-inspect.json"))
    assert m["interfaces"] is None and m["listeners"] is None and m["services"] is None
    assert m["daemon"]["settings_source"]["ip6tables"] == "assumed"
    assert [(c["name"], c["ports"][0]["host_port"]) for c in m["containers"]] == [
        ("web", 8080)]
    # pid from inspect attributes a host-network container's main process without cgroups
    cont = json.loads(text("docker-28.5", "containers-inspect.json"))
    host = [c for c in cont if c["HostConfig"]["NetworkMode"] == "host"][0]
    m = docker_inspect([host], listeners='tcp LISTEN 0 9 *:9090 *:* users:(("httpd",pid=%d,'
                       'fd=3))' % host["State"]["Pid"])
    assert m["listeners"][0]["owner"] == "container"


def test_filter_docker_version_cli_json_and_daemon_config():
    version = {"Client": {"Version": "28.2.2"},
               "Server": {"Version": "20.10.24", "ApiVersion": "1.41",
                          "MinAPIVersion": "1.12"}}
    m = docker_inspect([], info={"ServerVersion": "20.10.24"}, version=version,
                       daemon_config='{"ip6tables": true, "userland-proxy": false}',
                       dockerd_args=["dockerd", "--iptables=false"])
    d = m["daemon"]
    assert (d["api_version"], d["iptables"], d["ip6tables"], d["userland_proxy"]) == (
        "1.41", False, True, False)
    assert d["settings_source"] == {"iptables": "cmdline", "ip6tables": "config",
                                    "userland_proxy": "config", "default_bind_ip": "default"}


@pytest.mark.parametrize("kwargs,msg", [
    ({"_input": "{not json"}, "containers: not JSON"),
    ({"_input": [], "daemon_config": "{bad"}, "daemon_config: not JSON"),
    ({"_input": [], "listeners": "tcp LISTEN 0 5 nowhere 0.0.0.0:*"}, "ss line 1"),
    ({"_input": [], "addresses": "{}"}, "ip -j addr"),
])
def test_filter_errors_are_filter_errors(kwargs, msg):
    data = kwargs.pop("_input")
    with pytest.raises(AnsibleFilterError) as err:
        docker_inspect(data, **kwargs)
    assert "docker_inspect: " in str(err.value) and msg in str(err.value)


def test_filter_reads_docker_29_api_1_52_inspect():
    """docker inspect of Docker 29 (API 1.52: no top-level NetworkSettings.IPAddress)."""
    model = docker_inspect(text("api-1.52", "web.container-inspect.json"),
                           info=text("api-1.52", "info.json"),
                           version=text("api-1.52", "version.json"))
    web = model["containers"][0]
    assert web["networks"][0]["ipv4"] == "172.18.0.2"
    assert [(p["host_port"], p["container_port"], p["dnat"]) for p in web["ports"]] == [
        (8080, 80, True)]
    assert model["daemon"]["firewall_backend"] == "nftables"
    assert model["daemon"]["api_version"] == "1.52"
