# -*- coding: utf-8 -*-
"""The docker model: real captures (Docker 20.10 / 28.5 lab nodes, swarm) and synthetic
edge cases, table-driven where it helps."""

from __future__ import absolute_import, division, print_function

import copy
import json
import os

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils._docker import (
    DockerModelError,
    attribute_listeners,
    bridge_interface,
    build_model,
    connection_error_message,
    dockerd_settings,
    normalize_container,
    normalize_daemon,
    normalize_network,
    normalize_service,
    parse_bool,
    parse_dockerd_args,
    parse_version,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "docker")
P = "dg-it-docker-cap-"   # names the capture scenario gave its containers


def load(engine, name):
    with open(os.path.join(FIXTURES, engine, name)) as fh:
        return fh.read() if not name.endswith(".json") else json.load(fh)


def capture_model(engine, shape="list"):
    """The model the module builds from a real capture (list) or the filter (inspect)."""
    info = load(engine, "info.json")
    return build_model(
        containers=load(engine, "containers-%s.json" % shape),
        networks=load(engine, "networks-%s.json" % shape),
        info=info, version=load(engine, "version.json"),
        interfaces=load(engine, "ip-addr.json"),
        listeners=load(engine, "ss.txt"),
        services=load(engine, "services.json") if os.path.exists(
            os.path.join(FIXTURES, engine, "services.json")) else None,
        settings=dockerd_settings(info["ServerVersion"], load(engine, "dockerd-args.json"),
                                  {}),
        processes=dict((int(k), v) for k, v in load(engine, "processes.json").items()))


def by_name(items):
    return dict((i["name"], i) for i in items)


def ports(container):
    return [(p["protocol"], p["host_ip"], p["host_port"], p["container_port"], p["family"],
             p["dnat"]) for p in container["ports"]]


# ------------------------------------------------------------ real captures ---------

@pytest.mark.parametrize("engine,shape", [(e, s) for e in ("docker-20.10", "docker-28.5")
                                          for s in ("list", "inspect")])
