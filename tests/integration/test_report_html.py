# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's HTML in a real browser: Debian's chromium, headless.

The report is made by the collection's own code (audit + render) from the unit tests'
host model (a real Docker 20.10 capture, with and without a DOCKER-USER allow-list, and a
host-network service behind INPUT rules). Chromium loads it from a file with networking
cut off (every host name resolves to nothing), and:

- ``--dump-dom``: the DOM it built has the summary table, one ``tr.port-row`` per
  published port with its verdict, a section per host and a path diagram per probe;
- ``--screenshot``: the page paints - the PNG (decoded here) holds the report's colours:
  the red of an unexpected verdict, the green of an expected one, the header's dark blue.
  The PNG stays in tests/output/report/ for a person to look at.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_render as render

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit", "plugins", "module_utils"))
import audit_model as lab  # noqa: E402

OUT = os.path.join(ROOT, "tests", "output", "report")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND"]
INPUT_9090 = ["-s 10.99.0.0/16 -p tcp -m tcp --dport 9090 -j ACCEPT",
              "-p tcp -m tcp --dport 9090 -j DROP"]
COLOURS = {"unexpected": (0xfd, 0xec, 0xea), "expected": (0xe8, 0xf5, 0xe9),
           "header": (0x1c, 0x24, 0x30)}


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    return None


def run_chromium(args, profile, timeout=120):
    argv = [chromium()] + FLAGS + ["--user-data-dir=%s" % profile] + args
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          check=False, universal_newlines=True)
    assert proc.returncode == 0, "chromium failed (rc=%d): %s" % (proc.returncode, proc.stderr[-2000:])
    return proc.stdout


def png_pixels(path):
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG (what chromium writes): (w, h, rows)."""
    with open(path, "rb") as fh:
        data = fh.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, ctype, _c, _f, interlace = header
    assert depth == 8 and ctype in (2, 6) and interlace == 0, header
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _y in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def colour_counts(path, colours, step=2):
    width, height, bpp, rows = png_pixels(path)
    counts = dict((k, 0) for k in colours)
    for y in range(0, height, step):
        row = rows[y]
        for x in range(0, width * bpp, bpp * step):
            px = (row[x], row[x + 1], row[x + 2])
            for name, want in colours.items():
                if all(abs(p - w) <= 3 for p, w in zip(px, want)):
                    counts[name] += 1
    return counts


@pytest.fixture(scope="module")
def page():
    reports = [
        audit.audit_host(lab.ruleset(input_rules=INPUT_9090), lab.docker(host_network=True),
                         lab.EXPECTED, lab.SOURCES, host="restricted"),
        audit.audit_host(lab.ruleset(allow_list=False), lab.docker(), lab.EXPECTED,
                         lab.SOURCES, host="open"),
        audit.audit_host(lab.ruleset(), lab.docker(), [{"ports": [8080], "from": "anywhere"}],
                         host="strict"),
    ]
    if not os.path.isdir(OUT):
        os.makedirs(OUT)
    path = os.path.join(OUT, "index.html")
    with open(path, "w") as fh:
        fh.write(render.render_html(reports, generated="test run"))
    profile = tempfile.mkdtemp(prefix="dg-chromium-")
    try:
        yield {"path": path, "reports": reports, "profile": profile}
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_dom_has_a_row_per_published_port(page):
    dom = run_chromium(["--dump-dom", "file://" + page["path"]], page["profile"])
    assert "<title>Docker exposure audit</title>" in dom
    rows = re.findall(r'<tr class="port-row" data-host="([^"]+)" data-port="([^"]+)" '
                      r'data-verdict="([^"]+)">', dom)
    want = [(rep["host"], r["port"], r["verdict"]) for rep in page["reports"] for r in rep["rows"]]
    assert sorted(rows) == sorted(want)
    assert len(rows) == 4
    assert ("open", "8080/tcp", "unexpected") in rows
    assert ("restricted", "8080/tcp", "expected") in rows
    assert ("restricted", "9090/tcp", "unexpected") in rows
    assert ("strict", "8080/tcp", "expected") in rows
    assert len(re.findall(r'<tr data-host="', dom)) == 3  # the summary grid
    assert dom.count('<section class="host"') == 3
    probes = sum(len(r["probes"]) for rep in page["reports"] for r in rep["rows"])
    assert dom.count('<div class="path">') == probes


def test_screenshot_paints_the_verdict_colours(page):
    shot = os.path.join(OUT, "index.png")
    if os.path.exists(shot):
        os.remove(shot)
    run_chromium(["--window-size=1280,1600", "--hide-scrollbars", "--screenshot=%s" % shot,
                  "file://" + page["path"]], page["profile"])
    width, height, _bpp, _rows = png_pixels(shot)
    assert (width, height) == (1280, 1600)
    counts = colour_counts(shot, COLOURS)
    assert counts["header"] > 2000, counts    # the dark title bar
    assert counts["unexpected"] > 200, counts  # red verdict cells
    assert counts["expected"] > 200, counts    # green verdict cells
