# -*- coding: utf-8 -*-
"""Host-side parsing: ip addr, ss, /proc/net, /proc walking (fake trees), cgroups."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils._docker_host import (
    HostParseError,
    classify_interfaces,
    container_id_from_cgroup,
    find_dockerd,
    listeners_from_proc,
    parse_ip_addr_json,
    parse_ip_oneline,
    parse_ip_route_json,
    parse_proc_net,
    parse_ss,
    process_info,
    process_running,
    read_cmdline,
    read_sysctls,
    socket_owners,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "docker")
ENGINES = ("docker-20.10", "docker-28.5", "docker-28.5-swarm")


def fixture(engine, name):
    with open(os.path.join(FIXTURES, engine, name)) as fh:
        return fh.read()


def short(listeners):
    return [(x["protocol"], x["family"], x["address"], x["port"], x["interface"],
             x["dual_stack"], [(p["name"], p["pid"]) for p in x["processes"]])
            for x in listeners]


# --------------------------------------------------------------------------- ss ------

# Seen on this project's machines (iproute2 6.1 and 7.2) with a test program binding each
# kind of socket; see the module docstring for what '*' and '[::]' mean.
SS_SAMPLE = """\
udp UNCONN 0      0         0.0.0.0:41007 0.0.0.0:* users:(("python3",pid=26708,fd=9))
udp UNCONN 0      0               *:41006       *:* users:(("python3",pid=26708,fd=8))
tcp LISTEN 0      128       0.0.0.0:2024  0.0.0.0:*
tcp LISTEN 0      128       0.0.0.0:41003 0.0.0.0:* users:(("python3",pid=26708,fd=5))
tcp LISTEN 0      128    0.0.0.0%lo:41008 0.0.0.0:* users:(("python3",pid=26708,fd=11))
tcp LISTEN 0      128     127.0.0.1:41004 0.0.0.0:* users:(("python3",pid=26708,fd=6))
tcp LISTEN 0      128         [::1]:41005    [::]:* users:(("python3",pid=26708,fd=7))
tcp LISTEN 0      128          [::]:41002    [::]:* users:(("python3",pid=26708,fd=4))
tcp LISTEN 0      128             *:41001       *:* users:(("python3",pid=26708,fd=3))
"""


def test_parse_ss_every_address_form():
    got = short(parse_ss(SS_SAMPLE))
    py = [("python3", 26708)]
    assert got == [
        ("tcp", "ipv4", "0.0.0.0", 2024, None, False, []),
        ("tcp", "ipv4", "0.0.0.0", 41003, None, False, py),
        ("tcp", "ipv4", "127.0.0.1", 41004, None, False, py),
        ("tcp", "ipv4", "0.0.0.0", 41008, "lo", False, py),
        ("tcp", "ipv6", "::", 41001, None, True, py),    # '*': IPv6 wildcard, takes IPv4
        ("tcp", "ipv6", "::", 41002, None, False, py),   # '[::]': IPV6_V6ONLY
        ("tcp", "ipv6", "::1", 41005, None, False, py),
        ("udp", "ipv4", "0.0.0.0", 41007, None, False, py),
        ("udp", "ipv6", "::", 41006, None, True, py),
    ]


def test_parse_ss_header_old_forms_and_several_processes():
    text = """\
Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
tcp   LISTEN 0      511    0.0.0.0:80   0.0.0.0:*  users:(("nginx",pid=12,fd=6),("nginx",pid=11,fd=6),("nginx",pid=12,fd=7))
tcp   LISTEN 0      128    :::22        :::*       users:(("sshd",pid=5,fd=4))
tcp   ESTAB  0      0      10.0.0.1:22  10.0.0.9:51000 users:(("sshd",pid=77,fd=4))
udp   ESTAB  0      0      10.0.0.1:123 10.0.0.8:123
udp   UNCONN 0      0      [fe80::1%eth0]:546 [::]:*  users:(("dhclient",pid=9,fd=5))
tcp   LISTEN 0      5      [::ffff:10.1.2.3]:9000 [::]:* users:(("my \\"odd\\" (proc)",pid=3,fd=1))
"""
    got = short(parse_ss(text))
    assert got == [
        ("tcp", "ipv4", "0.0.0.0", 80, None, False, [("nginx", 11), ("nginx", 12)]),
        ("tcp", "ipv6", "::", 22, None, False, [("sshd", 5)]),
        ("tcp", "ipv6", "::ffff:10.1.2.3", 9000, None, False, [('my "odd" (proc)', 3)]),
        ("udp", "ipv6", "fe80::1", 546, "eth0", False, [("dhclient", 9)]),
    ]


def test_parse_ss_single_protocol_has_no_netid_column():
    text = "LISTEN 0 4096 0.0.0.0:8080 0.0.0.0:* users:((\"docker-proxy\",pid=7,fd=4))\n"
    assert short(parse_ss(text)) == [
        ("tcp", "ipv4", "0.0.0.0", 8080, None, False, [("docker-proxy", 7)])]


def test_parse_ss_same_socket_twice_is_merged():
    line = 'tcp LISTEN 0 1 0.0.0.0:80 0.0.0.0:* users:(("a",pid=%d,fd=3))\n'
    got = parse_ss(line % 1 + line % 2)
    assert len(got) == 1 and [p["pid"] for p in got[0]["processes"]] == [1, 2]


@pytest.mark.parametrize("text", [
    "tcp LISTEN 0 128\n",
    "tcp LISTEN 0 128 nonsense 0.0.0.0:*\n",
    "tcp LISTEN 0 128 0.0.0.0:http 0.0.0.0:*\n",
])
def test_parse_ss_rejects_garbage_naming_the_line(text):
    with pytest.raises(HostParseError) as err:
        parse_ss("\n" + text)
    assert "line 2" in str(err.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_parse_ss_real_captures(engine):
    listeners = parse_ss(fixture(engine, "ss.txt"))
    assert listeners, engine
    ports = dict(((x["protocol"], x["port"]), x) for x in listeners)
    if engine == "docker-28.5-swarm":
        assert ports[("tcp", 2377)]["processes"][0]["name"] == "dockerd"
        assert ports[("udp", 4789)]["processes"] == []   # kernel VXLAN socket
    else:
        assert ports[("tcp", 8080)]["processes"][0]["name"] == "docker-proxy"
        assert ports[("tcp", 8082)]["address"] == "127.0.0.1"
        assert ports[("udp", 5353)]["processes"][0]["name"] == "docker-proxy"
        assert ports[("tcp", 9090)]["processes"][0]["name"] == "httpd"
        assert ports[("tcp", 9090)]["dual_stack"] is True


# --------------------------------------------------------------------- /proc/net ------

# /proc/net/tcp6 as the kernel prints it; line 3 has a 33-digit address (broken on purpose)
PROC_TCP6 = fixture("synthetic", "proc-net-tcp6")
PROC_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0
   1: 0A00FA0A:0016 140AFA0A:C350 01 00000000:00000000 02:000A7D8F 00000000     0        0 112 2 0000000000000000 20 4 30 10 -1
"""
PROC_UDP = """\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 221 2 0000000000000000 0
  101: 0A00FA0A:007B 0800FA0A:007B 01 00000000:00000000 00:00000000 00000000     0        0 222 2 0000000000000000 0
"""


