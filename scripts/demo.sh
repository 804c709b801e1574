#!/usr/bin/env bash
# The README's first command: the problem and its fix on a real Docker host, end to end.
#
#   1. set up: apt packages, .venv, dockerd, the lab images (scripts/setup.sh, cached)
#   2. a lab node (Docker inside Docker, molecule/shared/create.yml) and two probe
#      clients: "allowed" (.10) and "denied" (.20) on a lab network in 10.250.64.0/18
#   3. on the node: `docker run -p 8080:80 web` - published, restricted by nothing
#   4. audit (dockerguard.firewall.audit, expecting 8080 from the allowed client only):
#      8080 is EXPOSED to the denied client, with the packet's path rule by rule; the
#      audit fails the host - and a real request from the denied client gets through
#   5. enforce a DOCKER-USER allow-list (dockerguard.firewall.enforce_docker_user): first
#      --check (the predicted exposure before -> after), then for real, then the audit
#      again: filtered for the denied client - and real requests agree
#   6. the fleet report: .tmp/demo/report/index.html (self-contained HTML), report.md and
#      bookworm.json; then the lab node and clients are removed (also on failure or ^C)
#
# Nothing changes on this machine's own firewall: every rule is written inside the lab
# node. A few minutes on a fresh machine (image build), well under a minute when cached.
#
#   scripts/demo.sh [--keep]     --keep leaves the lab node running at the end
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

keep=0
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

B='' R='' D='' N=''
if [ -t 1 ]; then B=$'\e[1m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'; fi
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
note() { printf '%s    %s%s\n' "$D" "$*" "$N"; }
start=$(date +%s)

step "Set up (apt packages, .venv, dockerd, lab images svc + node-bookworm; cached after the first run)"
bash scripts/setup.sh --no-images
bash scripts/lab/images.sh svc bookworm
export PATH="$ROOT/.venv/bin:$PATH"
bash scripts/layout.sh >/dev/null

# The demo's lab: its own id (names dg-mol-demo-*), one node of the shared fleet.
export DG_MOL_LAB_ID=demo
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.tmp"
export ANSIBLE_CALLBACK_RESULT_FORMAT=yaml ANSIBLE_DISPLAY_SKIPPED_HOSTS=false
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
export ANSIBLE_DEPRECATION_WARNINGS=false ANSIBLE_PIPELINING=true
DEMO=$ROOT/.tmp/demo
INV=$DEMO/inventory
REPORT=$DEMO/report
rm -rf "$INV" "$REPORT"
mkdir -p "$INV/group_vars"
ln -s "$ROOT/molecule/shared/inventory.py" "$INV/hosts.py"
cat >"$INV/group_vars/all.yml" <<'EOF'
---
lab_scenario_nodes: [bookworm]
EOF
cat >"$INV/group_vars/lab_nodes.yml" <<EOF
---
# The node is reached with docker exec, as root: no become.
ansible_become: false
# The audit: 8080 is meant for the allowed client only; probe from both clients.
exposure_audit_expected:
  - {name: web, ports: [8080], from: ["{{ lab_clients.allowed.address }}"]}
exposure_audit_sources:
  - {name: allowed, address: "{{ lab_clients.allowed.address }}"}
  - {name: denied, address: "{{ lab_clients.denied.address }}"}
exposure_audit_report_dir: $REPORT
# The fix: a DOCKER-USER allow-list for 8080 (persistence needs an init; the node has none).
docker_user_entries:
  - {name: web, ports: [8080], allow: ["{{ lab_clients.allowed.address }}"]}
docker_user_persist: false
EOF

