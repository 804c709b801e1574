# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_inspect filter: saved docker / ip / ss output -> the docker model.

The documentation is in docker_inspect.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.plugin_utils._lazy_import import module_utils

_docker = module_utils("_docker")


def _plain(value):
    """Jinja hands over tagged / unsafe strings; the normaliser wants plain str."""
    if isinstance(value, str):
        return str(value)
    return value


def docker_inspect(containers, networks=None, info=None, version=None, addresses=None,
                   listeners=None, services=None, daemon_config=None, dockerd_args=None,
                   processes=None, routes=None):
    """Build the docker_network model from saved CLI / API output."""
    try:
        info = _docker.loads(_plain(info), "info")
        settings = None
        if daemon_config is not None or dockerd_args is not None:
            if isinstance(dockerd_args, str):
                dockerd_args = dockerd_args.split()
            config = _docker.loads(_plain(daemon_config), "daemon_config")
            settings = _docker.dockerd_settings(
                (info or {}).get("ServerVersion"),
                list(dockerd_args) if dockerd_args is not None else None,
                config if daemon_config is not None else None)
        return _docker.build_model(containers=_plain(containers),
                                   networks=_plain(networks) if networks is not None else [],
                                   info=info, version=_plain(version),
                                   interfaces=_plain(addresses), listeners=_plain(listeners),
                                   services=_plain(services), settings=settings,
                                   processes=processes,
                                   routes=dict((k, _plain(v)) for k, v in routes.items())
                                   if isinstance(routes, dict) else _plain(routes))
    except _docker.DockerModelError as exc:
        raise AnsibleFilterError("docker_inspect: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"docker_inspect": docker_inspect}