def test_parse_proc_net_tcp_and_tcp6():
    v4 = parse_proc_net(PROC_TCP, "tcp", "ipv4")
    assert [(x["address"], x["port"], x["inode"]) for x in v4] == [("127.0.0.1", 8080, 111)]
    v6 = parse_proc_net(PROC_TCP6.splitlines()[0] + "\n" + "\n".join(
        PROC_TCP6.splitlines()[1:3]), "tcp", "ipv6")
    assert [(x["address"], x["port"], x["dual_stack"]) for x in v6] == [
        ("::1", 41005, False), ("::", 41002, None)]   # v6only cannot be seen here


def test_parse_proc_net_udp_keeps_unconnected_only():
    got = parse_proc_net(PROC_UDP, "udp", "ipv4")
    assert [(x["address"], x["port"], x["inode"]) for x in got] == [("0.0.0.0", 5353, 221)]


def test_parse_proc_net_errors():
    with pytest.raises(HostParseError):
        parse_proc_net(PROC_TCP6, "tcp", "ipv6")  # line 3 has a 33-digit address
    with pytest.raises(ValueError):
        parse_proc_net("", "sctp", "ipv4")
    with pytest.raises(HostParseError):
        parse_proc_net("  0: 0100007F:1F90\n", "tcp", "ipv4")


