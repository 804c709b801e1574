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
    assert len(re.findall(r'<tr class="grid-row" data-host="', dom)) == 3  # the summary grid
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


# --- at scale: 50 hosts x 20 ports, sorted and filtered by the page's own script ---------

ROW = re.compile(r'<tr class="port-row" data-host="([^"]+)" data-port="([^"]+)" '
                 r'data-verdict="([^"]+)"( hidden="")?>')


def visible_rows(dom):
    """[(host, port, verdict)] of the published-port rows not hidden, in page order."""
    return [m.group(1, 2, 3) for m in ROW.finditer(dom) if not m.group(4)]


@pytest.fixture(scope="module")
def fleet_page(page):
    reports = lab.synthetic_fleet(50, 20)
    path = os.path.join(OUT, "fleet-50x20.html")
    with open(path, "w") as fh:
        fh.write(render.render_html(reports, generated="test run"))
    return {"path": path, "url": "file://" + path, "reports": reports, "profile": page["profile"]}


def dump(fleet_page, query="", extra=(), path=None):
    url = "file://" + (path or fleet_page["path"]) + (("?" + query) if query else "")
    return run_chromium(["--dump-dom"] + list(extra) + [url], fleet_page["profile"])


def test_fleet_page_without_filters_shows_every_row(fleet_page):
    dom = dump(fleet_page)
    assert 'data-report-js="ready"' in dom               # the script ran to its end
    rows = visible_rows(dom)
    assert len(rows) == 1000 and len(set(rows)) == 1000
    assert "1000 of 1000 published port rows shown" in dom
    assert '<form id="filters">' in dom                   # shown by the script


def test_fleet_page_filters_by_verdict_and_host_and_sorts_by_port(fleet_page):
    dom = dump(fleet_page, "verdict=unexpected&host=node07&sort=port&dir=desc")
    want = sorted(((rep["host"], r["port"], r["verdict"]) for rep in fleet_page["reports"]
                   for r in rep["rows"] if rep["host"] == "node07" and r["verdict"] == "unexpected"),
                  key=lambda x: -int(x[1].split("/")[0]))
    assert 0 < len(want) < 20
    assert visible_rows(dom) == want
    assert "%d of 1000 published port rows shown" % len(want) in dom
    # the summary grid keeps node07's row only; the other hosts' sections are hidden
    assert re.findall(r'<tr class="grid-row" data-host="([^"]+)">', dom) == ["node07"]
    sections = re.findall(r'<section class="host" id="[^"]+" data-host="([^"]+)" data-status="[^"]+">', dom)
    assert sections == ["node07"]
    assert 'aria-sort="descending"' in dom


def test_fleet_page_filters_by_port_and_sorts_by_host(fleet_page):
    dom = dump(fleet_page, "port=8005&sort=host&dir=desc")
    rows = visible_rows(dom)
    assert [r[1] for r in rows] == ["8005/tcp"] * 50
    assert [r[0] for r in rows] == ["node%02d" % h for h in range(49, -1, -1)]
    # the grid shows the 8005 column only
    heads = re.search(r'<table id="summary"><thead><tr>(.*?)</tr>', dom).group(1)
    assert re.findall(r'<th>([^<]+)</th>', heads) == ["host", "8005/tcp"]


def test_fleet_page_without_script_shows_everything(fleet_page, tmp_path):
    """The page with its script taken out, as a browser without script shows it
    (headless chromium's --dump-dom and --screenshot need script themselves): every row
    visible, no dead filter form, the verdict colours painted."""
    with open(fleet_page["path"]) as fh:
        html = fh.read()
    bare = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    assert bare != html and "<script" not in bare
    path = tmp_path / "noscript.html"
    path.write_text(bare)
    dom = dump(fleet_page, "verdict=unexpected", path=str(path))
    assert len(visible_rows(dom)) == 1000
    assert '<form id="filters" hidden="">' in dom
    shot = os.path.join(OUT, "fleet-50x20-noscript.png")
    run_chromium(["--window-size=1400,1800", "--hide-scrollbars", "--screenshot=%s" % shot,
                  "file://%s" % path], fleet_page["profile"])
    counts = colour_counts(shot, COLOURS)
    assert counts["header"] > 2000 and counts["unexpected"] > 200, counts


def test_a_broken_script_fails_these_checks(fleet_page, tmp_path):
    """The checks above see what the script does: with the script broken they fail."""
    with open(fleet_page["path"]) as fh:
        html = fh.read()
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace("function apply() {", "function apply() { nosuchfunction();"))
    dom = dump(fleet_page, "verdict=unexpected&host=node07", path=str(broken))
    assert len(visible_rows(dom)) == 1000 and 'data-report-js="ready"' not in dom


def test_fleet_page_screenshot(fleet_page):
    shot = os.path.join(OUT, "fleet-50x20.png")
    if os.path.exists(shot):
        os.remove(shot)
    run_chromium(["--window-size=1400,1800", "--hide-scrollbars", "--screenshot=%s" % shot,
                  fleet_page["url"] + "?verdict=unexpected"], fleet_page["profile"])
    counts = colour_counts(shot, COLOURS)
    assert counts["header"] > 2000, counts
    assert counts["unexpected"] > 200, counts
