#!/usr/bin/env bash
# THE test command (README; .ci/run calls exactly this). Sets everything up
# (scripts/setup.sh: apt packages, .venv from the pinned requirements-test.txt with nox
# and antsibull-nox), then runs the nox sessions (noxfile.py, antsibull-nox.toml) of
# each stage; nox prints each session's result and time:
#
#   lint         sessions lint (antsibull-changelog lint, shellcheck, the GitHub
#                workflows against their schema) and ansible-lint (production profile)
#   sanity       sanity-2.17 ... sanity-2.21: ansible-test sanity per ansible-core
#   unit         units-2.17 ... units-2.21: pytest tests/unit per ansible-core
#   integration  pytest tests/integration    (root + docker; real iptables in netns),
#                on the newest ansible-core (the .venv: 2.21 on Python 3.13)
#   smoke        smoke-2.17: the integration tests marked `smoke` (facts, the exposure
#                engine on a lab node and in the audit filters, one policy apply in a
#                netns) with ansible-core 2.17's ansible-playbook, in a nox
#                virtualenv of its own (Python 3.11)
#   molecule     molecule test, for every molecule/*/molecule.yml
#   galaxy       build-import-check (build + galaxy-importer), then galaxy: build,
#                install of the tarball into a temporary path + ansible-doc of every
#                module and filter from there
#
#   scripts/test.sh                  every stage
#   scripts/test.sh unit sanity      only these (in the order above)
#   scripts/test.sh --stage NAME     the stage code itself (integration, smoke, molecule,
#                                    galaxy), as the nox session of that name runs it
#
# Every session runs even when an earlier one failed; the exit status is non-zero when
# any failed. Reports land in tests/output/ (junit XML for pytest, sanity results).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD

ALL_STAGES=(lint sanity unit integration smoke molecule galaxy)
VENV=$ROOT/.venv
OUT=$ROOT/tests/output
COLL_PARENT=$ROOT/.tmp                      # holds ansible_collections/
TREE=$COLL_PARENT/ansible_collections/dockerguard/firewall

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
header() { printf '\n==================== %s ====================\n' "$*"; }

# --- stage code run by the nox sessions of the same name (--stage NAME) --------
# pytest over a directory (at most 30 minutes: CI stops at 90). Exit 5 (nothing collected) fails for unit tests; for
# integration it fails only when test files exist but nothing was collected.
run_pytest() {
  local name=$1 dir=$2 rc
  if [ "$name" != unit ] && [ -z "$(find "$dir" -name 'test_*.py' 2>/dev/null)" ]; then
    echo "$name: no test files under $dir yet"
    return 0
  fi
  timeout -k 30 1800 python -m pytest "$dir" -ra -p no:cacheprovider --junitxml="$OUT/junit/$name.xml"
  rc=$?
  if [ $rc -eq 5 ]; then echo "$name: pytest collected no tests: FAILED" >&2; return 1; fi
  return $rc
}


stage_integration() {
  [ "$(id -u)" -eq 0 ] || { echo "integration tests need root" >&2; return 1; }
  docker info >/dev/null 2>&1 || { echo "integration tests need a running docker engine" >&2; return 1; }
  run_pytest integration tests/integration
}

# The smoke stage runs in the smoke-2.17 session's virtualenv (first on PATH): its python,
# ansible and ansible-playbook are the old core's. Every selected test must run: a skip
# (no lab image, no netns) fails the stage instead of passing it with nothing proven.
stage_smoke() {
  local junit=$OUT/junit/${DG_SMOKE_JUNIT:-smoke}.xml rc
  [ "$(id -u)" -eq 0 ] || { echo "smoke tests need root" >&2; return 1; }
  docker info >/dev/null 2>&1 || { echo "smoke tests need a running docker engine" >&2; return 1; }
  echo "smoke: $(command -v ansible-playbook): $(ansible-playbook --version | head -n 1)"
  timeout -k 30 900 python -m pytest tests/integration -m smoke -ra -p no:cacheprovider --junitxml="$junit"
  rc=$?
  [ $rc -eq 0 ] || return $rc
  python - "$junit" <<'PY'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
tests, skipped = int(suite.get("tests")), int(suite.get("skipped"))
if tests == 0 or skipped:
    sys.exit("smoke: %d tests, %d skipped: every smoke test must run" % (tests, skipped))
PY
}

