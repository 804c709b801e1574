"""The detached rollback timer with real processes (the undo command writes a file
instead of calling iptables-restore; the real kernel is in tests/integration)."""
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils._rollback_timer import (
    ConfirmError, RollbackTimer)


def undo_into(path):
    return [(["sh", "-c", "cat > %s" % path], "put back\n")]


def test_unusable_settings_are_refused_before_anything(tmp_path):
    with pytest.raises(ConfirmError, match="confirm_file is empty"):
        RollbackTimer("", 8).check()
    with pytest.raises(ConfirmError, match="cannot be used"):
        RollbackTimer("/proc/dockerguard/confirm", 8).check()
    RollbackTimer(str(tmp_path / "d" / "confirm"), 8).check()  # creates the directory
    assert (tmp_path / "d").is_dir()


def test_no_confirmation_rolls_back(tmp_path):
    timer = RollbackTimer(str(tmp_path / "confirm"), 1)
    timer.check()
    timer.arm(undo_into(tmp_path / "undone"), ())
    started = time.time()
    assert timer.wait() == (False, [])
    assert 1 <= time.time() - started < 5
    assert (tmp_path / "undone").read_text() == "put back\n"
    assert sorted(os.listdir(tmp_path)) == ["undone"]


def test_confirmation_keeps_the_change(tmp_path):
    confirm = tmp_path / "confirm"
    timer = RollbackTimer(str(confirm), 30)
    timer.arm(undo_into(tmp_path / "undone"), ())
    subprocess.Popen(["sh", "-c", "while [ ! -e %s.applied ]; do sleep 0.1; done; touch %s"
                      % (confirm, confirm)])
    assert timer.wait() == (True, [])
    assert os.listdir(tmp_path) == []


ARM_THEN_DIE = """
import sys, time
sys.path[:0] = sys.argv[1:2]
from ansible_collections.dockerguard.firewall.plugins.module_utils._rollback_timer import RollbackTimer
t = RollbackTimer(sys.argv[2], 1)
t.arm([(["sh", "-c", "cat > " + sys.argv[3]], "put back\\n")], ())
open(sys.argv[2] + ".applied", "w").close()
time.sleep(60)
"""


def test_the_rollback_outlives_a_killed_module(tmp_path):
    """As Ansible's async timeout does: the module's whole process group is killed."""
    import ansible_collections
    root = os.path.dirname(list(ansible_collections.__path__)[0])
    module = subprocess.Popen([sys.executable, "-c", ARM_THEN_DIE, root, str(tmp_path / "confirm"),
                               str(tmp_path / "undone")], start_new_session=True)
    time.sleep(0.5)
    os.killpg(module.pid, 9)
    module.wait()
    for dummy in range(50):
        if (tmp_path / "undone").exists() and not (tmp_path / "confirm.applied").exists():
            break
        time.sleep(0.1)
    assert (tmp_path / "undone").read_text() == "put back\n"
    time.sleep(0.3)
    assert sorted(os.listdir(tmp_path)) == ["undone"]  # no stale marker nor verdict