def test_capture_scenario(engine, shape):
    """What the capture scenario started (tests/lab/scenario.py Scenario)."""
    m = capture_model(engine, shape)
    d = m["daemon"]
    if engine == "docker-20.10":
        assert d["server_version"] == "20.10.24+dfsg1" and d["api_version"] == "1.41"
        assert d["ip6tables"] is False and d["firewall_backend_source"] == "inferred"
    else:
        assert d["version"] == [28, 5, 2] and d["api_version"] == "1.51"
        assert d["ip6tables"] is True and d["firewall_backend_source"] == "reported"
    assert d["iptables"] is True and d["userland_proxy"] is True
    assert d["settings_source"]["iptables"] == "default"
    assert d["firewall_backend"] == "iptables"
    assert d["swarm"] == {"state": "inactive", "node_id": None, "node_address": None,
                          "manager": False, "cluster_id": None}

    nets = by_name(m["networks"])
    assert sorted(nets) == ["bridge", P + "net", "host", "none"]
    assert nets["bridge"]["bridge"] == "docker0" and nets["bridge"]["default"] is True
    assert nets["bridge"]["ipv4"][0]["subnet"] == "172.18.0.0/16"
    assert nets["bridge"]["ipv4"][0]["gateway"] == "172.18.0.1"   # 20.10: filled in
    assert nets["bridge"]["host_binding_ipv4"] == "0.0.0.0" and nets["bridge"]["mtu"] == 1500
    net = nets[P + "net"]
    assert (net["bridge"], net["enable_ipv6"], net["default"]) == ("dg-br-cap", True, False)
    assert net["ipv4"] == [{"subnet": "10.250.10.0/24", "gateway": "10.250.10.1",
                            "ip_range": None}]
    assert net["ipv6"] == [{"subnet": "fd00:250:10::/64", "gateway": "fd00:250:10::1",
                            "ip_range": None}]
    assert (net["icc"], net["masquerade"], net["gateway_mode_ipv4"],
            net["gateway_mode_ipv6"]) == (True, True, "nat", "nat")
    assert net["containers"] == [P + "v6"]
    assert nets["host"]["bridge"] is None and nets["host"]["containers"] == [P + "host"]
    assert nets["none"]["icc"] is None

    c = by_name(m["containers"])
    web = c[P + "web"]
    assert (web["network_mode"], web["network_kind"], web["state"], web["running"]) == (
        "bridge", "bridge", "running", True)
    assert ports(web) == [("tcp", "0.0.0.0", 8080, 80, "ipv4", True)]
    assert web["exposed_ports"] == [{"protocol": "tcp", "container_port": 80}] or \
        shape == "list"
    assert web["networks"][0]["ipv4"].startswith("172.18.0.")
    v6 = c[P + "v6"]
    assert v6["network_mode"] == P + "net" and v6["network_kind"] == "bridge"
    ep = v6["networks"][0]
    assert (ep["ipv4"], ep["ipv4_prefixlen"], ep["ipv6"], ep["ipv6_prefixlen"],
            ep["gateway"], ep["ipv6_gateway"]) == (
        "10.250.10.10", 24, "fd00:250:10::10", 64, "10.250.10.1", "fd00:250:10::1")
    assert ports(v6) == [("tcp", "0.0.0.0", 8081, 80, "ipv4", True)]
    assert (c[P + "host"]["network_kind"], c[P + "host"]["ports"]) == ("host", [])
    assert (c[P + "none"]["network_kind"], c[P + "none"]["ports"]) == ("none", [])
    assert ports(c[P + "local"]) == [("tcp", "127.0.0.1", 8082, 80, "ipv4", True)]
    assert ports(c[P + "range"]) == [("tcp", "0.0.0.0", 8090 + i, 8000 + i, "ipv4", True)
                                     for i in range(3)]
    assert ports(c[P + "udp"]) == [("udp", "0.0.0.0", 5353, 53, "ipv4", True)]
    stopped = c[P + "stopped"]
    assert (stopped["state"], stopped["running"], stopped["ports"]) == ("created", False, [])
    if shape == "inspect":
        assert stopped["port_bindings"] == [{"protocol": "tcp", "container_port": 80,
                                             "host_ip": None, "host_port": 8083,
                                             "host_port_end": 8083}]
        assert stopped["publish_all"] is False and stopped["pid"] is None
        assert isinstance(c[P + "host"]["pid"], int)
    else:
        assert stopped["port_bindings"] is None and stopped["publish_all"] is None
    if engine == "docker-20.10":   # Docker 28.5 needs CAP_SYS_PTRACE in the node for it
        side = c[P + "side"]
        assert side["network_kind"] == "container"
        assert side["network_container"] == {"id": web["id"], "name": P + "web"}
        assert side["networks"] == [] and side["ports"] == []

    ifaces = by_name(m["interfaces"])
    assert ifaces["docker0"]["role"] == "docker_bridge"
    assert ifaces["dg-br-cap"]["network"] == P + "net"
    assert ifaces["eth0"]["role"] == "external" and ifaces["lo"]["role"] == "loopback"
    # one veth each for web, v6, local, range, udp (side shares web's namespace)
    assert sum(1 for i in m["interfaces"] if i["role"] == "docker_port") == 5

    lsn = dict(((x["protocol"], x["port"]), x) for x in m["listeners"])
    assert lsn[("tcp", 9090)]["owner"] == "container"
    assert lsn[("tcp", 9090)]["container"]["name"] == P + "host"
    for port, name, cport in ((8080, "web", 80), (8081, "v6", 80), (8082, "local", 80),
                              (8091, "range", 8001)):
        item = lsn[("tcp", port)]
        assert (item["owner"], item["container"]["name"],
                item["published"]["container_port"]) == ("docker-proxy", P + name, cport)
    assert lsn[("udp", 5353)]["container"]["name"] == P + "udp"
    assert lsn[("tcp", 8082)]["address"] == "127.0.0.1"
    assert m["services"] is None and m["ingress_network"] is None
    assert m["model_version"] == 1 and m["warnings"] == []


INSPECT_ONLY = ("pid", "port_bindings", "publish_all")


@pytest.mark.parametrize("engine", ["docker-20.10", "docker-28.5", "docker-28.5-swarm"])
def test_list_and_inspect_shapes_give_the_same_model(engine):
    """The module uses the cheap container list; the filter takes docker inspect."""
    a = capture_model(engine, "list")
    b = capture_model(engine, "inspect")
    for model in (a, b):
        for cont in model["containers"]:
            for key in INSPECT_ONLY:
                cont.pop(key)
            cont.pop("exposed_ports")  # the list omits ports the image EXPOSEs only
            for ep in cont["networks"]:
                ep.pop("aliases")
        for net in model["networks"]:
            net.pop("containers")  # list shape: derived; both derive it the same way
    assert a == b


def test_shared_real_fixtures():
    """../shared/fixtures/real: `docker inspect` of web (-p 8080:80) and the bridge."""
    for engine in ("20.10", "28.5"):
        m = build_model(
            containers=load("real", "docker-%s-web.container-inspect.json" % engine),
            networks=load("real", "docker-%s-bridge.network-inspect.json" % engine),
            info={"ServerVersion": engine + ".0"})
        web = by_name(m["containers"])["web"]
        assert ports(web) == [("tcp", "0.0.0.0", 8080, 80, "ipv4", True)]
        assert web["networks"][0]["ipv4"] == "172.18.0.2"
        bridge = m["networks"][0]
        assert (bridge["bridge"], bridge["containers"]) == ("docker0", ["web"])
        assert bridge["ipv4"][0]["gateway"] == "172.18.0.1"
        assert m["daemon"]["settings_source"]["iptables"] == "assumed"
        assert m["interfaces"] is None and m["listeners"] is None


