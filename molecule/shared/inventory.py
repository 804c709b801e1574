#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Molecule lab fleet as an Ansible inventory script: tests/lab/fleet.py says what.

Each scenario links to this file from its inventory directory
(``molecule/<scenario>/inventory/hosts.py -> ../../shared/inventory.py``).

    inventory.py --list | --host NAME
"""

from __future__ import absolute_import, division, print_function

import os
import sys

# Ansible starts this file as a program of its own, from any directory, so nothing has
# put the repository root on sys.path: this is the one place outside pytest and
# ``python -m`` that does (the link is resolved: this file's real place is
# <root>/molecule/shared/).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))

from tests.lab.fleet import main  # noqa: E402  pylint: disable=wrong-import-position

if __name__ == "__main__":
    sys.exit(main(sys.argv))
