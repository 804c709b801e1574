# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a firewalld reload remove what we wrote? Read from firewalld's own files.

What firewalld (0.6 to 2.5, read in its source, ``src/firewall/core/fw.py`` and
``nftables.py``) flushes on start, on ``firewall-cmd --reload`` and on stop
(``CleanupOnExit``):

- its nftables backend only ever deletes its own tables (``inet firewalld`` and, during a
  reload, ``inet firewalld_policy_drop``). No setting makes it flush another nftables
  table or the whole ruleset: a table of ours (the nftables backend) survives every
  reload. ``FlushAllOnReload`` is about firewalld's own runtime configuration (interface
  bindings, direct rules), ``NftablesTableOwner`` marks firewalld's own table as owned
  (others cannot change it); neither touches other tables.
- its iptables "direct" backends flush every iptables table (``-F``, ``-X``, ``-Z`` on
  filter, nat, mangle, raw, security): with ``FirewallBackend=iptables``; with the
  nftables backend while direct rules, chains or passthroughs exist (firewalld 2.0 and
  later skip the flush otherwise); and always before 2.0. That removes the chain the
  iptables backend writes and its jump from DOCKER-USER (Docker puts its own chains back
  when firewalld reloads, not ours) until the module or the boot program runs again.

``reload_warnings`` turns the files into warnings for the backend that was applied; it
reads only the permanent configuration (runtime-only direct rules are not seen).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import re

CONF = "/etc/firewalld/firewalld.conf"
DIRECT = "/etc/firewalld/direct.xml"
# firewalld's version, without starting its (slow) command line: its Python package.
VERSION_FILES = ("/usr/lib/python3*/*-packages/firewall/config/__init__.py",
                 "/usr/lib64/python3*/*-packages/firewall/config/__init__.py")


def parse_conf(text):
    """firewalld.conf text -> {KEY: value} (``KEY=value`` lines, ``#`` comments; the last wins)."""
    conf = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        conf[key.strip()] = value.strip().strip('"').strip("'")
    return conf


def direct_entries(xml_text):
    """How many rules, chains and passthroughs a direct.xml declares."""
    if not xml_text:
        return 0
    text = re.sub(r"(?s)<!--.*?-->", "", xml_text)
    return len(re.findall(r"<\s*(?:rule|chain|passthrough)\b", text))


def parse_version(text):
    """``VERSION = "2.5.2"`` in firewall/config/__init__.py -> (2, 5, 2), or None."""
    m = re.search(r"""(?m)^VERSION\s*=\s*["'](\d+)\.(\d+)(?:\.(\d+))?""", text or "")
    return tuple(int(p or 0) for p in m.groups()) if m else None


def iptables_flush_cause(conf_text, direct_text=None, version=None):
    """Why this firewalld flushes every iptables table on reload, or None.

    ``conf_text`` None means firewalld is not installed (no firewalld.conf).
    """
    if conf_text is None:
        return None
    backend = parse_conf(conf_text).get("FirewallBackend", "nftables").lower()
    if backend == "iptables":
        return "FirewallBackend=iptables in %s" % CONF
    entries = direct_entries(direct_text)
    if entries:
        return "%d direct rule(s), chain(s) or passthrough(s) in %s" % (entries, DIRECT)
    if version is not None and version < (2, 0, 0):
        return "firewalld %s (before 2.0 every reload flushes the iptables tables)" % (
            ".".join(str(v) for v in version))
    return None


def reload_warnings(backend, chain, conf_text, direct_text=None, version=None):
    """Warnings for the backend that was applied (``iptables`` or ``nftables``)."""
    if backend != "iptables":
        return []  # firewalld deletes only its own nftables tables
    cause = iptables_flush_cause(conf_text, direct_text, version)
    if cause is None:
        return []
    return ["firewalld flushes every iptables table when it starts, reloads "
            "(firewall-cmd --reload) or stops here (%s): that removes our chain %s and its "
            "jump until this module or the boot program runs again. firewalld never "
            "touches other nftables tables: backend=nftables is not affected." % (cause, chain)]


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        return None


def read_host(conf=CONF, direct=DIRECT, version_files=VERSION_FILES):
    """(firewalld.conf text or None, direct.xml text or None, version or None) of this host."""
    conf_text = _read(conf)
    if conf_text is None:
        return None, None, None
    version = None
    for pattern in version_files:
        for path in sorted(glob.glob(pattern)):
            version = parse_version(_read(path))
            if version:
                break
        if version:
            break
    return conf_text, _read(direct), version


def host_reload_warnings(backend, chain, **paths):
    """``reload_warnings`` for this host's files (see ``read_host``)."""
    return reload_warnings(backend, chain, *read_host(**paths))