@pytest.mark.parametrize("engine", ENGINES)
def test_proc_net_real_captures_agree_with_ss(engine):
    tables = {}
    for proto in ("tcp", "udp"):
        for family, suffix in (("ipv4", ""), ("ipv6", "6")):
            tables[(proto, family)] = fixture(engine, "proc-net-%s%s" % (proto, suffix))
    from_proc = listeners_from_proc(tables)
    from_ss = parse_ss(fixture(engine, "ss.txt"))

    def key(x):
        return (x["protocol"], x["family"], x["address"], x["port"])
    assert sorted(map(key, from_proc)) == sorted(map(key, from_ss))


def _fake_proc(tmp_path, procs):
    """procs: {pid: {"comm", "cmdline" (list), "cgroup", "fds": {fd: target}, "ns"}}"""
    root = tmp_path / "proc"
    root.mkdir()
    for pid, spec in procs.items():
        d = root / str(pid)
        (d / "fd").mkdir(parents=True)
        (d / "ns").mkdir()
        (d / "comm").write_text(spec.get("comm", "x") + "\n")
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in spec.get("cmdline", []))
                                    + b"\0")
        if "cgroup" in spec:
            (d / "cgroup").write_text(spec["cgroup"])
        for fd, target in spec.get("fds", {}).items():
            os.symlink(target, str(d / "fd" / str(fd)))
        os.symlink(spec.get("ns", "pid:[1]"), str(d / "ns" / "pid"))
    os.symlink("1", str(root / "self"))  # our own process: pid 1 here
    return root


def test_socket_owners_and_listeners_from_proc(tmp_path):
    root = _fake_proc(tmp_path, {
        1: {"comm": "init", "fds": {0: "/dev/null"}},
        40: {"comm": "docker-proxy", "fds": {3: "pipe:[9]", 4: "socket:[111]"}},
        41: {"comm": "named", "fds": {5: "socket:[221]", 6: "socket:[999]"}},
    })
    assert socket_owners([111, 221], str(root)) == {
        111: [{"name": "docker-proxy", "pid": 40}], 221: [{"name": "named", "pid": 41}]}
    got = listeners_from_proc({("tcp", "ipv4"): PROC_TCP, ("udp", "ipv4"): PROC_UDP},
                              proc_root=str(root))
    assert short(got) == [
        ("tcp", "ipv4", "127.0.0.1", 8080, None, False, [("docker-proxy", 40)]),
        ("udp", "ipv4", "0.0.0.0", 5353, None, False, [("named", 41)]),
    ]
    assert socket_owners([], str(root)) == {}
    assert socket_owners([1], str(tmp_path / "missing")) == {}


def test_find_dockerd_pidfile_then_own_namespace(tmp_path):
    root = _fake_proc(tmp_path, {
        1: {"comm": "sh", "ns": "pid:[1]"},
        50: {"comm": "dockerd", "ns": "pid:[2]", "cmdline": ["dockerd"]},   # a nested node's
        60: {"comm": "dockerd", "ns": "pid:[1]",
             "cmdline": ["/usr/bin/dockerd", "-H", "fd://", "--iptables=false"]},
    })
    nopid = str(tmp_path / "none.pid")
    assert find_dockerd(str(root), nopid) == 60
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text("50")
    assert find_dockerd(str(root), str(pidfile)) == 50   # the pidfile is authoritative
    pidfile.write_text("1")   # stale pidfile: pid 1 is not dockerd
    assert find_dockerd(str(root), str(pidfile)) == 60
    assert read_cmdline(60, str(root)) == ["/usr/bin/dockerd", "-H", "fd://",
                                           "--iptables=false"]
    assert process_running("dockerd", str(root)) is True
    assert process_running("firewalld", str(root)) is False
    assert process_running("x", str(tmp_path / "nope")) is None
    assert process_running("dockerd", str(root), str(pidfile)) is False   # pid 1: sh
    pidfile.write_text("60")
    assert process_running("dockerd", str(root), str(pidfile)) is True
    assert process_running("dockerd", str(root), str(tmp_path / "no.pid")) is False
    assert find_dockerd(str(tmp_path / "nope"), nopid) is None


