"""Whether a firewalld reload removes what we wrote (plugins/module_utils/_firewalld.py),
read from firewalld's own files: the stock firewalld.conf of firewalld 2.5.2 (captured
from the node-forky-firewalld lab image) and variations of it."""
import os

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _firewalld as fw

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "..", "fixtures", "firewalld")
with open(os.path.join(FIXTURES, "firewalld-2.5.2.conf")) as _f:
    STOCK = _f.read()
DIRECT = """<?xml version="1.0" encoding="utf-8"?>
<direct>
  <!-- <rule ipv="ipv4" table="filter" chain="INPUT" priority="0">-j ACCEPT</rule> -->
  <rule ipv="ipv4" table="filter" chain="INPUT" priority="0">-p tcp --dport 9999 -j ACCEPT</rule>
  <passthrough ipv="ipv4">-t filter -I INPUT -j ACCEPT</passthrough>
</direct>
"""
EMPTY_DIRECT = '<?xml version="1.0" encoding="utf-8"?>\n<direct/>\n'


def test_stock_conf_parses():
    conf = fw.parse_conf(STOCK)
    assert conf["FirewallBackend"] == "nftables"
    assert conf["FlushAllOnReload"] == "yes"
    assert conf["NftablesTableOwner"] == "yes"
    assert conf["DefaultZone"] == "public"


def test_stock_firewalld_flushes_nothing_of_ours():
    assert fw.iptables_flush_cause(STOCK, None, (2, 5, 2)) is None
    assert fw.reload_warnings("iptables", "DOCKERGUARD", STOCK, None, (2, 5, 2)) == []
    assert fw.reload_warnings("nftables", "DOCKERGUARD", STOCK, None, (2, 5, 2)) == []


@pytest.mark.parametrize("setting", ["FlushAllOnReload=no", "FlushAllOnReload=yes",
                                     "NftablesTableOwner=no", "CleanupOnExit=no"])
def test_settings_that_flush_nothing_foreign(setting):
    conf = STOCK + "\n%s\n" % setting
    assert fw.iptables_flush_cause(conf, None, (2, 5, 2)) is None


def test_iptables_backend_flushes_the_iptables_tables():
    conf = STOCK.replace("FirewallBackend=nftables", "FirewallBackend=iptables")
    assert conf != STOCK
    assert fw.iptables_flush_cause(conf) == "FirewallBackend=iptables in /etc/firewalld/firewalld.conf"
    warnings = fw.reload_warnings("iptables", "DOCKERGUARD", conf)
    assert len(warnings) == 1
    assert "DOCKERGUARD" in warnings[0] and "FirewallBackend=iptables" in warnings[0]
    # our nftables table is never flushed by firewalld, whatever its backend
    assert fw.reload_warnings("nftables", "DOCKERGUARD", conf) == []


def test_direct_rules_flush_the_iptables_tables():
    assert fw.direct_entries(DIRECT) == 2          # the commented-out rule does not count
    assert fw.direct_entries(EMPTY_DIRECT) == 0
    assert fw.direct_entries(None) == 0
    cause = fw.iptables_flush_cause(STOCK, DIRECT, (2, 5, 2))
    assert cause.startswith("2 direct rule(s)")
    assert fw.iptables_flush_cause(STOCK, EMPTY_DIRECT, (2, 5, 2)) is None


def test_before_2_0_every_reload_flushes_the_iptables_tables():
    assert "firewalld 1.3.4" in fw.iptables_flush_cause(STOCK, None, (1, 3, 4))
    assert fw.iptables_flush_cause(STOCK, None, (2, 0, 0)) is None


def test_no_firewalld():
    assert fw.iptables_flush_cause(None) is None
    assert fw.reload_warnings("iptables", "DOCKERGUARD", None) == []


def test_version():
    assert fw.parse_version('COPYRIGHT = "x"\nVERSION = "2.5.2"\n') == (2, 5, 2)
    assert fw.parse_version('VERSION = "0.9"') == (0, 9, 0)
    assert fw.parse_version("nothing") is None


def test_read_host(tmp_path):
    conf = tmp_path / "firewalld.conf"
    direct = tmp_path / "direct.xml"
    pkg = tmp_path / "python3.13" / "dist-packages" / "firewall" / "config"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('VERSION = "1.2.0"\n')
    paths = dict(conf=str(conf), direct=str(direct),
                 version_files=(str(tmp_path / "python3*" / "*-packages" / "firewall" / "config" / "__init__.py"),))
    assert fw.read_host(**paths) == (None, None, None)          # no firewalld
    conf.write_text(STOCK)
    assert fw.read_host(**paths) == (STOCK, None, (1, 2, 0))
    direct.write_text(DIRECT)
    assert fw.host_reload_warnings("iptables", "DG", **paths)[0].count("direct rule") == 1
