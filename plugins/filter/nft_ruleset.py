# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nft_ruleset filter: saved ``nft -j list ruleset`` output -> the nftables model.

The documentation is in nft_ruleset.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.dockerguard.firewall.plugins.plugin_utils._lazy_import import module_utils

_nftables = module_utils("_nftables")


def nft_ruleset(data):
    """The model of ``nft -j list ruleset`` output (JSON text, or data already decoded)."""
    if isinstance(data, str):
        data = str(data)        # Jinja hands over tagged / unsafe strings
    elif not isinstance(data, (dict, list, bytes)):
        raise AnsibleFilterError(
            "nft_ruleset expects the output of 'nft -j list ruleset' (text or decoded "
            "JSON), got %s" % type(data).__name__)
    try:
        return _nftables.parse(data)
    except _nftables.NftablesParseError as exc:
        raise AnsibleFilterError("nft_ruleset: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"nft_ruleset": nft_ruleset}