def test_process_info_and_cgroup(tmp_path):
    cid = "ce939a5250e1bc759ff208099f17da05e6ac7ee32fe437852948cbaa3d321266"
    node = "b2a7d24e89f1510b14017742f4540df96d1c7568d6a604ee5801b1a03d24492f"
    root = _fake_proc(tmp_path, {
        1: {"comm": "init"},
        278: {"comm": "httpd", "cgroup": "0::/docker/%s/docker/%s\n" % (node, cid)},
    })
    info = process_info([278, 278, 999], str(root))
    assert list(info) == [278] and info[278]["name"] == "httpd"
    assert container_id_from_cgroup(info[278]["cgroup"], [cid]) == cid
    systemd = "0::/system.slice/docker-%s.scope\n" % cid
    assert container_id_from_cgroup(systemd, [cid, node]) == cid
    assert container_id_from_cgroup("0::/user.slice\n", [cid]) is None
    assert container_id_from_cgroup(None, [cid]) is None


# ---------------------------------------------------------------------- ip addr ------

def test_parse_ip_addr_json_real_capture():
    ifaces = parse_ip_addr_json(fixture("docker-28.5", "ip-addr.json"))
    by = dict((i["name"], i) for i in ifaces)
    assert by["lo"]["link_type"] == "loopback" and by["lo"]["mac"] is None
    assert {"family": "ipv4", "address": "10.250.10.1", "prefixlen": 24,
            "scope": "global"} in by["dg-br-cap"]["addresses"]
    assert any(a["address"] == "fd00:250:10::1" for a in by["dg-br-cap"]["addresses"])
    veths = [i for i in ifaces if i["name"].startswith("veth")]
    assert veths and all(i["master"] in ("docker0", "dg-br-cap") for i in veths)


def test_parse_ip_addr_json_accepts_data_and_rejects_garbage():
    data = json.loads(fixture("docker-20.10", "ip-addr.json"))
    assert parse_ip_addr_json(data) == parse_ip_addr_json(json.dumps(data).encode())
    assert parse_ip_addr_json("") == []
    for bad in ("{not json", "{}", "[1]", '[{"ifindex": 1}]'):
        with pytest.raises(HostParseError):
            parse_ip_addr_json(bad)


def test_parse_ip_oneline():
    addr = fixture("synthetic", "ip-o-addr.txt")   # iproute2 without -j
    link = fixture("synthetic", "ip-o-link.txt")
    got = parse_ip_oneline(addr, link)
    by = dict((i["name"], i) for i in got)
    assert [i["name"] for i in got] == ["lo", "eth0", "docker0", "veth1a2b3c4"]
    assert by["lo"]["link_type"] == "loopback" and by["lo"]["mtu"] == 65536
    assert by["eth0"]["mac"] == "02:42:0a:fa:00:05" and by["eth0"]["state"] == "UP"
    assert by["eth0"]["addresses"] == [{"family": "ipv4", "address": "10.250.0.5",
                                        "prefixlen": 24, "scope": "global"}]
    assert by["veth1a2b3c4"]["master"] == "docker0"
    assert by["lo"]["addresses"][1] == {"family": "ipv6", "address": "::1",
                                        "prefixlen": 128, "scope": "host"}
    # addresses alone (no link text) still give names and addresses
    assert [i["name"] for i in parse_ip_oneline(addr)] == ["lo", "eth0", "docker0"]
    with pytest.raises(HostParseError):
        parse_ip_oneline("garbage line\n")


