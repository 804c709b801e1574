# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real traffic from a probe client container (busybox ``nc``, docs/lab.md section 4).

- ``probe(client, address, port)``: one HTTP request;
- ``probe_many``: several at once (a dropped probe costs its whole timeout);
- ``ProbeLoop``: probes over and over in a thread while something happens (a restart, a
  boot) to catch a window of exposure that before/after probes cannot.
"""

from __future__ import absolute_import, division, print_function

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.lab.engine import docker, wait_for

REQUEST = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w %d %s %d"


def probe(client, address, port, timeout=2):
    """Send one HTTP request from ``client`` to ``address:port``.

    Returns ``{"reached": bool, "seconds": float, "detail": str}``; ``reached`` means an
    HTTP status line came back (busybox httpd answers 404 for ``/``, which still proves
    the port is reachable).
    """
    start = time.time()
    proc = docker("exec", client, "sh", "-c", REQUEST % (timeout, address, int(port)),
                  check=False, timeout=timeout + 30)
    seconds = round(time.time() - start, 2)
    out = proc.stdout.strip()
    reached = out.startswith("HTTP/")
    detail = out.splitlines()[0] if out else (proc.stderr.strip() or "rc=%d" % proc.returncode)
    return {"reached": reached, "seconds": seconds, "detail": detail}


def probe_many(jobs, timeout=2):
    """``jobs``: iterable of (client, address, port). Returns {job: result}, run at once."""
    jobs = list(jobs)
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        results = list(pool.map(lambda j: probe(j[0], j[1], j[2], timeout), jobs))
    return dict(zip(jobs, results))


def report(address, ports, clients):
    """Every client to every port of ``address`` (one, or a list: all probed at once): a
    list of results with a ``summary``."""
    addresses = [address] if isinstance(address, str) else list(address)
    jobs = [(c, a, int(p)) for a in addresses for c in clients for p in ports]
    results = probe_many(jobs)
    out = []
    for job in jobs:
        r = dict(results[job], client=job[0], port=job[2], probe="%s -> %s:%d" % job)
        r["summary"] = "%s: %s in %.2f s (%s)" % (
            r["probe"], "reached" if r["reached"] else "NOT reached", r["seconds"], r["detail"])
        out.append(r)
    return out


class ProbeLoop(object):
    """Probe ``client -> address:port`` over and over in a thread while a block runs.

    ``with ProbeLoop(...) as loop: ...``; afterwards ``loop.results`` lists every probe
    (with ``at``, seconds since the start), ``loop.reached`` those that got an answer.
    """

    def __init__(self, client, address, port, timeout=1, pause=0.1):
        self.args = (client, address, port, timeout)
        self.pause = pause
        self.results = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.daemon = True

    def _run(self):
        start = time.time()
        while not self._stop.is_set():
            result = probe(*self.args)
            result["at"] = round(time.time() - start, 2)
            result["time"] = time.time()
            self.results.append(result)
            self._stop.wait(self.pause)

    @property
    def reached(self):
        return [r for r in self.results if r["reached"]]

    def wait_reached(self, since=0, timeout=30):
        """Wait for a probe sent after ``since`` (a time.time()) that got an answer."""
        wait_for(lambda: [r for r in self.reached if r["time"] - r["seconds"] >= since],
                 timeout=timeout, what="%s to reach %s:%s" % self.args[:3])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)
        return False
