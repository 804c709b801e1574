"""What a firewalld reload really flushes, on a real firewalld 2.5.2 node, against what
``_firewalld`` reads from its files (issue 12).

A node-forky-firewalld lab node (firewalld, then Docker 28.5, ``iptables+firewalld``)
holds an iptables chain of its own jumped to from DOCKER-USER (as the iptables backend
writes) and an nftables table of its own (as the nftables backend writes). For each
firewalld configuration, applied in this order:

- ``stock``: firewalld.conf as Debian ships it (FirewallBackend=nftables, no direct rules);
- ``flush-all-no``: ``FlushAllOnReload=no`` and ``NftablesTableOwner=no`` (the settings
  whose names suggest flushing or ownership);
- ``direct-rule``: a permanent direct rule (``firewall-cmd --permanent --direct``);
- ``iptables-backend``: ``FirewallBackend=iptables`` (direct rule removed);

a first ``firewall-cmd --reload`` to take the change in (firewalld decides what to flush
from the configuration it runs), our chain and table written, a second reload, then: is
our iptables chain still there, is our nftables
table still there, and does ``_firewalld.host_reload_warnings`` (run in the node, on the
node's files) warn exactly when the chain was flushed? Run under ``flock /tmp/dg-lab.lock``.
"""
import json
import os
import time

import pytest

from tests.lab.engine import docker, docker_unavailable, missing_images, wait_for
from tests.lab.node import FIREWALLD_BOOT, FIREWALLD_IMAGE, node_exec, start_node, stop_node

from ansible_collections.dockerguard.firewall.plugins.module_utils import _firewalld

NODE = "dg-it-fwflush-%d" % os.getpid()
CHAIN = "DGPROBE"
TABLE = "inet dgprobe"
CONF = "/etc/firewalld/firewalld.conf"
OURS = """
iptables -N %(chain)s 2>/dev/null; iptables -F %(chain)s
iptables -A %(chain)s -m comment --comment "dockerguard: probe" -j RETURN
iptables -C DOCKER-USER -j %(chain)s 2>/dev/null || iptables -I DOCKER-USER -j %(chain)s
nft -f - <<'NFT'
table %(table)s
delete table %(table)s
table %(table)s {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    counter comment "dockerguard: probe"
  }
}
NFT
""" % {"chain": CHAIN, "table": TABLE}
DETECT = """
import json, sys
sys.path.insert(0, "/tmp")
import _firewalld
print(json.dumps(_firewalld.host_reload_warnings("iptables", "%s")))
""" % CHAIN


def setting(key, value):
    return "sed -i -e '/^%s=/d' %s && echo %s=%s >> %s" % (key, CONF, key, value, CONF)


CONFIGS = [
    ("stock", None, False),
    ("flush-all-no", setting("FlushAllOnReload", "no") + " && " + setting("NftablesTableOwner", "no"),
     False),
    ("direct-rule", "firewall-cmd --permanent --direct --add-rule ipv4 filter INPUT 0 "
                    "-p tcp --dport 9999 -j ACCEPT", True),
    ("iptables-backend", "firewall-cmd --permanent --direct --remove-rule ipv4 filter INPUT 0 "
                         "-p tcp --dport 9999 -j ACCEPT && " + setting("FirewallBackend", "iptables"),
     True),
]


def sh(script, check=True):
    return node_exec(NODE, "sh", "-c", script, check=check).stdout


@pytest.fixture(scope="module")
def node():
    why = docker_unavailable() or missing_images([FIREWALLD_IMAGE, "svc:local"])
    if why:
        pytest.skip(why)
    try:
        start_node(NODE, FIREWALLD_IMAGE, boot=FIREWALLD_BOOT)
        wait_for(lambda: node_exec(NODE, "iptables", "-S", "DOCKER-USER", check=False).returncode == 0,
                 timeout=90, what="DOCKER-USER in %s" % NODE)
        docker("cp", _firewalld.__file__, "%s:/tmp/_firewalld.py" % NODE)
        yield NODE
    finally:
        stop_node(NODE)


def reload_firewalld():
    sh("firewall-cmd --reload")
    # Docker puts its own chains back when firewalld says it reloaded.
    wait_for(lambda: "DOCKER-USER" in sh("iptables -S DOCKER-USER 2>&1", check=False)
             and "-N DOCKER-USER" in sh("iptables -S DOCKER-USER", check=False),
             timeout=60, what="Docker's chains after the reload")
    time.sleep(1)


@pytest.mark.parametrize("name,change,flushes", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_detection_equals_what_a_reload_flushes(node, name, change, flushes):
    if change:
        sh(change)
        # The flush a reload does is decided by the running configuration (read before
        # the reload): a first reload takes the change in, the next one is measured.
        reload_firewalld()
    sh(OURS)
    assert "-j %s" % CHAIN in sh("iptables -S DOCKER-USER")
    reload_firewalld()
    chain_left = node_exec(node, "iptables", "-S", CHAIN, check=False).returncode == 0
    jump_left = "-j %s" % CHAIN in sh("iptables -S DOCKER-USER")
    table_left = node_exec(node, "nft", "list", "table", *TABLE.split(), check=False).returncode == 0
    warnings = json.loads(node_exec(node, "python3", "-c", DETECT).stdout)
    print("%s: iptables chain %s, jump %s, nftables table %s; warnings %s" % (
        name, "kept" if chain_left else "FLUSHED", "kept" if jump_left else "FLUSHED",
        "kept" if table_left else "FLUSHED", warnings))
    assert table_left, "%s: firewalld removed a foreign nftables table" % name
    assert chain_left == jump_left == (not flushes), name
    assert bool(warnings) == flushes, warnings