def test_classify_interfaces():
    ifaces = [{"name": "lo", "link_type": "loopback"}, {"name": "eth0", "master": None},
              {"name": "docker0"}, {"name": "br-0123456789ab"},
              {"name": "veth1", "master": "docker0"}, {"name": "veth2", "master": "br-x"},
              {"name": "dg-custom"}]
    nets = [{"name": "bridge", "bridge": "docker0"}, {"name": "app", "bridge": "dg-custom"},
            {"name": "other", "bridge": "br-0123456789ab"}, {"name": "host", "bridge": None}]
    classified = classify_interfaces(ifaces, nets)
    got = dict((i["name"], (i["role"], i["network"])) for i in classified)
    assert got == {"lo": ("loopback", None), "eth0": ("external", None),
                   "docker0": ("docker_bridge", "bridge"),
                   "br-0123456789ab": ("docker_bridge", "other"),
                   "veth1": ("docker_port", "bridge"), "veth2": ("external", None),
                   "dg-custom": ("docker_bridge", "app")}


# ------------------------------------------------------------ routes, sysctls ------

def test_parse_ip_route_json():
    v4 = ('[{"dst":"default","gateway":"10.250.0.1","dev":"eth0","metric":100,"flags":[]},'
          '{"dst":"default","gateway":"10.250.1.1","dev":"eth1","metric":50,"flags":[]},'
          '{"dst":"10.250.0.0/24","dev":"eth0","protocol":"kernel","scope":"link"}]')
    assert parse_ip_route_json(v4) == {"interface": "eth1", "gateway": "10.250.1.1",
                                       "metric": 50}
    v6 = [{"dst": "default", "gateway": "fd00:250:0:0::1", "dev": "eth0", "metric": 1024},
          {"type": "unreachable", "dst": "default", "dev": "lo", "metric": 1}]
    assert parse_ip_route_json(v6) == {"interface": "eth0", "gateway": "fd00:250::1",
                                       "metric": 1024}
    assert parse_ip_route_json(v6, "ipv4") is None   # family filter on the gateway
    assert parse_ip_route_json('[{"dst":"default","dev":"wg0"}]') == {
        "interface": "wg0", "gateway": None, "metric": 0}   # point-to-point, no gateway
    assert parse_ip_route_json("") is None and parse_ip_route_json(b"[]") is None
    for bad in ("{oops", "{}", "[1]"):
        with pytest.raises(HostParseError):
            parse_ip_route_json(bad)


def test_read_sysctls(tmp_path):
    net = tmp_path / "sys" / "net"
    for path, value in (("ipv4/ip_forward", "1"), ("ipv6/conf/all/forwarding", "0"),
                        ("ipv4/conf/all/route_localnet", "0"),
                        ("ipv4/conf/docker0/route_localnet", "1"),
                        ("ipv4/conf/eth0/route_localnet", "0")):
        (net / path).parent.mkdir(parents=True, exist_ok=True)
        (net / path).write_text(value + "\n")
    ifaces = [{"name": "docker0"}, {"name": "eth0"}, {"name": "gone"}]
    assert read_sysctls(ifaces, str(tmp_path)) == {"ipv4_forwarding": True,
                                                   "ipv6_forwarding": False,
                                                   "local_port_range": None}
    assert [i["route_localnet"] for i in ifaces] == [True, False, None]
    (net / "ipv4/conf/all/route_localnet").write_text("1\n")   # all: every interface
    read_sysctls(ifaces, str(tmp_path))
    assert [i["route_localnet"] for i in ifaces] == [True, True, None]
    empty = {"ipv4_forwarding": None, "ipv6_forwarding": None, "local_port_range": None}
    assert read_sysctls([], str(tmp_path / "none")) == empty
    (net / "ipv4/ip_local_port_range").write_text("32768\t60999\n")
    assert read_sysctls([], str(tmp_path))["local_port_range"] == [32768, 60999]