stage_molecule() {
  local rc=0 n=0 f scenario
  for f in "$TREE"/molecule/*/molecule.yml; do
    [ -e "$f" ] || continue
    scenario=$(basename "$(dirname "$f")")
    n=$((n + 1))
    echo "--- molecule scenario: $scenario (at most 20 minutes)"
    # MOLECULE_GLOB: the scenarios stay in the top-level molecule/ (molecule would
    # otherwise warn that a collection's scenarios belong in extensions/molecule/).
    (cd "$TREE" && ANSIBLE_COLLECTIONS_PATH=$COLL_PARENT MOLECULE_GLOB='molecule/*/molecule.yml' \
      timeout -k 60 1200 molecule test --scenario-name "$scenario") || {
      echo "molecule scenario $scenario FAILED" >&2; rc=1; }
  done
  [ $n -gt 0 ] || echo "molecule: no scenarios under molecule/ yet"
  return $rc
}

stage_galaxy() {
  local dist=$ROOT/.tmp/dist inst tarball rc=0
  rm -rf "$dist"; mkdir -p "$dist"
  (cd "$TREE" && ansible-galaxy collection build --output-path "$dist") || return 1
  tarball=$(ls "$dist"/dockerguard-firewall-*.tar.gz) || return 1
  echo "built ${tarball#"$ROOT"/} ($(du -h "$tarball" | cut -f1), $(tar -tzf "$tarball" | wc -l) entries)"
  if tar -tzf "$tarball" | grep -E '^(\./)?(tests|scripts|molecule|bench|\.tmp|\.venv|\.git|\.github|\.nox)/|^(\./)?noxfile\.py$'; then
    echo "the tarball carries the files above, which galaxy.yml's build_ignore should drop" >&2
    rc=1
  fi

  inst=$(mktemp -d "$ROOT/.tmp/galaxy-install.XXXX")
  # --offline: no Galaxy server is reachable; the dependency (community.docker) is
  # already installed with the ansible package in the venv.
  if ! ANSIBLE_COLLECTIONS_PATH=$inst ansible-galaxy collection install --offline -p "$inst" "$tarball"; then
    rm -rf "$inst"; return 1
  fi
  local installed=$inst/ansible_collections/dockerguard/firewall
  [ -f "$installed/MANIFEST.json" ] || { echo "installed collection has no MANIFEST.json" >&2; rc=1; }

  # Every module and filter renders with ansible-doc from the installed copy (run from
  # a neutral directory, with only the install path configured).
  adoc() { (cd / && ANSIBLE_COLLECTIONS_PATH=$inst ansible-doc "$@"); }
  local -a files listed
  mapfile -t files < <(find "$installed/plugins/modules" -name '*.py' ! -name '__init__.py' \
    -printf 'dockerguard.firewall.%f\n' 2>/dev/null | sed 's/\.py$//' | sort)
  mapfile -t listed < <(adoc -t module -l dockerguard.firewall -j | python -c 'import json, sys
raw = sys.stdin.read().strip()
print("\n".join(sorted(json.loads(raw))) if raw else "")')
  if [ "${files[*]}" != "${listed[*]}" ]; then
    echo "ansible-doc lists modules [${listed[*]}], plugins/modules has [${files[*]}]" >&2
    rc=1
  fi
  [ ${#files[@]} -gt 0 ] || { echo "no modules in the installed collection" >&2; rc=1; }
  local -a entries=()
  local name type
  for name in "${files[@]}"; do entries+=("module:$name"); done
  while IFS= read -r name; do [ -n "$name" ] && entries+=("filter:$name"); done < <(
    adoc -t filter -l dockerguard.firewall -j | python -c 'import json, sys
raw = sys.stdin.read().strip()
print("\n".join(sorted(json.loads(raw))) if raw else "")')
  for entry in "${entries[@]}"; do
    type=${entry%%:*} name=${entry#*:}
    if adoc -t "$type" -j "$name" | python -c '
import json, sys
name, installed = sys.argv[1], sys.argv[2]
raw = sys.stdin.read()
if not raw.strip():
    sys.exit("%s: ansible-doc printed no documentation" % name)
doc = (json.loads(raw).get(name) or {}).get("doc") or {}
assert doc.get("short_description"), "%s: no short_description" % name
where = doc.get("filename", "")
assert where.startswith(installed + "/"), "%s: rendered from %s" % (name, where)
' "$name" "$installed" && adoc -t "$type" "$name" >/dev/null; then
      echo "ansible-doc -t $type $name: ok"
    else
      echo "ansible-doc -t $type $name: FAILED" >&2
      rc=1
    fi
  done
  rm -rf "$inst"
  return $rc
}

# The host's own firewall must come out of integration and molecule untouched (docs/lab.md
# §5: tests write rules only in lab nodes or network namespaces of their own). Docker
# edits FORWARD and its own chains as containers come and go, so compare what only a
# stray test would change: INPUT and OUTPUT, and every builtin chain's policy.
host_firewall() {
  local cmd table
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null 2>&1 || continue
    for table in filter nat mangle raw; do
      "$cmd" -w -t "$table" -S 2>/dev/null | grep -E '^-P |^-A (INPUT|OUTPUT) ' | sed "s/^/$cmd -t $table /"
    done
  done
}

# --stage NAME: one stage's code, in the .venv that setup built (nox calls this).
if [ "${1:-}" = --stage ]; then
  name=${2:-}
  case $name in integration | smoke | molecule | galaxy) ;;
    *) echo "test.sh: --stage takes integration, smoke, molecule or galaxy, not '$name'" >&2; exit 2 ;;
  esac
  # smoke keeps its session's virtualenv first on PATH (the old core); the others use .venv.
  [ "$name" = smoke ] || export PATH="$VENV/bin:$PATH"
  export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
  mkdir -p "$OUT"
  bash scripts/layout.sh >/dev/null || { echo "layout FAILED" >&2; exit 1; }
  rc=0
  [ "$name" = galaxy ] || host_firewall >"$ROOT/.tmp/host-firewall.before.$name"
  "stage_$name" || rc=1
  if [ "$name" != galaxy ]; then
    host_firewall >"$ROOT/.tmp/host-firewall.after.$name"
    if ! diff -u "$ROOT/.tmp/host-firewall.before.$name" "$ROOT/.tmp/host-firewall.after.$name"; then
      echo "$name changed the host's own firewall (diff above): tests must use lab nodes or netns" >&2
      rc=1
    fi
  fi
  exit $rc
fi

selected=()
if [ $# -eq 0 ]; then
  selected=("${ALL_STAGES[@]}")
else
  for arg in "$@"; do
    case " ${ALL_STAGES[*]} " in
      *" $arg "*) ;;
      *) echo "test.sh: unknown stage '$arg' (stages: ${ALL_STAGES[*]})" >&2; exit 2 ;;
    esac
  done
  for s in "${ALL_STAGES[@]}"; do   # keep the canonical order
    for arg in "$@"; do [ "$arg" = "$s" ] && selected+=("$s") && break; done
  done
fi
wants() { case " ${selected[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

# --- setup ------------------------------------------------------------------------
header "setup"
t0=$(now)
setup_args=()
# The lab images and the Docker engine are for integration and molecule only.
if ! wants integration && ! wants smoke && ! wants molecule; then setup_args=(--no-docker); fi
if ! bash scripts/setup.sh "${setup_args[@]}"; then
  echo "setup FAILED after $(elapsed "$t0") s" >&2
  exit 1
fi
echo "setup: $(elapsed "$t0") s"

export PATH="$VENV/bin:$PATH"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
mkdir -p "$OUT"

# --- sessions ---------------------------------------------------------------------
# The nox sessions of each selected stage, in the canonical order (nox -l lists them).
sessions=()
for s in "${selected[@]}"; do
  case $s in
    lint) sessions+=(lint ansible-lint) ;;
    sanity) for v in 2.17 2.18 2.19 2.20 2.21; do sessions+=("sanity-$v"); done ;;
    unit) for v in 2.17 2.18 2.19 2.20 2.21; do sessions+=("units-$v"); done ;;
    smoke) sessions+=(smoke-2.17) ;;
    galaxy) sessions+=(build-import-check galaxy) ;;
    *) sessions+=("$s") ;;
  esac
done
header "nox: ${sessions[*]}"
# --reuse-venv yes: a session's virtualenv is kept between runs; its pinned packages
# are still installed each time (a no-op when present). nox goes on after a failed
# session and prints every session's result and time at the end. A Python that a
# session needs and that is missing fails it (nox would skip it outside CI).
nox --reuse-venv yes --no-color --error-on-missing-interpreters -s "${sessions[@]}"
