# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host-wide lock of our own, held over a whole policy transaction.

The xtables lock serialises single iptables commands of the legacy backend only (and
iptables-nft ignores it); a policy transaction is several commands over two families:
read, plan, test, write, read back. Two runs interleaving there end with a duplicated
jump, or IPv4 of one policy and IPv6 of the other. So docker_user_policy,
host_input_policy, the boot program and the rollback timer all take this lock (an
``flock`` on ``LOCK_PATH``) around read -> plan -> apply -> read-back. The kernel drops
an ``flock`` when its holder dies, so a killed run never leaves it held.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import time

LOCK_PATH = "/run/dockerguard.lock"
# Waiting this long covers many queued runs (each holds it a second or two); a run
# waiting for a confirmation holds it for its rollback_timeout, which adds to this.
LOCK_WAIT = 120


class LockError(RuntimeError):
    """The lock could not be taken: another run held it too long, or no lock file."""


class HostLock(object):
    """``HostLock(path).acquire()`` then ``with lock:`` (releases it); path None: no lock."""

    def __init__(self, path=LOCK_PATH, timeout=LOCK_WAIT):
        self.path = path
        self.timeout = timeout
        self.fd = None

    def acquire(self):
        """Take the lock, waiting up to ``timeout`` seconds; raise LockError."""
        if self.path is None:
            return self
        try:
            d = os.path.dirname(self.path)
            if d and not os.path.isdir(d):
                os.makedirs(d, 0o755)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except (IOError, OSError) as exc:
            raise LockError("cannot open the lock file %s: %s: nothing changed" % (self.path, exc))
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    self.release()
                    raise LockError("cannot lock %s: %s: nothing changed" % (self.path, exc))
                if time.time() >= deadline:
                    holder = self._holder()
                    self.release()
                    raise LockError("another dockerguard run (pid %s) held %s for more than "
                                    "%d s: nothing changed" % (holder, self.path, self.timeout))
                time.sleep(0.1)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, ("%d\n" % os.getpid()).encode("ascii"))
        return self

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # releases the flock
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def _holder(self):
        try:
            return os.pread(self.fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        except (AttributeError, OSError):
            return "unknown"
