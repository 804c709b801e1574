# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a Docker host: the API (containers, networks, services) and the host itself
(interfaces, listeners, dockerd settings), then normalise it into the docker model.

The reading half of docker_network_facts, kept here so the module stays thin. Host
commands start at once in worker threads (so they run while the Docker API answers),
through the collection's one ``CmdRunner``. Errors raise ``GatherError`` with a
message a user can act on; the module turns it into ``fail_json``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import traceback
from concurrent.futures import ThreadPoolExecutor

try:
    import docker
    from docker.errors import APIError, DockerException
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.dockerguard.firewall.plugins.module_utils._docker import (
    DockerModelError,
    build_model,
    connection_error_message,
    dockerd_settings,
    parse_dockerd_args,
)
from ansible_collections.dockerguard.firewall.plugins.module_utils._docker_host import (
    HostParseError,
    find_dockerd,
    listeners_from_proc,
    parse_ip_addr_json,
    parse_ip_oneline,
    parse_ss,
    process_info,
    process_running,
    read_cmdline,
    read_sysctls,
)

DEFAULT_HOST = "unix:///var/run/docker.sock"
API_PARTS = ("containers", "networks", "services")
HOST_PARTS = ("interfaces", "listeners", "dockerd")
# docker_network_facts' options; exposure_facts gathers with their defaults (default_params)
ARGUMENT_SPEC = dict(
    docker_host=dict(type="str", aliases=["docker_url"]),
    timeout=dict(type="int", default=60),
    gather_subset=dict(type="list", elements="str", default=["all"],
                       choices=["all"] + list(API_PARTS + HOST_PARTS)),
    all_containers=dict(type="bool", default=True),
    containers_filters=dict(type="dict"),
    networks_filters=dict(type="dict"),
    inspect_containers=dict(type="bool", default=False),
)


def default_params():
    """``gather``'s params with every option at its default."""
    return dict((name, spec.get("default")) for name, spec in ARGUMENT_SPEC.items())


class GatherError(RuntimeError):
    """The Docker host could not be read; the message says what and where."""


def subset_of(requested, local):
    """The parts to gather: ``all`` means every API part, plus the host parts if local."""
    explicit = [p for p in requested if p != "all"]
    if "all" in requested:
        parts = set(API_PARTS + (HOST_PARTS if local else ()))
        parts.update(explicit)
        return parts
    return set(explicit)


def is_local(base_url):
    return base_url.startswith(("unix://", "/")) or base_url.startswith(
        ("tcp://127.", "tcp://localhost", "tcp://[::1]"))


class Gatherer(object):
    def __init__(self, runner, base_url, pool, timeout=60, inspect_containers=False):
        self.runner = runner
        self.base_url = base_url
        self.pool = pool
        self.timeout = timeout
        self.inspect_all = inspect_containers
        self.warnings = []
        self.api_version = None

    def warn(self, text):
        self.warnings.append(text)

    # ---------- Docker API ----------
    def client(self):
        """An API client; the first one negotiates the API version (GET /version)."""
        kwargs = docker.utils.kwargs_from_env()
        kwargs["base_url"] = self.base_url
        try:
            client = docker.APIClient(version=self.api_version or "auto",
                                      timeout=self.timeout, **kwargs)
        except DockerException as exc:
            raise GatherError(connection_error_message(self.base_url, str(exc)))
        self.api_version = client.api_version
        return client

    def fail(self, what, exc):
        if isinstance(exc, APIError):
            raise GatherError("Docker API error while reading %s from %s: %s"
                              % (what, self.base_url, exc.explanation or exc))
        # DockerException, requests' ConnectionError / ReadTimeout, ...
        raise GatherError(connection_error_message(self.base_url, str(exc)))

    def api_calls(self, calls):
        """Run ``{name: (method name, kwargs)}`` concurrently, one client each."""
        def one(item):
            name, (method, kwargs) = item
            try:
                client = self.client()
            except GatherError as exc:
                return name, None, exc
            try:
                return name, getattr(client, method)(**kwargs), None
            except Exception as exc:  # reported below, in the main thread
                return name, None, exc
            finally:
                client.close()

        results = {}
        for name, value, exc in self.pool.map(one, sorted(calls.items())):
            if isinstance(exc, GatherError):
                raise exc
            if exc is not None:
                self.fail(name, exc)
            results[name] = value
        return results

    def inspect(self, client, containers):
        """Inspect host-network containers (for their pid), or all of them if asked."""
        result = []
        for summary in containers:
            mode = (summary.get("HostConfig") or {}).get("NetworkMode", "")
            if self.inspect_all or (mode == "host" and summary.get("State") == "running"):
                try:
                    summary = client.inspect_container(summary["Id"])
                except APIError as exc:
                    if getattr(exc, "status_code", None) == 404:
                        continue  # removed since it was listed
                    self.fail("container %s" % summary["Id"][:12], exc)
                except Exception as exc:
                    self.fail("container %s" % summary["Id"][:12], exc)
            result.append(summary)
        return result

    # ---------- host ----------
    def start(self, argv):
        return self.runner.start(self.pool, argv)

    def run(self, argv):
        return self.start(argv).result()

    def interfaces(self, started):
        res = started.result()
        if res is None:
            self.warn("interfaces: the 'ip' command (iproute2) is not installed")
            return None
        try:
            if res[0]:
                return parse_ip_addr_json(res[1])
            addr = self.run(["ip", "-o", "addr", "show"])  # iproute2 < 4.13 has no -j
            link = self.run(["ip", "-o", "link", "show"])
            if addr and addr[0]:
                return parse_ip_oneline(addr[1], link[1] if link and link[0] else None)
            self.warn("interfaces: ip addr failed: %s" % (addr[1] if addr else res[1]))
        except HostParseError as exc:
            self.warn("interfaces: %s" % exc)
        return None

    def listeners(self, started):
        res = started.result()
        if res is not None and not res[0]:
            res = self.run(["ss", "-ltnup"])  # iproute2 < 4.14 has no -H
        if res is not None and res[0]:
            try:
                return parse_ss(res[1])
            except HostParseError as exc:
                self.warn("listeners: %s; reading /proc/net instead" % exc)
        else:
            self.warn("listeners: %s; reading /proc/net instead"
                      % ("ss not found" if res is None else "ss failed: %s" % res[1]))
        tables = {}
        for proto in ("tcp", "udp"):
            for family, suffix in (("ipv4", ""), ("ipv6", "6")):
                path = "/proc/net/%s%s" % (proto, suffix)
                try:
                    with open(path) as handle:
                        tables[(proto, family)] = handle.read()
                except (IOError, OSError):
                    continue
        if os.geteuid() != 0:
            self.warn("listeners: not root, owners of other users' sockets are unknown")
        try:
            return listeners_from_proc(tables, proc_root="/proc")
        except HostParseError as exc:
            self.warn("listeners: %s" % exc)
            return None

    def dockerd(self, server_version):
        pid = find_dockerd()
        args = read_cmdline(pid) if pid else None
        if pid is None:
            self.warn("dockerd: no dockerd process found in this pid namespace; "
                      "iptables/ip6tables/userland-proxy are Docker's defaults (assumed)")
        elif not args:
            self.warn("dockerd: cannot read /proc/%d/cmdline" % pid)
            args = None
        path = parse_dockerd_args(args or []).get("config_file", "/etc/docker/daemon.json")
        config = {}
        if os.path.exists(path):
            try:
                with open(path) as handle:
                    text = handle.read()
                config = json.loads(text) if text.strip() else {}
                if not isinstance(config, dict):
                    raise ValueError("not a JSON object")
            except (IOError, OSError, ValueError) as exc:
                self.warn("dockerd: cannot read %s (%s)" % (path, exc))
                config = None
        firewalld = process_running("firewalld", pidfile="/var/run/firewalld.pid")
        return dockerd_settings(server_version, args, config, firewalld)


