"""``skillforge report`` opened in a real headless Chromium (Debian's ``chromium``, driven by
playwright through ``executable_path``; no browser is downloaded): every chart is drawn, the console
is clean, a screenshot is saved, and the page renders the same with networking disabled."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillforge.cli.app import app
from skillforge.compile import CompileOptions, SearchConfig, compile_skill
from skillforge.regress.results import SkillResult, SuiteReport

from helpers import keyword_model, sentiment_examples, sentiment_spec
from ledger_fixture import write_fixture

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium: apt-get install chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")

#: Per skill: traffic, cost, escalations, latency, risk-coverage, candidates; and the regression chart.
CHARTS = 6 + 1

# For each Plotly chart: its SVG's size and the traces drawn in it (bars, lines, markers).
_DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')].map(div => {
  const svg = div.querySelector('svg.main-svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {width: box.width, height: box.height, traces: div.querySelectorAll('g.trace').length,
          marks: div.querySelectorAll('g.trace path').length};
})"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    skill = compile_skill(sentiment_spec("mood"), sentiment_examples(40), teacher=keyword_model(),
                          student=keyword_model(), options=CompileOptions(search=SearchConfig(ks=[2], refine_rounds=0)))
    skill.save(root / "skills" / "mood")
    write_fixture(root / "ledger.jsonl")
    results = SuiteReport(mode="replay", ok=True, skills=[
        SkillResult(name="mood", path="skills/mood", mode="replay", cases=20, passed=19, pass_rate=0.95,
                    min_pass_rate=0.9, student_share=0.8, ok=True)])
    results.write_json(root / "results.json")
    out = CliRunner().invoke(app, ["report", str(root / "skills"), "--ledger", str(root / "ledger.jsonl"),
                                   "--now", "2026-11-04T13:00:00+00:00", "--window", "1d",
                                   "--tests", str(root / "results.json"), "-o", str(root / "report.html")])
    assert out.exit_code == 0, out.output
    return root / "report.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start.
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser: Any, report: Path, *, offline: bool) -> tuple[Any, list[str], list[str]]:
    context = browser.new_context(offline=offline, viewport={"width": 1280, "height": 900})
    requests: list[str] = []

    def block(route: Any) -> None:  # anything but the file itself would be a network dependency
        requests.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith("file://"), block)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report.as_uri(), wait_until="load")
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot svg.main-svg').length >= {CHARTS}",
                           timeout=30_000)
    return page, errors, requests


def test_every_chart_renders_without_console_errors(browser: Any, report: Path, tmp_path: Path) -> None:
    page, errors, requests = _open(browser, report, offline=False)
    charts = page.evaluate(_DRAWN)
    assert len(charts) == CHARTS
    for chart in charts:
        assert chart["width"] > 100 and chart["height"] > 100 and chart["traces"] >= 1 and chart["marks"] >= 1, chart
    assert errors == [] and requests == []
    assert "DRIFT" in page.inner_text("body") and "Regression results" in page.inner_text("body")
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    page.context.close()


def test_the_report_renders_with_networking_disabled(browser: Any, report: Path) -> None:
    page, errors, requests = _open(browser, report, offline=True)
    charts = page.evaluate(_DRAWN)
    assert len(charts) == CHARTS and all(c["traces"] >= 1 and c["width"] > 100 for c in charts)
    assert errors == [] and requests == []
    # And the network is really off: a request from the page fails.
    probe = page.evaluate("fetch('http://192.0.2.1/').then(() => 'reached', () => 'failed')")
    assert probe == "failed"
    page.context.close()
