#!/usr/bin/env bash
# Install everything the demo and the test suite need on a Debian 12 machine (root, no
# systemd). Idempotent: each step checks first and does nothing when already done.
#
#   scripts/setup.sh [--no-docker] [--no-images]
#
#   1. apt packages (only when one is missing: then apt-get update + install)
#   2. .venv in the repository (Python 3.13), from the pinned requirements-test.txt
#      (re-installed only when that file or the base Python changes)
#   3. dockerd started in the background when `docker info` fails     (--no-docker skips)
#   4. lab images via scripts/lab/images.sh (cached: skips existing ones) (--no-images skips)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

want_docker=1
want_images=1
for arg in "$@"; do
  case $arg in
    --no-docker) want_docker=0; want_images=0 ;;
    --no-images) want_images=0 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, dockerd and the network-namespace tests need it)"

# --- 1. apt packages --------------------------------------------------------------
packages=(iptables ipset debootstrap busybox-static conntrack iproute2 git rsync shellcheck
          python3-venv ca-certificates curl procps util-linux)
# docker.io brings dockerd; a machine that already has a Docker engine (e.g. docker-ce)
# keeps it: installing docker.io beside it would conflict.
command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
# The tests (not the demo) open the HTML fleet report in Debian's headless chromium.
[ "$want_images" = 1 ] && packages+=(chromium)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  log "apt packages present"
fi

# --- 2. virtualenv ----------------------------------------------------------------
# The .venv runs the integration and Molecule stages on the newest supported
# ansible-core, pinned in requirements-test.txt; ansible-core 2.21 needs Python 3.12+.
# scripts/find_python.py is the one way of finding a Python (the nox sessions use it
# too); any python3 can run it.
VENV_PYTHON=3.13
venv=$ROOT/.venv
req=$ROOT/requirements-test.txt
venv_ok() {
  [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" -c 'import sys; assert "%d.%d" % sys.version_info[:2] == sys.argv[1]' "$VENV_PYTHON" 2>/dev/null
}
if ! venv_ok; then
  py=""
  for runner in python3 /usr/bin/python3 python; do
    py=$("$runner" scripts/find_python.py "$VENV_PYTHON" 2>/dev/null) && break
  done
  [ -n "$py" ] || die "no Python $VENV_PYTHON with venv/ensurepip found (pyenv, PATH; or set DG_PYTHON=/path/to/python$VENV_PYTHON)"
  log "creating .venv with $py"
  rm -rf "$venv"
  "$py" -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want_stamp=$( { sha256sum "$req" | cut -d' ' -f1; "$venv/bin/python" -c 'import sys; print(sys.version)'; } )
if [ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]; then
  log "pip install -r requirements-test.txt (log: .tmp/pip-install.log)"
  mkdir -p "$ROOT/.tmp"
  "$venv/bin/python" -m pip install --disable-pip-version-check -r "$req" \
    >"$ROOT/.tmp/pip-install.log" 2>&1 ||
    { tail -n 40 "$ROOT/.tmp/pip-install.log" >&2; die "pip install failed"; }
  printf '%s\n' "$want_stamp" >"$stamp"
else
  log ".venv up to date"
fi

# --- 3. Docker engine -------------------------------------------------------------
if [ "$want_docker" = 1 ]; then
  if docker info >/dev/null 2>&1; then
    log "docker engine running"
  else
    mkdir -p "$ROOT/.tmp"
    log "starting dockerd in the background (log: .tmp/dockerd.log)"
    # setsid: own session, so the daemon outlives this script and its job's signals.
    setsid dockerd >"$ROOT/.tmp/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && break
      sleep 1
    done
    docker info >/dev/null 2>&1 || { tail -n 30 "$ROOT/.tmp/dockerd.log" >&2; die "dockerd did not come up in 60 s"; }
    log "docker engine up"
  fi
fi

# --- 4. lab images ----------------------------------------------------------------
if [ "$want_images" = 1 ]; then
  bash "$ROOT/scripts/lab/images.sh"
fi
log "done"
