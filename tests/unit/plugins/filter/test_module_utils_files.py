# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils_files: the files the roles copy for their boot program.

The boot program (roles/persist_policy, templates/apply.j2) imports ``_saved_policy``
from a copy of the files this filter lists, with ``python3 -I``: nothing else of the
collection is there. ``test_boot_program_imports_from_the_listed_files_alone`` does
exactly that in a temporary directory, so it fails when the list misses a file.
"""

from __future__ import absolute_import, division, print_function

import os
import shutil
import subprocess
import sys

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.filter.module_utils_files import (
    MODULE_UTILS, FilterModule, imported, module_utils_files)

LIB = os.path.join("ansible_collections", "dockerguard", "firewall", "plugins", "module_utils")
# What the boot program does (roles/persist_policy/templates/apply.j2), then its --help.
BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
        "from ansible_collections.dockerguard.firewall.plugins.module_utils._saved_policy "
        "import main; sys.exit(main(['--help'], config='/nonexistent'))")


def boot_program(tmp_path, files):
    """Copy ``files`` the way the role does and run the boot program's import, isolated."""
    lib = tmp_path / "lib"
    target = lib / LIB
    target.mkdir(parents=True)
    for name in files:
        shutil.copy(os.path.join(MODULE_UTILS, name), str(target / name))
    # -I: no PYTHONPATH, no current directory, no user site: only what was copied.
    return subprocess.run([sys.executable, "-I", "-c", BOOT, str(lib)], cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, check=False)


def test_saved_policy_and_what_it_imports():
    files = module_utils_files("_saved_policy")
    assert files[0] == "_saved_policy.py"
    assert sorted(files[1:]) == files[1:]
    assert {"_iptables.py", "_policy.py"} <= set(files)   # imported through others too
    assert all(os.path.isfile(os.path.join(MODULE_UTILS, f)) for f in files)
    assert module_utils_files("_saved_policy.py") == files
    assert FilterModule().filters()["module_utils_files"] is module_utils_files


def test_boot_program_imports_from_the_listed_files_alone(tmp_path):
    proc = boot_program(tmp_path, module_utils_files("_saved_policy"))
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


@pytest.mark.parametrize("missing", module_utils_files("_saved_policy")[1:])
def test_an_incomplete_list_breaks_the_boot_program(tmp_path, missing):
    """The check above can fail: leave out any one listed file and the import breaks."""
    files = [f for f in module_utils_files("_saved_policy") if f != missing]
    proc = boot_program(tmp_path, files)
    assert proc.returncode != 0
    # "No module named ..._x" or, for ``from PACKAGE import _x``, "cannot import name '_x'"
    assert "ImportError" in proc.stderr or "ModuleNotFoundError" in proc.stderr, proc.stderr
    assert missing[:-3] in proc.stderr


def test_import_forms(tmp_path):
    package = "ansible_collections.dockerguard.firewall.plugins.module_utils"
    (tmp_path / "_a.py").write_text(
        "import os\n"
        "from %s._b import x\n"
        "from %s import _c, _d\n"
        "import %s._e as e\n"
        "from . import _f\n"
        "from ._g import y\n"
        "from ansible.module_utils.basic import AnsibleModule\n"
        "def late():\n"
        "    from %s._h import z\n" % (package, package, package, package))
    assert imported(str(tmp_path / "_a.py")) == {"_b", "_c", "_d", "_e", "_f", "_g", "_h"}
    for name in "bcdefgh":
        (tmp_path / ("_%s.py" % name)).write_text("")
    (tmp_path / "_b.py").write_text("from %s._i import w\n" % package)
    (tmp_path / "_i.py").write_text("from %s._a import v\n" % package)   # a cycle
    assert module_utils_files("_a", str(tmp_path)) == [
        "_a.py", "_b.py", "_c.py", "_d.py", "_e.py", "_f.py", "_g.py", "_h.py", "_i.py"]


def test_unknown_name_is_refused():
    with pytest.raises(AnsibleFilterError, match="'_nosuch' is not a module_utils file"):
        module_utils_files("_nosuch")