def gather(runner, params, base_url):
    """The docker model of the host behind ``base_url``; its ``warnings`` included.

    ``params`` are docker_network_facts' options. Raises GatherError.
    """
    local = is_local(base_url)
    subset = subset_of(params["gather_subset"], local)
    pool = ThreadPoolExecutor(max_workers=8)
    try:
        return _gather(Gatherer(runner, base_url, pool, params["timeout"],
                                params["inspect_containers"]), params, local, subset)
    finally:
        pool.shutdown(wait=False)


def _gather(g, params, local, subset):
    if "all" in params["gather_subset"] and not local:
        g.warn("%s is not a local socket: interfaces, listeners and dockerd settings are "
               "not gathered (name them in gather_subset to gather them from the managed "
               "host anyway)" % g.base_url)

    # host commands run while the API answers
    ss = g.start(["ss", "-Hltnup"]) if "listeners" in subset else None
    ip = routes4 = routes6 = None
    if "interfaces" in subset:
        ip = g.start(["ip", "-j", "addr", "show"])
        routes4 = g.start(["ip", "-4", "-j", "route", "show", "default"])
        routes6 = g.start(["ip", "-6", "-j", "route", "show", "default"])

    client = g.client()
    try:
        calls = {"info": ("info", {}), "version": ("version", {})}
        if "networks" in subset:
            calls["networks"] = ("networks", {"filters": params["networks_filters"]})
        if "containers" in subset:
            calls["containers"] = ("containers", {"all": params["all_containers"],
                                                  "filters": params["containers_filters"]})
        found = g.api_calls(calls)
        info, version = found["info"], found["version"]
        networks, containers, services = found.get("networks"), found.get("containers"), None
        if containers is not None:
            containers = g.inspect(client, containers)
        if "services" in subset and (info.get("Swarm") or {}).get("ControlAvailable"):
            try:
                services = client.services()
            except Exception as exc:
                g.fail("services", exc)
    finally:
        client.close()

    settings = g.dockerd(info.get("ServerVersion")) if "dockerd" in subset else None
    interfaces = routes = sysctls = None
    if ip is not None:
        interfaces = g.interfaces(ip)
        sysctls = read_sysctls(interfaces)
        routes = {}
        for family, command in (("ipv4", routes4), ("ipv6", routes6)):
            res = command.result()
            if res and res[0]:
                routes[family] = res[1]
            else:
                routes[family] = "[]"
                if res is not None:
                    g.warn("default_routes: ip %s route failed: %s" % (family, res[1]))
    listeners = g.listeners(ss) if ss is not None else None
    processes = None
    if listeners:
        processes = process_info(p["pid"] for item in listeners for p in item["processes"])
    try:
        model = build_model(containers=containers, networks=networks, info=info,
                            version=version, interfaces=interfaces, listeners=listeners,
                            services=services, settings=settings, processes=processes,
                            warnings=g.warnings, routes=routes, sysctls=sysctls)
    except DockerModelError as exc:
        raise GatherError("Cannot normalise what %s returned: %s" % (g.base_url, exc))
    if containers is None:
        model["containers"] = None
    if networks is None:
        model["networks"] = None
    return model, list(g.warnings)
