# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's command line, for playbooks and scripts (run from the repository root)::

    python -m tests.lab probe ADDRESS[,ADDRESS...] PORT[,PORT...] CLIENT[,CLIENT...]
        a JSON list, one object per (address, client, port), all probed at once: probe
        ("client -> address:port"),
        client, port, reached, seconds, detail, summary
    python -m tests.lab install-sdk NODE
        copies the controller's pure-Python Docker SDK into a lab node; prints its version
    python -m tests.lab capture OUTDIR [20.10|28.5 ...]
        real docker_network_facts fixtures (tests/fixtures/docker/README.md)
"""

from __future__ import absolute_import, division, print_function

import json
import sys

from tests.lab.node import install_sdk
from tests.lab.probe import report
from tests.lab.scenario import capture_fixtures


def main(argv):
    if len(argv) == 4 and argv[0] == "probe":
        print(json.dumps(report(argv[1].split(","), argv[2].split(","), argv[3].split(",")),
                         indent=1, sort_keys=True))
    elif len(argv) == 2 and argv[0] == "install-sdk":
        print(install_sdk(argv[1]))
    elif len(argv) >= 2 and argv[0] == "capture":
        capture_fixtures(argv[1], argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
