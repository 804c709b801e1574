"""Benchmark: the fleet report at 50 hosts x 20 published ports (issue 16).

The host reports are synthetic (``audit_model.synthetic_fleet``: rows copied from real
audits of the unit tests' host - unexpected, expected and filtered ports with their
probes and packet paths - renumbered; every third host with a drift). Measured:

  render    - _exposure_render.render_html and render_markdown (median of --repeat)
  size      - the HTML page and the Markdown, in bytes
  chromium  - when Debian's chromium is installed: the wall time of headless
              ``chromium --dump-dom`` on the page with a filter in the query string
              (load, parse, the script's filter and sort, the DOM written out), minus the
              same for an empty page (chromium's own start), median of --repeat; and the
              rows the filter left visible (checked against the reports)

Run from the repository root: python -m bench.bench_report_html [--hosts 50] [--ports 20]
Writes the page to tests/output/report/bench-fleet.html.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

# the collection's import path
import conftest  # noqa: F401  pylint: disable=unused-import
from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_render as render
from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "output", "report")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND"]
ROW = re.compile(r'<tr class="port-row" data-host="[^"]+" data-port="[^"]+" '
                 r'data-verdict="([^"]+)"( hidden="")?>')


def timed(func, repeat):
    times, result = [], None
    for _round in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def chromium_dump(browser, url, profile):
    proc = subprocess.run([browser] + FLAGS + ["--user-data-dir=" + profile, "--dump-dom", url],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, check=True,
                          universal_newlines=True)
    return proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--ports", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    reports = audit_model.synthetic_fleet(args.hosts, args.ports)
    made = time.perf_counter() - start
    rows = sum(len(r["rows"]) for r in reports)
    print("fleet: %d hosts x %d ports = %d rows, %d probes (made in %.2f s)" % (
        len(reports), args.ports, rows, sum(len(x["probes"]) for r in reports for x in r["rows"]), made))

    html_s, page = timed(lambda: render.render_html(reports, generated="bench"), args.repeat)
    md_s, md = timed(lambda: render.render_markdown(reports, generated="bench"), args.repeat)
    for name, seconds, text in (("html", html_s, page), ("markdown", md_s, md)):
        size = len(text.encode("utf-8"))
        print("render %-8s  %.3f s, %d bytes (%.1f MB)" % (name, seconds, size, size / 1e6))
    if not os.path.isdir(OUT):
        os.makedirs(OUT)
    path = os.path.join(OUT, "bench-fleet.html")
    with open(path, "w") as fh:
        fh.write(page)

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        print("chromium: not installed, load time not measured")
        return 0
    profile = tempfile.mkdtemp(prefix="dg-bench-chromium-")
    empty = os.path.join(profile, "empty.html")
    with open(empty, "w") as fh:
        fh.write("<!DOCTYPE html><title>empty</title>")
    try:
        host = reports[len(reports) // 2]["host"]
        query = "?verdict=unexpected&host=%s&sort=port&dir=desc" % host
        base_s, _dom = timed(lambda: chromium_dump(browser, "file://" + empty, profile), args.repeat)
        load_s, dom = timed(lambda: chromium_dump(browser, "file://" + path + query, profile),
                            args.repeat)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    shown = [m.group(1) for m in ROW.finditer(dom) if not m.group(2)]
    want = sum(1 for r in reports if r["host"] == host for x in r["rows"] if x["verdict"] == "unexpected")
    print("chromium --dump-dom %s: %.2f s (empty page %.2f s: load, filter and sort %.2f s)"
          % (query, load_s, base_s, load_s - base_s))
    print("filter left %d of %d rows visible (want %d): %s" % (
        len(shown), rows, want, "ok" if len(shown) == want and set(shown) == {"unexpected"} else "WRONG"))
    return 0 if len(shown) == want else 1


if __name__ == "__main__":
    raise SystemExit(main())
