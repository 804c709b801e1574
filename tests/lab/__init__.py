# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test lab, once, for pytest, Molecule and the benches (docs/lab.md).

Real Docker engines and real traffic on this machine's docker engine, through the
``docker`` CLI:

==============  ===================================================================
``engine``      ``LabError``, ``docker()`` / ``run()`` (the CLI, checked), ``wait_for``,
                ``Engine`` (one engine's CLI that removes what it created), preflight
``node``        fleet nodes: ``NODE_FLAGS`` (docs/lab.md section 3, the one copy; Molecule's
                create.yml gets them through ``fleet``), ``start_node``, dockerd
                stop / start / restart, ``wait_published``, ``install_sdk``
``probe``       real traffic from a client container: ``probe``, ``probe_many``,
                ``ProbeLoop``
``fleet``       the Molecule fleet (its inventory script is a two-line wrapper)
``reliability`` ``Lab``: one node, its own dual-stack network and clients, Ansible on it
``scenario``    the containers of each kind the docker_network_facts tests start
==============  ===================================================================

Import it as ``tests.lab`` with the repository root on ``sys.path``: pytest puts it
there (the root conftest.py), ``python -m tests.lab ...`` / ``python -m bench.NAME``
run from the root do too, Molecule's verifier gets it from ``PYTHONPATH`` (each
molecule.yml), and the one program Ansible starts on its own, the inventory script
``molecule/shared/inventory.py``, adds it itself. ``python -m tests.lab`` is the
command line (``probe``, ``install-sdk``, ``capture``) for playbooks and scripts.

Names carry a prefix per user (``dg-mol-``, ``dg-rel-``, ``dg-it-docker-``, ``dg-gt-``)
and the lab id of ``fleet.lab_id``; addresses stay in 10.250.0.0/16 and fd00:250::/48.
"""
