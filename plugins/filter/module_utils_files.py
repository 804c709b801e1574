# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils_files filter: a module_utils of this collection and every one it imports.

The documentation is in module_utils_files.yml beside this file. The boot programs the
roles install run module_utils code on the host without Ansible; the files they need
are read from the imports, so a new import never leaves the program broken there.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os

from ansible.errors import AnsibleFilterError

PACKAGE = "ansible_collections.dockerguard.firewall.plugins.module_utils"
MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "module_utils")


def imported(path):
    """The names of this collection's module_utils that the file at ``path`` imports
    (``from PACKAGE._x import ...``, ``from PACKAGE import _x``, ``import PACKAGE._x``,
    ``from . import _x``), anywhere in it."""
    with open(path, "rb") as fh:
        tree = ast.parse(fh.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:   # from . import _x
            names.update([node.module.split(".")[0]] if node.module
                         else [alias.name for alias in node.names])
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                names.update(alias.name for alias in node.names)
            elif node.module.startswith(PACKAGE + "."):
                names.add(node.module[len(PACKAGE) + 1:].split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name[len(PACKAGE) + 1:].split(".")[0] for alias in node.names
                         if alias.name.startswith(PACKAGE + "."))
    return names


def module_utils_files(name, module_utils=MODULE_UTILS):
    """``name`` (``_saved_policy``) and every module_utils it imports, recursively, as
    file names (``_saved_policy.py`` first, then sorted)."""
    name = str(name)
    if name.endswith(".py"):
        name = name[:-3]
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        path = os.path.join(module_utils, current + ".py")
        if not os.path.isfile(path):
            raise AnsibleFilterError("module_utils_files: %r is not a module_utils file of "
                                     "this collection (%s)" % (current, path))
        seen.add(current)
        todo.extend(imported(path) - seen)
    return [name + ".py"] + sorted(n + ".py" for n in seen - {name})


class FilterModule(object):
    def filters(self):
        return {"module_utils_files": module_utils_files}