# The lab's names and addresses, from the shared fleet definition.
read -r NODE ADDRESS ALLOWED ALLOWED_IP DENIED DENIED_IP < <(python "$INV/hosts.py" --list | python -c '
import json, sys
inv = json.load(sys.stdin)
node, clients = inv["_meta"]["hostvars"]["bookworm"], inv["all"]["vars"]["lab_clients"]
print(node["ansible_host"], node["lab_address"], clients["allowed"]["name"],
      clients["allowed"]["address"], clients["denied"]["name"], clients["denied"]["address"])')

cleanup() {
  local rc=$?
  if [ "$keep" = 1 ]; then
    note "--keep: the lab is still running (remove it: DG_MOL_LAB_ID=demo ansible-playbook -i $INV molecule/shared/destroy.yml)"
  else
    step "Clean up: remove the lab node, the clients and the lab network"
    ansible-playbook -i "$INV" molecule/shared/destroy.yml >"$DEMO/destroy.log" 2>&1 ||
      echo "cleanup failed: see $DEMO/destroy.log" >&2
    docker ps -a --filter label=dg-mol=demo --format '{{.Names}}' | grep -q . &&
      echo "left over: $(docker ps -a --filter label=dg-mol=demo --format '{{.Names}}')" >&2
  fi
  exit $rc
}
trap cleanup EXIT

probe() {  # real requests from both clients to the node's 8080
  python -m tests.lab probe "$ADDRESS" 8080 "$ALLOWED,$DENIED" | python -c '
import json, sys
names = dict(zip(sys.argv[1:3], ("allowed", "denied")))
for r in json.load(sys.stdin):
    mark = "\033[31mREACHED\033[0m" if r["reached"] else "\033[32mnot reached\033[0m"
    if not sys.stdout.isatty():
        mark = "REACHED" if r["reached"] else "not reached"
    print("    real request from %-8s (%s) -> %s:8080: %s (%s, %.1f s)" % (
        names[r["client"]], r["client"], sys.argv[3], mark, r["detail"], r["seconds"]))
' "$ALLOWED" "$DENIED" "$ADDRESS"
}

step "Start a lab node (Docker 20.10 inside Docker) and the probe clients"
ansible-playbook -i "$INV" molecule/shared/destroy.yml >"$DEMO/destroy.log" 2>&1 || true
ansible-playbook -i "$INV" molecule/shared/create.yml >"$DEMO/create.log" 2>&1 ||
  { tail -n 30 "$DEMO/create.log"; exit 1; }
note "node $NODE at $ADDRESS; clients allowed $ALLOWED_IP, denied $DENIED_IP (log: .tmp/demo/create.log)"
if ! docker exec "$NODE" python3 -c 'import docker, requests' 2>/dev/null; then
  note "copying the Docker SDK for Python into the node (its image predates python3-docker)"
  python -m tests.lab install-sdk "$NODE" >/dev/null
fi

step "On the node: docker run -d --name web -p 8080:80 svc:local httpd   (published, nothing restricts it)"
docker exec "$NODE" docker run -d --name web -p 8080:80 svc:local httpd -f -p 80 -h / >/dev/null
for _ in $(seq 1 20); do
  python -m tests.lab probe "$ADDRESS" 8080 "$ALLOWED" | grep -q '"reached": true' && break
  sleep 0.5
done

step "Audit: ansible-playbook dockerguard.firewall.audit   (8080 is expected from $ALLOWED_IP only)"
if ansible-playbook -i "$INV" -l bookworm dockerguard.firewall.audit; then
  echo "${R}the audit passed, but 8080 is open to everyone: the demo is broken${N}" >&2
  exit 1
fi
note "The audit FAILED the host, as it should: the denied client reaches 8080 - through"
note "nat PREROUTING's DNAT and filter FORWARD, never INPUT. Real traffic agrees:"
probe

step "Enforce a DOCKER-USER allow-list, check mode first: enforce_docker_user --check"
ansible-playbook -i "$INV" -l bookworm dockerguard.firewall.enforce_docker_user --check
note "The prediction above: the policy's rules evaluated on the node's current ruleset."

step "Enforce it for real, then audit again: ansible-playbook dockerguard.firewall.enforce_docker_user"
ansible-playbook -i "$INV" -l bookworm dockerguard.firewall.enforce_docker_user
note "The audit passed: the denied client is filtered in DOCKERGUARD (jumped to from DOCKER-USER)."
note "Real traffic agrees:"
probe

step "The fleet report"
echo "    ${B}$REPORT/index.html${N}   (self-contained HTML: open it in a browser)"
echo "    $REPORT/report.md"
echo "    $REPORT/bookworm.json"
note "demo done in $(( $(date +%s) - start )) s"
