# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of exposure_report_files: write the fleet's reports on the controller.

Runs in the controller's process, with no module run: a fleet audit used to pay one local
module start per host for its JSON file (``copy``), the largest share of its time."""

from __future__ import annotations

import datetime
import json
import os
import re
import tempfile

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_render as render
from ansible_collections.dockerguard.firewall.plugins.modules.exposure_report_files import (
    ARGUMENT_SPEC)

FLEET_FILES = {"html": "index.html", "markdown": "report.md"}
# a host's report file is named after it: an inventory name, never a path or a hidden file
_NOT_A_FILE_NAME = re.compile(r"\A\Z|\A\.|[/\\\x00]")


def host_json(report):
    """The text of a host's kept report (what the next audit's drift reads)."""
    return json.dumps(report, cls=AnsibleJSONEncoder, indent=1, sort_keys=True,
                      separators=(",", ": "), ensure_ascii=False) + "\n"


def plan(params, now):
    """``[(file name, text)]`` of the reports; ValueError names a report it cannot write."""
    files = []
    for report in params["reports"]:
        host = report.get("host")
        if not isinstance(host, str) or _NOT_A_FILE_NAME.search(host):
            raise ValueError("a report's host must be an inventory name usable as a file "
                             "name, got %r" % (host,))
        files.append((host + ".json", host_json(report)))
    generated = params["generated"] or now.strftime("%Y-%m-%d %H:%M UTC")
    for fmt in params["formats"]:
        files.append((FLEET_FILES[fmt], render.render(
            params["reports"], fmt=fmt, title=params["title"], generated=generated,
            not_audited=params["not_audited"])))
    return files


def _current(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def write_atomically(path, data):
    """``data`` (bytes) into ``path`` through a temporary file renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        directory = params["path"]
        try:
            files = plan(params, datetime.datetime.now(datetime.timezone.utc))
        except (ValueError, KeyError, TypeError) as exc:
            result.update(failed=True, msg="exposure_report_files: %s" % exc)
            return result
        if os.path.exists(directory) and not os.path.isdir(directory):
            result.update(failed=True, msg="exposure_report_files: %s is not a directory" % directory)
            return result

        paths, changed = [], []
        for name, text in files:
            path = os.path.join(directory, name)
            paths.append(path)
            data = text.encode("utf-8")
            if _current(path) == data:
                continue
            changed.append(path)
            if self._task.check_mode:
                continue
            try:
                if not os.path.isdir(directory):
                    os.makedirs(directory, 0o755)
                write_atomically(path, data)
            except OSError as exc:
                result.update(failed=True, path=directory, files=paths, changed_files=changed[:-1],
                              msg="exposure_report_files: cannot write %s: %s" % (path, exc))
                return result
        result.update(changed=bool(changed), path=directory, files=paths, changed_files=changed)
        return result
