#!/usr/bin/env bash
# Build the lab images without a registry (see docs/lab.md), each only when missing:
#   svc:local             busybox-static service image (httpd, nc, sh, sleep)
#   node-<suite>:local    fleet node: python3 (+ Docker SDK), iptables, dockerd
#                         (bookworm=20.10, forky=28.5)
#   node-forky-firewalld:local  the forky node plus firewalld, dbus and nftables (docs/lab.md 3c)
# An image carries a label with its recipe; a cached image whose recipe changed is rebuilt.
# Usage: scripts/lab/images.sh [svc] [bookworm] [forky] [forky-firewalld] ...
#        (default: svc bookworm forky)
set -euo pipefail
want=("$@"); [ ${#want[@]} -gt 0 ] || want=(svc bookworm forky)

mirror() {  # the machine's own apt mirror, never written into the project
  awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    || grep -hoE '^deb +[^ ]+' /etc/apt/sources.list | awk '{print $2; exit}'
}

# What a node image holds; change it and cached node images are rebuilt once.
NODE_PACKAGES=python3,python3-docker,iptables,iproute2,procps,ca-certificates,conntrack

have() {  # have IMAGE [RECIPE]: the image exists (with that recipe label, when given)
  local got
  got=$(docker image inspect -f '{{ index .Config.Labels "dockerguard.recipe" }}' "$1" 2>/dev/null) || return 1
  [ -z "${2:-}" ] || [ "$got" = "$2" ]
}

build_svc() {
  have svc:local && return 0
  local d; d=$(mktemp -d)
  mkdir -p "$d/bin"
  cp /bin/busybox "$d/bin/busybox"
  for a in httpd sh nc sleep cat echo ls ip; do ln -s busybox "$d/bin/$a"; done
  tar -C "$d" -c . | docker import -c 'CMD ["/bin/sh"]' - svc:local >/dev/null
  rm -rf "$d"
}

build_node() {
  local suite=$1 img="node-$1:local"
  local extra=docker.io
  [ "$suite" = bookworm ] || extra=docker.io,docker-cli
  local recipe="$NODE_PACKAGES,$extra"
  have "$img" "$recipe" && return 0
  # Debian 12's debootstrap has no script for newer suites yet; sid's fits them all.
  local script=/usr/share/debootstrap/scripts/$suite
  [ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
  local root; root=$(mktemp -d /var/tmp/rootfs-"$suite".XXXX)
  debootstrap --variant=minbase \
    --include="$recipe" \
    "$suite" "$root" "$(mirror)" "$script" >"/var/tmp/debootstrap-$suite.log" 2>&1 \
    || { tail -20 "/var/tmp/debootstrap-$suite.log"; rm -rf "$root"; return 1; }
  tar -C "$root" -c . | docker import -c "LABEL dockerguard.recipe=$recipe" - "$img" >/dev/null
  rm -rf "$root"
}

# What the firewalld node adds to its base node image.
FIREWALLD_PACKAGES=firewalld,dbus,nftables

build_firewalld() {  # the node image of a suite plus firewalld, installed with apt inside it
  local suite=$1 base="node-$1:local" img="node-$1-firewalld:local"
  build_node "$suite"
  local recipe; recipe="$(docker image inspect -f '{{ index .Config.Labels "dockerguard.recipe" }}' "$base"),$FIREWALLD_PACKAGES"
  have "$img" "$recipe" && return 0
  local name="dg-build-firewalld-$suite-$$"
  docker rm -f "$name" >/dev/null 2>&1 || true
  # forky's Release file on the mirror can be expired: do not let apt refuse it.
  docker run --name "$name" "$base" sh -c \
    "apt-get -o Acquire::Check-Valid-Until=false update -qq \
     && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        ${FIREWALLD_PACKAGES//,/ } >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*" \
    >"/var/tmp/firewalld-$suite.log" 2>&1 \
    || { tail -20 "/var/tmp/firewalld-$suite.log"; docker rm -f "$name" >/dev/null; return 1; }
  docker commit -c "LABEL dockerguard.recipe=$recipe" -c "CMD [\"/bin/sh\"]" "$name" "$img" >/dev/null
  docker rm -f "$name" >/dev/null
}

for w in "${want[@]}"; do
  case $w in
    svc) build_svc ;;
    *-firewalld) build_firewalld "${w%-firewalld}" ;;
    *) build_node "$w" ;;
  esac
  echo "lab image ready: $w"
done
