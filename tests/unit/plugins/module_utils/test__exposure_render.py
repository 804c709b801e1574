# -*- coding: utf-8 -*-
# Copyright: dockerguard developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet reports: the path boxes, text, Markdown and the self-contained HTML page."""

from __future__ import absolute_import, division, print_function

import re

import pytest

from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_audit as audit
from ansible_collections.dockerguard.firewall.plugins.module_utils import _exposure_render as render
from ansible_collections.dockerguard.firewall.plugins.module_utils._exposure_drift import drift
from ansible_collections.dockerguard.firewall.plugins.module_utils._policy import (
    chain_rules, validate)

from ansible_collections.dockerguard.firewall.tests.unit.plugins.module_utils import audit_model as lab

INPUT_9090 = ["-s 10.99.0.0/16 -p tcp -m tcp --dport 9090 -j ACCEPT",
              "-p tcp -m tcp --dport 9090 -j DROP"]


def fleet():
    """Two hosts: n1 restricted (8080 expected, 9090 host network unexpected), n2 open."""
    n1 = audit.audit_host(lab.ruleset(input_rules=INPUT_9090), lab.docker(host_network=True),
                          lab.EXPECTED, lab.SOURCES, host="n1")
    n2 = audit.audit_host(lab.ruleset(allow_list=False), lab.docker(), lab.EXPECTED,
                          lab.SOURCES, host="n2")
    return [n2, n1]


def probe_of(report, port, name):
    r = [x for x in report["rows"] if x["port"] == port][0]
    return [p for p in r["probes"] if p["source"]["name"] == name][0]


def kinds(boxes):
    return [(b["kind"], b["title"]) for b in boxes]


# --- the path as boxes -------------------------------------------------------------------

def test_diagram_of_a_published_port():
    n2 = fleet()[0]
    boxes = render.diagram(probe_of(n2, "8080/tcp", "denied"))
    assert kinds(boxes) == [("source", "source 10.250.9.20"), ("hook", "nat PREROUTING"),
                            ("routing", "routing"), ("hook", "filter FORWARD"),
                            ("end", "container 172.18.0.2:80")]
    named = render.diagram(probe_of(n2, "8080/tcp", "denied"), n2["rows"][0]["target"])
    assert named[-1]["title"] == "container web at 172.18.0.2:80"
    assert boxes[0]["text"] == "denied, arriving on eth0"
    nat = boxes[1]["lines"]
    assert [ln["label"] for ln in nat] == ["PREROUTING#1", "DOCKER#2"]
    assert nat[1]["kind"] == "nat" and nat[1]["effect"] == "DNAT to 172.18.0.2:80"
    assert nat[1]["rule"].startswith("! -i docker0 -p tcp")  # "-A DOCKER " stripped
    fwd = boxes[3]["lines"]
    assert fwd[0]["label"] == "FORWARD#1" and fwd[0]["effect"] == "jump DOCKER-USER"
    assert [ln["decisive"] for ln in fwd].count(True) == 1
    assert fwd[-1]["label"] == "DOCKER#1" and fwd[-1]["kind"] == "accept"
    assert boxes[-1]["verdict"] == "exposed"
    assert "raw" not in [b.get("table") for b in boxes]  # untouched hooks left out


def test_diagram_of_a_dropped_probe():
    n1 = fleet()[1]
    boxes = render.diagram(probe_of(n1, "8080/tcp", "denied"))
    assert boxes[-1]["title"] == "dropped by filter/DOCKER-USER#1"
    assert boxes[-1]["verdict"] == "filtered"
    drop = [ln for b in boxes for ln in b["lines"] if ln["decisive"]]
    assert len(drop) == 1 and drop[0]["kind"] == "drop" and drop[0]["label"] == "DOCKER-USER#1"


def test_diagram_of_host_networking():
    n1 = fleet()[1]
    boxes = render.diagram(probe_of(n1, "9090/tcp", "office"))
    assert kinds(boxes) == [("source", "source 10.99.1.1"), ("hook", "nat PREROUTING"),
                            ("routing", "routing"), ("hook", "filter INPUT"),
                            ("end", "socket on the host 10.250.9.11:9090")]
    assert boxes[1]["text"] == "no DNAT: the destination stays the host's"
    assert "local delivery (INPUT)" in boxes[2]["text"]
    assert boxes[3]["lines"][0]["decisive"] and boxes[3]["lines"][0]["label"] == "INPUT#1"
    target = [r for r in n1["rows"] if r["port"] == "9090/tcp"][0]["target"]
    named = render.diagram(probe_of(n1, "9090/tcp", "office"), target)
    assert named[-1]["title"] == "socket of metrics (host network) on 10.250.9.11:9090"


