# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module imported when first used.

To find one filter of a collection, ansible-core imports every filter file of the
collection, and it does so again in every worker process (one per host and task). A
filter file that imports the exposure engine at the top makes every task that uses any
of our filters pay for the whole engine on every host: about 0.1 s of CPU each, most of a
fleet audit's controller time. Our heavy filter files import their logic through this.
"""

from __future__ import annotations

import importlib


class LazyModule(object):
    """Stands for the module ``name``; the first attribute read imports it."""

    def __init__(self, name):
        self._name = name
        self._module = None

    def __getattr__(self, attr):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def module_utils(name):
    """This collection's ``plugins/module_utils/<name>``, imported when first used."""
    return LazyModule("ansible_collections.dockerguard.firewall.plugins.module_utils." + name)