def test_swarm_capture():
    m = capture_model("docker-28.5-swarm")
    d = m["daemon"]["swarm"]
    assert d["state"] == "active" and d["manager"] is True and d["node_id"]
    assert m["ingress_network"] == "ingress"
    nets = by_name(m["networks"])
    assert nets["ingress"]["driver"] == "overlay" and nets["ingress"]["bridge"] is None
    assert nets["ingress"]["scope"] == "swarm" and nets["ingress"]["ingress"] is True
    assert nets["docker_gwbridge"]["bridge"] == "docker_gwbridge"
    assert nets["docker_gwbridge"]["icc"] is False
    svcs = by_name(m["services"])
    assert svcs["dg-ingress"]["ports"] == [
        {"protocol": "tcp", "target_port": 80, "published_port": 8080,
         "publish_mode": "ingress"}]
    assert svcs["dg-ingress"]["virtual_ips"] == [{"network": "ingress",
                                                 "address": "10.0.0.3/24"}]
    assert (svcs["dg-ingress"]["mode"], svcs["dg-ingress"]["replicas"]) == ("replicated", 1)
    assert svcs["dg-hostmode"]["ports"][0]["publish_mode"] == "host"
    assert svcs["dg-hostmode"]["mode"] == "global"
    assert svcs["dg-hostmode"]["image"] == "svc:local"
    # the host-mode task publishes like a container; dockerd's own swarm ports are 'host'
    lsn = dict(((x["protocol"], x["port"]), x) for x in m["listeners"])
    assert lsn[("tcp", 8081)]["owner"] == "docker-proxy"
    assert lsn[("tcp", 8081)]["container"]["name"].startswith("dg-hostmode.")
    assert lsn[("tcp", 2377)]["owner"] == "host"
    assert lsn[("udp", 4789)]["owner"] is None   # kernel socket: no process, unknown


# ------------------------------------------------------------ networks -------------

NET_ID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def net(name="app", driver="bridge", options=None, config=None, **extra):
    raw = {"Name": name, "Id": NET_ID, "Driver": driver, "Scope": "local",
           "IPAM": {"Config": config or []}, "Options": options or {}, "Labels": {}}
    raw.update(extra)
    return raw


@pytest.mark.parametrize("raw,expected", [
    (net(options={"com.docker.network.bridge.name": "br-custom"}), "br-custom"),
    (net(), "br-0123456789ab"),
    (net("bridge", options={"com.docker.network.bridge.default_bridge": "true"}), "docker0"),
    (net(driver="overlay"), None),
    (net(driver="macvlan", options={"parent": "eth0"}), None),
])
def test_bridge_interface(raw, expected):
    assert bridge_interface(raw) == expected
    assert normalize_network(raw)["bridge"] == expected


def test_network_options_and_defaults():
    n = normalize_network(net(
        options={"com.docker.network.bridge.enable_icc": "false",
                 "com.docker.network.bridge.enable_ip_masquerade": "false",
                 "com.docker.network.bridge.gateway_mode_ipv4": "routed",
                 "com.docker.network.bridge.gateway_mode_ipv6": "isolated",
                 "com.docker.network.bridge.host_binding_ipv4": "10.250.0.5",
                 "com.docker.network.driver.mtu": "1400"},
        config=[{"Subnet": "10.250.20.0/24", "Gateway": "10.250.20.254",
                 "IPRange": "10.250.20.128/25"},
                {"Subnet": "fd00:250:20:0::/64", "Gateway": "fd00:250:20:0:0::1"}],
        EnableIPv6=True, Internal=True, Attachable=True, EnableIPv4=False))
    assert (n["icc"], n["masquerade"], n["gateway_mode_ipv4"], n["gateway_mode_ipv6"],
            n["host_binding_ipv4"], n["mtu"]) == (False, False, "routed", "isolated",
                                                  "10.250.0.5", 1400)
    assert n["ipv4"] == [{"subnet": "10.250.20.0/24", "gateway": "10.250.20.254",
                          "ip_range": "10.250.20.128/25"}]
    assert n["ipv6"] == [{"subnet": "fd00:250:20::/64", "gateway": "fd00:250:20::1",
                          "ip_range": None}]   # canonical IPv6 text
    assert (n["internal"], n["attachable"], n["enable_ipv4"], n["enable_ipv6"]) == (
        True, True, False, True)
    plain = normalize_network(net())
    assert (plain["icc"], plain["masquerade"], plain["gateway_mode_ipv4"],
            plain["enable_ipv4"], plain["host_binding_ipv4"], plain["mtu"]) == (
        True, True, "nat", True, None, None)
    mac = normalize_network(net(driver="macvlan", options={"parent": "eth1"}))
    assert (mac["parent"], mac["icc"], mac["gateway_mode_ipv4"]) == ("eth1", None, None)


