"""Make the checkout importable as ansible_collections.dockerguard.firewall.

pytest runs from the repository root; module_utils are imported by their collection
path, so a link tree under .tmp/collections points that path at this checkout.
"""
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
COLLECTIONS = os.path.join(ROOT, ".tmp", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "dockerguard", "firewall")


def ensure_collection_path():
    """Create the link tree (once) and put it on sys.path."""
    if not os.path.islink(LINK):
        os.makedirs(os.path.dirname(LINK), exist_ok=True)
        os.symlink(ROOT, LINK)
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)


ensure_collection_path()


def pytest_configure(config):
    # scripts/test.sh's smoke stage runs these on the oldest supported ansible-core.
    config.addinivalue_line("markers", "smoke: a few integration tests for the older-core smoke stage "
                            "(facts, the exposure engine on a lab node and in playbook filters, one policy apply in a namespace)")
