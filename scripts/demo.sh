#!/usr/bin/env bash
# The README's first command: set everything up, then run the collection's main job on
# an embedded default. For now that is: gather this host's iptables / ip6tables state
# with dockerguard.firewall.iptables_facts and print a summary (playbooks/facts.yml).
# Read-only: nothing on the host's firewall changes.
#
#   scripts/demo.sh [ansible-playbook options...]      e.g. scripts/demo.sh -v
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# The Docker engine runs so that its chains (DOCKER-USER, ...) show up; the lab images
# are for the tests only.
bash scripts/setup.sh --no-images
export PATH="$ROOT/.venv/bin:$PATH"
bash scripts/layout.sh >/dev/null

echo
echo "==> ansible-playbook dockerguard.firewall.facts   (this host, read-only)"

ANSIBLE_COLLECTIONS_PATH="$ROOT/.tmp" \
ANSIBLE_CALLBACK_RESULT_FORMAT=yaml \
ANSIBLE_LOCALHOST_WARNING=false \
ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
  exec ansible-playbook dockerguard.firewall.facts "$@"