def test_diagram_shows_the_reply_when_it_decides():
    # A rule on the published port without --ctdir ORIGINAL also drops the replies.
    rules = ["-s 10.99.0.0/16 -j RETURN", "-p tcp -m conntrack --ctorigdstport 8080 -j DROP"]
    rep = audit.audit_host(lab.ruleset(allow_list=False, user_rules=rules), lab.docker(),
                           lab.EXPECTED, lab.SOURCES)
    office = probe_of(rep, "8080/tcp", "office")
    assert office["direction"] == "reply"
    boxes = render.diagram(office)
    reply = [b for b in boxes if b["kind"] == "reply"]
    assert len(reply) == 1 and reply[0]["lines"][-1]["decisive"]
    assert reply[0]["lines"][-1]["label"] == "filter DOCKER-USER#2"
    text = render.diagram_text(office)
    assert u"[the reply (SYN-ACK)]" in text and u"\u2718 STOPPED" in text


def test_diagram_text():
    text = render.diagram_text(probe_of(fleet()[0], "8080/tcp", "denied"), indent="")
    lines = text.splitlines()
    assert lines[0] == "[source 10.250.9.20] denied, arriving on eth0"
    assert lines[1] == u"   \u2193"
    assert u"DOCKER#2 ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination " \
        u"172.18.0.2:80 \u2192 DNAT to 172.18.0.2:80" in text
    assert lines[-2] == u"[\u2714 REACHED] container 172.18.0.2:80"


# --- the reports ---------------------------------------------------------------------------

def test_matrix_and_totals():
    ports, grid = render.matrix(fleet())
    assert ports == ["8080/tcp", "9090/tcp"]
    assert grid == [("n1", {"8080/tcp": "expected", "9090/tcp": "unexpected"}),
                    ("n2", {"8080/tcp": "unexpected", "9090/tcp": None})]
    t = render.totals(fleet())
    assert (t["hosts"], t["ports"], t["unexpected"], t["expected"], t["failed"]) == (2, 3, 2, 1, 2)


def test_render_text():
    text = render.render_text(fleet())
    assert text.startswith("n1: FAIL - 2 published port(s): 1 unexpected")
    assert "UNEXPECTED 8080/tcp  web" in text
    assert "    from denied: EXPOSED" in text
    assert u"[\u2714 REACHED] container web at 172.18.0.2:80" in text
    assert "container" not in render.render_text(fleet(), paths=False).split("n2:")[1].split("\n", 2)[2]


def test_render_markdown():
    md = render.render_markdown(fleet(), title="Fleet", generated="2026-01-01 00:00 UTC")
    assert md.startswith("# Fleet\n\nGenerated 2026-01-01 00:00 UTC.\n")
    assert "| host | 8080/tcp | 9090/tcp |" in md
    assert u"| n2 | \U0001F534 UNEXPECTED |  |" in md
    rows = [ln for ln in md.splitlines() if re.match(r"^\| n[12] \| \d+/tcp \|", ln)]
    assert len(rows) == 3
    assert "## Findings" in md and "path of denied (10.250.9.20)" in md
    assert u"### \U0001F534 8080/tcp web on eth0 (UNEXPECTED)" in md
    assert md.count("```") % 2 == 0 and "[source 10.250.9.20]" in md


