"""Test sessions of dockerguard.firewall (run them all with scripts/test.sh).

antsibull-nox.toml adds the sessions antsibull-nox provides (ansible-lint,
build-import-check). The ansible-test sessions are defined here instead of with
antsibull-nox's [sessions.ansible_test_*], because those always pass --docker and
need ansible-test's container images from a registry; here ansible-test runs in a
virtualenv per ansible-core version (--requirements), with the Python that core
supports. Integration, Molecule and Galaxy run the stage code of scripts/test.sh.

    nox -l                       every session
    nox -t sanity                sanity on every supported ansible-core
    nox -s units-2.21            one session
"""

import glob
import os
import shutil
import sys

import nox

try:
    import antsibull_nox
except ImportError:  # nox -l still lists the sessions below
    antsibull_nox = None
else:
    antsibull_nox.load_antsibull_nox_toml()

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from find_python import find_python as _find_python  # noqa: E402  pylint: disable=wrong-import-position
# The collection laid out as ansible_collections/dockerguard/firewall (scripts/layout.sh):
# ansible-test runs only inside such a tree.
TREE = os.path.join(ROOT, ".tmp", "ansible_collections", "dockerguard", "firewall")
OUT = os.path.join(ROOT, "tests", "output")

# The supported range (meta/runtime.yml, requirements.txt): each ansible-core pinned,
# with a controller Python it supports (2.20 and later need Python 3.12 or newer).
CORES = {
    "2.17": ("2.17.14", "3.11"),
    "2.18": ("2.18.19", "3.11"),
    "2.19": ("2.19.14", "3.11"),
    "2.20": ("2.20.10", "3.12"),
    "2.21": ("2.21.5", "3.13"),
}

# ansible-test bootstraps pip into each sanity virtualenv with a get-pip script it
# downloads from a host this machine cannot reach; it uses a cached copy when one
# exists. The stand-in installs the pip bundled with Python (ensurepip); the sanity
# requirements themselves then come from the package index as usual.
GET_PIP_STANDIN = r'''
import os, sys, types
from ansible_test._internal.python_requirements import get_venv_packages
pip = get_venv_packages(types.SimpleNamespace(version=sys.argv[1]))["pip"]
cache = os.path.expanduser("~/.ansible/test/cache/get_pip_%s.py" % pip.replace(".", "_"))
os.makedirs(os.path.dirname(cache), exist_ok=True)
with open(cache, "w", encoding="utf-8") as f:
    f.write('"""Stand-in for get-pip.py (written by noxfile.py): pip bundled with Python."""\n'
            "import ensurepip\nensurepip.bootstrap(upgrade=True)\n")
'''


def find_python(version):
    """A working python<version> (scripts/find_python.py, shared with scripts/setup.sh).

    When none is found, nox reports the missing interpreter and fails the session.
    """
    return _find_python(version) or "python" + version


def pins(*names):
    """name==version for each name, as pinned in requirements-test.txt."""
    pinned = {}
    with open(os.path.join(ROOT, "requirements-test.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pinned[name.lower().replace("_", "-")] = version
    return ["%s==%s" % (n, pinned[n.lower().replace("_", "-")]) for n in names]


def layout(session):
    """Lay the checkout out as a collection tree (fresh copy of the working tree)."""
    session.run("bash", "scripts/layout.sh", external=True, silent=True)


def add_core_sessions(core, pin, python):
    interpreter = find_python(python)

    @nox.session(name="sanity-" + core, python=interpreter, tags=["sanity"])
    def sanity(session):
        session.install("ansible-core==" + pin)
        layout(session)
        session.run("python", "-c", GET_PIP_STANDIN, python, silent=True)
        with session.chdir(TREE):
            session.run("ansible-test", "sanity", "--python", python, "--requirements", "--color", "no")
        shutil.rmtree(os.path.join(OUT, "sanity-" + core), ignore_errors=True)
        if os.path.isdir(os.path.join(TREE, "tests", "output")):
            shutil.copytree(os.path.join(TREE, "tests", "output"), os.path.join(OUT, "sanity-" + core))

    sanity.__doc__ = "ansible-test sanity with ansible-core %s on Python %s (no ignore file)." % (pin, python)

    @nox.session(name="units-" + core, python=interpreter, tags=["units"])
    def units(session):
        session.install("ansible-core==" + pin, *pins("pytest", "docker", "jmespath", "PyYAML"))
        session.run("python", "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider",
                    "--junitxml=%s/junit/units-%s.xml" % (OUT, core))

    units.__doc__ = "Unit tests (pytest tests/unit) with ansible-core %s on Python %s." % (pin, python)


for _core, (_pin, _python) in CORES.items():
    add_core_sessions(_core, _pin, _python)


@nox.session(python=find_python("3.11"), tags=["lint"])
def lint(session):
    """antsibull-changelog lint, shellcheck of the scripts, GitHub workflows against their schema."""
    session.install(*pins("antsibull-changelog", "check-jsonschema"))
    session.run("antsibull-changelog", "lint")
    scripts = sorted(glob.glob("scripts/**/*.sh", recursive=True)) + [".ci/run"]
    session.run("shellcheck", *scripts, external=True)
    workflows = sorted(glob.glob(".github/workflows/*.yml"))
    if not workflows:
        session.error("no workflow under .github/workflows/")
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)


def stage(name, doc):
    """A session that runs one stage of scripts/test.sh with the repository's .venv."""

    @nox.session(name=name, python=False, tags=[name])
    def run(session):
        session.run("bash", "scripts/test.sh", "--stage", name, external=True)

    run.__doc__ = doc


stage("integration", "pytest tests/integration: real iptables in network namespaces and lab nodes (root, Docker).")

# Integration and Molecule run on the newest core (the .venv); the oldest supported core
# gets a smoke stage: the integration tests marked `smoke` (facts, the exposure engine on a
# lab node, one policy apply in a namespace) with that core's ansible and ansible-playbook,
# in a virtualenv of its own. The ansible package of that core brings community.docker
# (the lab nodes' docker connection).
SMOKE_CORE, SMOKE_ANSIBLE = "2.17", "10.7.0"


@nox.session(name="smoke-" + SMOKE_CORE, python=find_python(CORES[SMOKE_CORE][1]), tags=["smoke"])
def smoke(session):
    session.install("ansible-core==" + CORES[SMOKE_CORE][0], "ansible==" + SMOKE_ANSIBLE,
                    *pins("pytest", "docker", "jmespath", "PyYAML"))
    session.run("bash", "scripts/test.sh", "--stage", "smoke", external=True,
                env={"DG_SMOKE_JUNIT": "smoke-" + SMOKE_CORE})


smoke.__doc__ = "The integration tests marked smoke with ansible-core %s on Python %s (root, Docker)." % (
    CORES[SMOKE_CORE][0], CORES[SMOKE_CORE][1])
stage("molecule", "molecule test for every scenario in molecule/ (root, Docker).")
stage("galaxy", "Build the collection, install the tarball, ansible-doc every module and filter from there.")
