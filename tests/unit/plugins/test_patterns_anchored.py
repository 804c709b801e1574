# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every regular expression of the collection ends its match with \\Z or fullmatch, never
with '$', which also matches before a trailing newline ("eth0\\n" passed validation and
reached iptables; issue 13, class 2). Python patterns are found with the AST, the roles'
Jinja tests and filters (match, search, regex_replace...) by their quoted argument."""

from __future__ import absolute_import, division, print_function

import ast
import os
import re

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
RE_CALLS = ("compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall",
            "finditer")
JINJA = re.compile(r"""(?:match|search|regex_search|regex_replace|regex_findall)\(\s*(['"])(.*?)\1""")


def _dollar(pattern):
    """Whether ``pattern`` uses '$' as an anchor (not escaped, not inside a class)."""
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "$" and not in_class:
            return True
    return False


def _files(top, ext):
    for base, _dirs, names in os.walk(os.path.join(ROOT, top)):
        for name in names:
            if name.endswith(ext):
                yield os.path.join(base, name)


def python_patterns():
    for path in _files("plugins", ".py"):
        with open(path) as fh:
            tree = ast.parse(fh.read())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                    and node.func.attr in RE_CALLS and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                yield os.path.relpath(path, ROOT), node.lineno, node.args[0].value


def jinja_patterns():
    for top in ("roles", "playbooks"):
        for path in _files(top, ".yml"):
            with open(path) as fh:
                for lineno, line in enumerate(fh, 1):
                    for m in JINJA.finditer(line):
                        yield os.path.relpath(path, ROOT), lineno, m.group(2)


def test_the_scan_finds_patterns():
    assert len(list(python_patterns())) > 15
    assert _dollar("^a$") and _dollar("(?=\\s|$)") and not _dollar("a\\Z")
    assert not _dollar("[$]") and not _dollar("\\$")


@pytest.mark.parametrize("where", ["python", "jinja"])
def test_no_pattern_anchors_with_dollar(where):
    found = python_patterns() if where == "python" else jinja_patterns()
    bad = ["%s:%d %r" % item for item in found if _dollar(item[2])]
    assert not bad, "use \\Z or fullmatch: " + "; ".join(bad)
