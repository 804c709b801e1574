"""The host-wide lock with real processes and a real flock (a lock file of the test's own)."""
import subprocess
import time

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils._host_lock import (
    HostLock, LockError)


def test_a_held_lock_makes_the_next_run_wait_then_give_up_naming_the_holder(tmp_path):
    path = str(tmp_path / "run" / "dockerguard.lock")
    with HostLock(path).acquire():
        holder = open(path).read().strip()
        started = time.time()
        with pytest.raises(LockError, match="pid %s" % holder):
            HostLock(path, timeout=0.5).acquire()
        assert 0.5 <= time.time() - started < 3
    with HostLock(path, timeout=0.5).acquire():  # released on leaving the block
        pass


def test_a_killed_holder_never_leaves_it_held(tmp_path):
    path = str(tmp_path / "dockerguard.lock")
    proc = subprocess.Popen(["flock", "-o", path, "sleep", "30"])
    time.sleep(0.3)
    with pytest.raises(LockError):
        HostLock(path, timeout=0.2).acquire()
    proc.kill()
    proc.wait()
    with HostLock(path, timeout=2).acquire():
        pass


def test_an_unusable_lock_path_is_an_error_before_anything():
    with pytest.raises(LockError, match="cannot open the lock file"):
        HostLock("/proc/dockerguard.lock").acquire()
    with HostLock(None).acquire():
        pass