@pytest.mark.parametrize("raw", [None, [], {"Id": "x"}, "text"])
def test_network_rejects_non_network(raw):
    with pytest.raises(DockerModelError) as err:
        normalize_network(raw)
    assert "network" in str(err.value)


# ------------------------------------------------------------ containers -----------

def inspect(name="c", ports=None, bindings=None, mode="default", networks=None,
            state="running", pid=42, exposed=None, publish_all=False, cid="a" * 64):
    return {"Id": cid, "Name": "/" + name, "Image": "sha256:feed",
            "State": {"Status": state, "Running": state == "running", "Pid": pid},
            "Config": {"Image": "svc:local", "ExposedPorts": exposed, "Labels": {"k": "v"}},
            "HostConfig": {"NetworkMode": mode, "PortBindings": bindings,
                           "PublishAllPorts": publish_all},
            "NetworkSettings": {"Ports": ports, "Networks": networks if networks is not None
                                else {"bridge": {"NetworkID": "n1", "IPAddress": "172.17.0.2",
                                                 "IPPrefixLen": 16,
                                                 "Gateway": "172.17.0.1"}}}}


def test_container_inspect_ipv6_bindings_ranges_and_config():
    """20.10 with IPv6 on the host reports each binding for 0.0.0.0 and for ::."""
    c = normalize_container(inspect(
        ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                          {"HostIp": "::", "HostPort": "8080"}],
               "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
               "9000/tcp": None},
        bindings={"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                  "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
                  "81/tcp": [{"HostIp": "", "HostPort": "8000-8010"}],
                  "82/tcp": [{"HostIp": "0:0:0:0:0:0:0:1", "HostPort": ""}]},
        exposed={"9000/tcp": {}, "80/tcp": {}}, publish_all=True))
    assert ports(c) == [("tcp", "0.0.0.0", 8080, 80, "ipv4", None),
                        ("tcp", "::", 8080, 80, "ipv6", None),
                        ("udp", "127.0.0.1", 5353, 53, "ipv4", None)]
    assert c["exposed_ports"] == [{"protocol": "tcp", "container_port": 80},
                                  {"protocol": "tcp", "container_port": 9000},
                                  {"protocol": "udp", "container_port": 53}]
    assert c["port_bindings"] == [
        {"protocol": "tcp", "container_port": 80, "host_ip": None, "host_port": 8080,
         "host_port_end": 8080},
        {"protocol": "tcp", "container_port": 81, "host_ip": None, "host_port": 8000,
         "host_port_end": 8010},
        {"protocol": "tcp", "container_port": 82, "host_ip": "::1", "host_port": None,
         "host_port_end": None},
        {"protocol": "udp", "container_port": 53, "host_ip": "127.0.0.1", "host_port": 5353,
         "host_port_end": 5353}]
    assert (c["publish_all"], c["pid"], c["network_mode"], c["image"], c["image_id"],
            c["labels"]) == (True, 42, "bridge", "svc:local", "sha256:feed", {"k": "v"})


