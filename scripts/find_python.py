"""Find a working python<X.Y>: the one way the test setup looks for a Python version.

Used by noxfile.py (each session's interpreter) and by scripts/setup.sh (the .venv's):

    python3 scripts/find_python.py 3.13      prints the path, or exits 1

Candidates, in order: $DG_PYTHON, pyenv's versions (`pyenv root`), python<X.Y> on PATH.
pyenv shims pick a version by directory and may fail for one that is not enabled, so
each candidate is asked for its real version (and for venv and ensurepip, which a
virtualenv needs) instead of trusting its name.
"""

import glob
import os
import shutil
import subprocess
import sys

CHECK = "import sys, venv, ensurepip; assert '%d.%d' % sys.version_info[:2] == sys.argv[1]; print(sys.executable)"


def candidates(version):
    """The paths that may be a python<version>, best first."""
    cands = [os.environ["DG_PYTHON"]] if os.environ.get("DG_PYTHON") else []
    try:
        proot = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        proot = ""
    if proot:
        cands += sorted(glob.glob(os.path.join(proot, "versions", version + ".*", "bin", "python" + version)), reverse=True)
    cands += [c for c in (shutil.which("python" + version),) if c]
    return cands


def find_python(version):
    """The real executable of a working python<version>, or None."""
    for cand in candidates(version):
        try:
            real = subprocess.run([cand, "-c", CHECK, version], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
        if real:
            return real
    return None


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: find_python.py X.Y")
    found = find_python(argv[1])
    if not found:
        sys.exit("no Python %s with venv and ensurepip (pyenv, PATH; or set DG_PYTHON)" % argv[1])
    print(found)


if __name__ == "__main__":
    main(sys.argv)
