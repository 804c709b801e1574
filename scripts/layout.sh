#!/usr/bin/env bash
# Lay out .tmp/ansible_collections/dockerguard/firewall as a COPY of the checkout's
# files (tracked, and untracked but not ignored). ansible-test needs a real
# ansible_collections/<namespace>/<name> tree (a symlink resolves back to the checkout),
# and a fresh copy means deleted or ignored files never leak into lint, sanity or build.
#
# The collections galaxy.yml depends on (community.docker) are copied beside it from
# the `ansible` package in .venv, so sanity's import tests and playbooks resolve them
# offline.
#
#   scripts/layout.sh        prints the collection tree's path on its last line
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
COLL_ROOT=$ROOT/.tmp/ansible_collections
DEST=$COLL_ROOT/dockerguard/firewall
PY=$ROOT/.venv/bin/python

rm -rf "$COLL_ROOT"
mkdir -p "$DEST"

# Existing paths only: a tracked file deleted in the work tree is not copied.
git ls-files -z --cached --others --exclude-standard --deduplicate |
  while IFS= read -r -d '' f; do
    if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
  done |
  rsync -a --from0 --files-from=- ./ "$DEST/"

# A repository of its own (nothing committed): ansible-test and ansible-lint ask git
# for the file list (tracked + untracked-not-ignored), and would otherwise walk up to
# the checkout's repository, in which this ignored tree has no files at all.
git -C "$DEST" init -q

# Dependencies, from the ansible package installed in the venv.
"$PY" - "$DEST/galaxy.yml" "$COLL_ROOT" <<'EOF'
import os, shutil, sys
import yaml
import ansible_collections

galaxy, coll_root = sys.argv[1], sys.argv[2]
with open(galaxy, encoding="utf-8") as f:
    deps = (yaml.safe_load(f) or {}).get("dependencies") or {}
bases = list(ansible_collections.__path__)
for fqcn in deps:
    ns, name = fqcn.split(".", 1)
    for base in bases:
        src = os.path.join(base, ns, name)
        if os.path.isdir(src) and os.path.realpath(src) != os.path.realpath(os.path.join(coll_root, ns, name)):
            shutil.copytree(src, os.path.join(coll_root, ns, name), symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
            break
    else:
        sys.exit(f"layout: dependency {fqcn} is not in the venv's ansible package")
EOF

echo "$DEST"