def test_container_list_shape():
    raw = {"Id": "b" * 64, "Names": ["/other/alias", "/web"], "Image": "svc:local",
           "ImageID": "sha256:feed", "State": "paused",
           "Ports": [{"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                     {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                     {"PrivatePort": 443, "Type": "tcp"}],
           "HostConfig": {"NetworkMode": "app"},
           "NetworkSettings": {"Networks": {"app": {
               "NetworkID": NET_ID, "IPAddress": "10.250.20.2", "IPPrefixLen": 24,
               "GlobalIPv6Address": "fd00:250:20:0::2", "GlobalIPv6PrefixLen": 64,
               "IPv6Gateway": "fd00:250:20::1", "Gateway": "10.250.20.1"}}}}
    c = normalize_container(raw)
    assert (c["name"], c["state"], c["running"], c["pid"], c["port_bindings"]) == (
        "web", "paused", True, None, None)
    assert ports(c) == [("tcp", "0.0.0.0", 8080, 80, "ipv4", None),
                        ("tcp", "::", 8080, 80, "ipv6", None)]
    assert c["exposed_ports"] == [{"protocol": "tcp", "container_port": 80},
                                  {"protocol": "tcp", "container_port": 443}]
    assert c["networks"][0]["ipv6"] == "fd00:250:20::2"


@pytest.mark.parametrize("raw,msg", [
    ({}, "container"), ({"Names": ["/x"]}, "Id"),
    (inspect(ports={"eighty/tcp": []}), "bad port"),
    (inspect(bindings={"80/tcp": [{"HostPort": "many"}]}), "bad HostPort"),
    (inspect(ports={"80-81/tcp": []}), "range"),
])
def test_container_errors(raw, msg):
    with pytest.raises(DockerModelError) as err:
        normalize_container(raw)
    assert msg in str(err.value)


def test_dnat_flag_per_family_and_daemon_setting():
    """dnat: does Docker DNAT this binding, or does only docker-proxy carry it?"""
    v4only = inspect("v4only", cid="1" * 64, ports={"80/tcp": [
        {"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}]})
    dual = inspect("dual", cid="2" * 64, ports={"80/tcp": [
        {"HostIp": "0.0.0.0", "HostPort": "8081"}, {"HostIp": "::", "HostPort": "8081"}]},
        mode="app", networks={"app": {"IPAddress": "10.250.20.2", "IPPrefixLen": 24,
                                      "GlobalIPv6Address": "fd00:250:20::2"}})
    for version, ip6, expected_dual_v6 in (("20.10.24", False, False),
                                           ("27.0.1", True, True)):
        m = build_model([v4only, dual], [net("app")], info={"ServerVersion": version})
        assert m["daemon"]["ip6tables"] is ip6
        c = by_name(m["containers"])
        assert [p["dnat"] for p in c["v4only"]["ports"]] == [True, False]
        assert [p["dnat"] for p in c["dual"]["ports"]] == [True, expected_dual_v6]
    off = dockerd_settings("28.5.2", ["dockerd", "--iptables=false", "--ip6tables=false"],
                           {})
    m = build_model([dual], [net("app")], info={"ServerVersion": "28.5.2"}, settings=off)
    assert [p["dnat"] for p in m["containers"][0]["ports"]] == [False, False]
    assert m["daemon"]["firewall_backend"] == "none"
    unknown = dict(off, iptables=None, ip6tables=None)
    m = build_model([dual], [net("app")], settings=unknown)
    assert [p["dnat"] for p in m["containers"][0]["ports"]] == [None, None]


def test_network_mode_resolution():
    owner = inspect("owner", cid="c" * 64)
    cases = [inspect("by-id", cid="d" * 64, mode="container:" + "c" * 64, networks={}),
             inspect("by-prefix", cid="e" * 64, mode="container:cccccccccccc", networks={}),
             inspect("by-name", cid="f" * 64, mode="container:owner", networks={}),
             inspect("gone", cid="1" * 64, mode="container:" + "9" * 64, networks={}),
             inspect("net-by-id", cid="2" * 64, mode=NET_ID[:12],
                     networks={"app": {"IPAddress": "10.250.20.3"}}),
             inspect("overlay", cid="3" * 64, mode="ov", networks={"ov": {}}),
             inspect("mac", cid="4" * 64, mode="mv", networks={"mv": {}})]
    m = build_model([owner] + cases,
                    [net("app"), net("ov", driver="overlay", Id="o" * 64),
                     net("mv", driver="macvlan", Id="m" * 64, options={"parent": "eth0"})])
    c = by_name(m["containers"])
    for name in ("by-id", "by-prefix", "by-name"):
        assert c[name]["network_kind"] == "container"
        assert c[name]["network_container"] == {"id": "c" * 64, "name": "owner"}
    assert c["gone"]["network_container"] == {"id": "9" * 64, "name": None}
    assert c["net-by-id"]["network_kind"] == "bridge"
    assert c["net-by-id"]["networks"][0]["id"] == NET_ID   # filled from the network
    assert c["overlay"]["network_kind"] == "overlay" and c["mac"]["network_kind"] == "macvlan"
    assert by_name(m["networks"])["app"]["containers"] == ["net-by-id"]


def test_gateways_filled_from_endpoints_or_bridge_address():
    cont = inspect("c", mode="app", networks={"app": {
        "IPAddress": "10.250.30.2", "Gateway": "10.250.30.1",
        "GlobalIPv6Address": "fd00:250:30::2", "IPv6Gateway": "fd00:250:30::1"}})
    nets = [net("app", config=[{"Subnet": "10.250.30.0/24"},
                               {"Subnet": "fd00:250:30::/64"}]),
            net("empty", Id="e" * 64, config=[{"Subnet": "10.250.31.0/24"}],
                options={"com.docker.network.bridge.name": "dg-empty"})]
    ifaces = [{"name": "dg-empty", "index": 9, "addresses": [
        {"family": "ipv6", "address": "fe80::1", "prefixlen": 64, "scope": "link"},
        {"family": "ipv4", "address": "10.250.31.1", "prefixlen": 24, "scope": "global"}]}]
    m = build_model([cont], nets, interfaces=ifaces)
    n = by_name(m["networks"])
    assert n["app"]["ipv4"][0]["gateway"] == "10.250.30.1"
    assert n["app"]["ipv6"][0]["gateway"] == "fd00:250:30::1"
    assert n["empty"]["ipv4"][0]["gateway"] == "10.250.31.1"
    assert by_name(m["interfaces"])["dg-empty"]["role"] == "docker_bridge"


# ------------------------------------------------------------ daemon ---------------

@pytest.mark.parametrize("argv,expected", [
    (["dockerd"], {}),
    (["/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"],
     {"hosts": ["fd://"]}),
    (["dockerd", "--iptables=false", "--ip6tables", "--userland-proxy=false"],
     {"iptables": False, "ip6tables": True, "userland_proxy": False}),
    (["dockerd", "-iptables=0", "--ip", "10.250.0.5", "--config-file=/etc/d.json"],
     {"iptables": False, "default_bind_ip": "10.250.0.5", "config_file": "/etc/d.json"}),
    (["dockerd", "--ip=127.0.0.1", "--iptables=maybe", "--experimental", "--ip"],
     {"default_bind_ip": "127.0.0.1", "experimental": True}),
    (None, {}),
])
def test_parse_dockerd_args(argv, expected):
    assert parse_dockerd_args(argv) == expected


def test_dockerd_settings_precedence_and_sources():
    s = dockerd_settings("20.10.24", ["dockerd", "--iptables=false"],
                         {"iptables": True, "ip6tables": True, "userland-proxy": False,
                          "ip": "10.250.0.5"})
    assert (s["iptables"], s["ip6tables"], s["userland_proxy"], s["default_bind_ip"]) == (
        False, True, False, "10.250.0.5")
    assert s["sources"] == {"iptables": "cmdline", "ip6tables": "config",
                            "userland_proxy": "config", "default_bind_ip": "config"}
    for version, ip6 in (("20.10.24", False), ("26.1.5", False), ("27.0.0", True),
                         ("28.5.2+dfsg4", True), (None, False)):
        s = dockerd_settings(version, ["dockerd"], {})
        assert s["ip6tables"] is ip6 and s["sources"]["ip6tables"] == "default"
    s = dockerd_settings("28.5.2", None, None)
    assert set(s["sources"].values()) == {"assumed"}
    assert dockerd_settings("28.5.2", ["dockerd"], None)["sources"]["iptables"] == "assumed"


def test_daemon_firewall_backend_swarm_rootless():
    info = {"ServerVersion": "29.0.0", "FirewallBackend": {"Driver": "nftables"},
            "Swarm": {"LocalNodeState": "active", "NodeID": "n1", "NodeAddr": "10.250.0.5",
                      "ControlAvailable": True, "Cluster": {"ID": "cl"}},
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless"],
            "IPv4Forwarding": True, "Name": "node1"}
    version = {"Server": {"ApiVersion": "1.52", "MinAPIVersion": "1.24", "Version": "29.0.0"}}
    d = normalize_daemon(info, version)
    assert (d["firewall_backend"], d["firewall_backend_source"]) == ("nftables", "reported")
    assert d["swarm"] == {"state": "active", "node_id": "n1", "node_address": "10.250.0.5",
                          "manager": True, "cluster_id": "cl"}
    assert (d["rootless"], d["api_version"], d["version"], d["name"]) == (
        True, "1.52", [29, 0, 0], "node1")
    fw = normalize_daemon({"ServerVersion": "20.10.24"}, None,
                          dockerd_settings("20.10.24", ["dockerd"], {}, firewalld=True))
    assert (fw["firewall_backend"], fw["firewall_backend_source"]) == (
        "iptables+firewalld", "inferred")
    with pytest.raises(DockerModelError):
        normalize_daemon("[1, 2]", None)
    with pytest.raises(DockerModelError):
        normalize_daemon("{not json", None)


@pytest.mark.parametrize("text,expected", [
    ("20.10.24+dfsg1", [20, 10, 24]), ("28.5.2", [28, 5, 2]), ("v1.13", [1, 13, 0]),
    ("dev", None), (None, None), ("27", [27, 0, 0])])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("value,expected", [
    ("true", True), ("False", False), ("1", True), ("0", False), (True, True),
    (None, None), ("perhaps", None)])
def test_parse_bool(value, expected):
    assert parse_bool(value) is expected


# ------------------------------------------------------------ services -------------

def test_service_spec_ports_when_endpoint_has_none():
    raw = {"ID": "s1", "Spec": {"Name": "api", "Mode": {"Replicated": {"Replicas": 3}},
                                "TaskTemplate": {"ContainerSpec": {"Image": "api:1@sha256:x"},
                                                 "Networks": [{"Target": "o" * 64}]},
                                "EndpointSpec": {"Ports": [{"Protocol": "udp",
                                                            "TargetPort": 53,
                                                            "PublishedPort": 53}]}},
           "Endpoint": {}}
    s = normalize_service(raw, {"o" * 64: "backend"})
    assert s == {"name": "api", "id": "s1", "mode": "replicated", "replicas": 3,
                 "image": "api:1", "networks": ["backend"], "virtual_ips": [],
                 "ports": [{"protocol": "udp", "target_port": 53, "published_port": 53,
                            "publish_mode": "ingress"}]}
    with pytest.raises(DockerModelError):
        normalize_service({"ID": "x"})


# ------------------------------------------------------------ listeners ------------

def listener(port, address="0.0.0.0", proto="tcp", procs=(), family=None):
    return {"protocol": proto, "family": family or ("ipv6" if ":" in address else "ipv4"),
            "address": address, "port": port, "interface": None, "dual_stack": False,
            "processes": [{"name": n, "pid": p} for n, p in procs]}


def test_attribute_listeners():
    web = normalize_container(inspect("web", cid="a" * 64, ports={"80/tcp": [
        {"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}]}))
    hostnet = normalize_container(inspect("hn", cid="b" * 64, mode="host", pid=300,
                                          networks={"host": {}}))
    hostnet2 = normalize_container(inspect("hn2", cid="c" * 64, mode="host", pid=400,
                                           networks={"host": {}}))
    items = [listener(8080, procs=[("docker-proxy", 10)]),
             listener(8080, "::", procs=[("docker-proxy", 11)]),
             listener(9090, procs=[("httpd", 301)]),          # a child: found by cgroup
             listener(9091, procs=[("nginx", 400)]),          # main pid: found by pid
             listener(22, procs=[("sshd", 5)]),
             listener(4789, proto="udp"),                     # kernel socket
             listener(7000, "::", procs=[("docker-proxy", 12)])]   # no binding known
    processes = {301: {"name": "httpd", "cgroup": "0::/docker/%s\n" % ("b" * 64)},
                 "5": {"name": "sshd", "cgroup": "0::/system.slice/ssh.service\n"}}
    got = attribute_listeners(copy.deepcopy(items), [web, hostnet, hostnet2], processes)
    summary = [(x["port"], x["address"], x["owner"],
                x["container"] and x["container"]["name"],
                x["published"] and (x["published"]["container_port"],
                                    x["published"]["host_ip"])) for x in got]
    assert summary == [
        (8080, "0.0.0.0", "docker-proxy", "web", (80, "0.0.0.0")),
        (8080, "::", "docker-proxy", "web", (80, "::")),
        (9090, "0.0.0.0", "container", "hn", None),
        (9091, "0.0.0.0", "container", "hn2", None),
        (22, "0.0.0.0", "host", None, None),
        (4789, "0.0.0.0", None, None, None),
        (7000, "::", "docker-proxy", None, None)]
    # without cgroups, a child process of a host-network container is just 'host'
    got = attribute_listeners(copy.deepcopy(items), [web, hostnet, hostnet2])
    assert [x["owner"] for x in got][2:4] == ["host", "container"]


def test_dual_stack_proxy_socket_matches_the_ipv4_binding():
    web = normalize_container(inspect("web", ports={"80/tcp": [
        {"HostIp": "0.0.0.0", "HostPort": "8080"}]}))
    item = listener(8080, "::", procs=[("docker-proxy", 10)])
    item["dual_stack"] = True
    got = attribute_listeners([item], [web])[0]
    assert got["container"]["name"] == "web" and got["published"]["host_ip"] == "0.0.0.0"


def test_userland_proxy_observed_when_settings_unknown():
    web = inspect("web", ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]})
    text = 'tcp LISTEN 0 4096 0.0.0.0:8080 0.0.0.0:* users:(("docker-proxy",pid=9,fd=4))\n'
    m = build_model([web], [], listeners=text)
    assert m["daemon"]["settings_source"]["userland_proxy"] == "observed"
    m = build_model([web], [], listeners=text,
                    settings=dockerd_settings("28.5.2", ["dockerd",
                                                         "--userland-proxy=false"], {}))
    assert m["daemon"]["userland_proxy"] is False   # configuration wins over observation
    m = build_model([web], [], listeners=[])
    assert m["listeners"] == [] and m["daemon"]["settings_source"]["userland_proxy"] == \
        "assumed"


# ------------------------------------------------------------ build_model ----------

def test_build_model_sections_not_gathered_are_none():
    m = build_model()
    assert (m["containers"], m["networks"], m["interfaces"], m["listeners"],
            m["services"]) == ([], [], None, None, None)
    assert m["daemon"]["server_version"] is None
    m = build_model(json.dumps([inspect("x")]), json.dumps(net()), services="[]",
                    warnings=["w"])
    assert [c["name"] for c in m["containers"]] == ["x"] and m["services"] == []
    assert m["warnings"] == ["w"] and m["networks"][0]["name"] == "app"


@pytest.mark.parametrize("kwargs,msg", [
    ({"containers": "{oops"}, "containers: not JSON"),
    ({"containers": 42}, "expected a list"),
    ({"containers": [1]}, "expected objects"),
    ({"networks": [{"Id": "x"}]}, "network"),
    ({"interfaces": "not json"}, "ip -j addr"),
    ({"listeners": "tcp LISTEN 0 1\n"}, "ss line 1"),
    ({"services": [{"ID": "s"}]}, "service"),
])
def test_build_model_errors(kwargs, msg):
    with pytest.raises(DockerModelError) as err:
        build_model(**kwargs)
    assert msg in str(err.value)


# ------------------------------------------------------------ connection errors ----

@pytest.mark.parametrize("error,expect", [
    ("Error while fetching server API version: ('Connection aborted.', "
     "FileNotFoundError(2, 'No such file or directory'))", "the socket does not exist"),
    ("Error while fetching server API version: ('Connection aborted.', "
     "PermissionError(13, 'Permission denied'))", "Permission denied on the Docker socket"),
    ("HTTPConnectionPool(host='10.250.0.9', port=2375): Max retries exceeded "
     "(Caused by NewConnectionError(': Failed to establish a new connection: "
     "[Errno 111] Connection refused'))", "connection refused"),
    ("UnixHTTPConnectionPool(host='localhost', port=None): Read timed out. "
     "(read timeout=60)", "Timed out"),
    ("something else", "Cannot talk to the Docker daemon"),
])
def test_connection_error_message_names_the_socket(error, expect):
    msg = connection_error_message("unix:///var/run/docker.sock", error)
    assert expect in msg and "unix:///var/run/docker.sock" in msg
    if "Permission" not in expect:
        assert "docker -H unix:///var/run/docker.sock info" in msg


# ------------------------------------------------------------ for the exposure engine

def test_routes_and_forwarding_in_the_model():
    v4 = '[{"dst":"default","gateway":"10.250.0.1","dev":"eth0"}]'
    m = build_model(routes={"ipv4": v4, "ipv6": "[]"},
                    sysctls={"ipv4_forwarding": True, "ipv6_forwarding": False})
    assert m["default_routes"] == {"ipv4": {"interface": "eth0", "gateway": "10.250.0.1",
                                            "metric": 0}, "ipv6": None}
    assert m["forwarding"] == {"ipv4": True, "ipv6": False}
    both = build_model(routes=[{"dst": "default", "gateway": "fd00:250::1", "dev": "eth1"},
                               {"dst": "default", "gateway": "10.250.0.1", "dev": "eth0"}])
    assert both["default_routes"]["ipv4"]["interface"] == "eth0"
    assert both["default_routes"]["ipv6"]["interface"] == "eth1"
    assert build_model()["default_routes"] is None and build_model()["forwarding"] is None
    with pytest.raises(DockerModelError):
        build_model(routes={"ipv4": "{bad"})


# ------------------------------------------------------------ Docker 29 / API 1.52 ----

# NetworkSettings fields API 1.52 no longer returns (moby api/docs/CHANGELOG.md, v1.52).
API_1_52_DROPPED = ("Bridge", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen",
                    "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID", "Gateway",
                    "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen",
                    "IPv6Gateway", "MacAddress")


def test_api_1_52_inspect_gives_the_same_container():
    """Docker 29's inspect (no top-level NetworkSettings addresses): the addresses come
    from NetworkSettings.Networks, the same as from Docker 28's."""
    new = load("api-1.52", "web.container-inspect.json")
    assert not set(API_1_52_DROPPED) & set(new[0]["NetworkSettings"])
    old = build_model(containers=load("real", "docker-28.5-web.container-inspect.json"),
                      info={"ServerVersion": "28.5.2"})
    m = build_model(containers=new, info=load("api-1.52", "info.json"),
                    version=load("api-1.52", "version.json"))
    web, was = by_name(m["containers"])["web"], by_name(old["containers"])["web"]
    assert web == was
    assert web["networks"][0]["ipv4"] == "172.18.0.2"
    assert web["networks"][0]["gateway"] == "172.18.0.1"
    assert ports(web) == [("tcp", "0.0.0.0", 8080, 80, "ipv4", True)]
    d = m["daemon"]
    assert (d["firewall_backend"], d["firewall_backend_source"]) == ("nftables", "reported")
    assert (d["api_version"], d["min_api_version"]) == ("1.52", "1.44")
    assert d["version"] == [29, 0, 0]


def test_top_level_network_settings_are_never_read():
    """Were they read, these stale values would show: only Networks counts."""
    raw = load("real", "docker-28.5-web.container-inspect.json")
    stale = copy.deepcopy(raw)
    stale[0]["NetworkSettings"].update({"IPAddress": "10.250.99.99", "IPPrefixLen": 8,
                                        "Gateway": "10.250.99.1", "MacAddress": "x",
                                        "GlobalIPv6Address": "fd00:250:99::9"})
    assert build_model(containers=stale) == build_model(containers=raw)


def test_firewalld_node_reports_its_backend():
    """docker info of the firewalld lab node (tests/fixtures/nft/firewalld)."""
    path = os.path.join(FIXTURES, "..", "nft", "firewalld", "default", "docker-info.json")
    with open(path) as fh:
        d = normalize_daemon(json.load(fh))
    assert (d["firewall_backend"], d["firewall_backend_source"]) == (
        "iptables+firewalld", "reported")
    assert d["version"][:2] == [28, 5]