def test_render_html_is_self_contained_with_a_row_per_port():
    page = render.render_html(fleet(), generated="2026-01-01 00:00 UTC")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<link|<img|<iframe|src=|url\(|@import|https?://|fetch\(|XMLHttpRequest", page)
    assert page.count("<script>") == 1 and page.count("<script") == 1  # inline, sorting and filtering
    assert len(re.findall(r'<tr class="port-row"', page)) == 3
    assert '<tr class="port-row" data-host="n2" data-port="8080/tcp" data-verdict="unexpected">' in page
    assert 'data-verdict="expected"' in page
    assert '<td class="c-none" data-verdict="" data-port="9090/tcp">' in page  # n2 publishes no 9090
    assert page.count('<section class="host"') == 2
    assert page.count('<div class="path">') == 6  # two named sources x three ports
    assert 'class="rl nat"' in page and "decisive" in page


def drifted_fleet():
    """n1 audited twice: its 8080 allow-list gone (widened), 9090 new; n2 first audit."""
    before = audit.audit_host(lab.ruleset(), lab.docker(), lab.EXPECTED, lab.SOURCES, host="n1")
    n1, n2 = fleet()[1], fleet()[0]
    n1 = dict(n1, rows=audit.audit_host(lab.ruleset(allow_list=False, input_rules=INPUT_9090),
                                        lab.docker(host_network=True), lab.EXPECTED,
                                        lab.SOURCES, host="n1")["rows"])
    n1["drift"] = drift(before, n1, previous_time="2026-01-01 00:00 UTC")
    n2["drift"] = drift(None, n2)
    return [n1, n2]


MISSING = [{"host": "n3", "reason": "Failed to create temporary directory", "task": "Gather"},
           {"host": "n0", "reason": {"msg": "docker daemon not running"}}]


def test_the_reports_open_with_the_drift_and_name_the_hosts_not_audited():
    reports = drifted_fleet()
    md = render.render_markdown(reports, not_audited=MISSING)
    first = [ln for ln in md.splitlines() if ln.startswith("## ")]
    assert first[:2] == ["## Changes since the last audit", "## Not audited"]
    assert "| n1 | 8080/tcp | eth0 | **WIDENED, verdict, path** (web) |" in md
    assert "| n1 | 9090/tcp | eth0 | **NEW PORT** (metrics) |" in md
    assert "First audit (no previous report): n2." in md
    assert "| n0 | docker daemon not running |" in md and "| n3 | Failed to create" in md
    assert "1 not audited" not in md and "2 not audited" in md
    page = render.render_html(reports, not_audited=MISSING)
    assert page.index('<h2 id="drift">') < page.index('id="not-audited"') < page.index('id="totals"')
    assert len(re.findall(r'<tr class="drift-row" data-host="n1"', page)) == 2
    assert '<td class="d-widened"><b>WIDENED, verdict, path</b></td>' in page
    assert len(re.findall(r'<tr class="missing-row" data-host="n[03]"', page)) == 2
    text = render.render_text(reports, not_audited=MISSING)
    assert text.startswith("n0: NOT AUDITED - docker daemon not running\nn3: NOT AUDITED")
    assert "n1: changed since the last audit (2026-01-01 00:00 UTC), exposure WIDENED:" in text
    assert "  WIDENED, verdict, path 8080/tcp (container web) on eth0: now also reachable from " \
        "0.0.0.0/0 except 10.99.0.0/16, denied (10.250.9.20) filtered -> exposed" in text
    assert "  NEW PORT 9090/tcp (container metrics) on eth0: new published port, reachable from " \
        "10.99.0.0/16 (unexpected)\n" in text


def test_no_drift_without_previous_reports():
    md = render.render_markdown(fleet())
    assert "## Changes since the last audit\n\nNot compared with an earlier audit" in md
    reports = fleet()
    for rep in reports:
        rep["drift"] = drift(rep, rep)
    md = render.render_markdown(reports)
    assert "## Changes since the last audit\n\nNo change since the last audit.\n\nUnchanged: n1, n2." in md
    assert "Not audited" not in md


def test_render_html_escapes():
    rep = audit.audit_host(lab.ruleset(allow_list=False),
                           lab.docker(container_name='<img src=x onerror="alert(1)">'), [],
                           host="<b>h</b>")
    page = render.render_html([rep])
    assert "<img" not in page and "<b>h</b>" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_render_dispatch_and_errors():
    assert render.render(fleet(), "text").startswith("n1:")
    assert render.render(fleet(), "markdown").startswith("# Docker exposure audit")
    assert render.render([], "html").count('class="port-row"') == 0
    with pytest.raises(ValueError, match="format must be"):
        render.render(fleet(), "pdf")
    with pytest.raises(ValueError, match="reports\\[0\\] is not a host report"):
        render.render([{"x": 1}])
    with pytest.raises(ValueError, match="must be a list"):
        render.render("nope")


def test_render_preview():
    policy = validate([{"name": "web", "ports": [8080], "allow": ["10.99.0.0/16"]}])
    result = {"chain": "DOCKERGUARD", "families": {"ipv4": {"rules": chain_rules(policy, "ipv4")}}}
    pv = audit.preview(lab.ruleset(allow_list=False), lab.docker(), result, expected=lab.EXPECTED,
                       sources=lab.SOURCES, host="n2")
    text = render.render_preview(pv)
    lines = text.splitlines()
    assert lines[0] == "n2: FAIL -> PASS with DOCKERGUARD (jumped to from DOCKER-USER)"
    assert lines[1].startswith(" * 8080/tcp  web")
    assert u"UNEXPECTED \u2192 expected" in lines[1]
    assert u"reachable from 0.0.0.0/0 \u2192 10.99.0.0/16" in text
    assert u"from denied (10.250.9.20): EXPOSED \u2192 FILTERED" in text
