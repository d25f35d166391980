"""The report opened in a real headless Chromium: no script errors, the charts and the table with the right
counts, significance and agreement columns when the rows carry them, filtering by k, hostile transcripts
shown as text, the side-by-side view, and a screenshot."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

import skillmix.report.build
from skillmix.compare import rows_from_records
from skillmix.report import build_report
from tests.report.browser import browser_missing, chromium, rendered_pages, severe_console_entries, wait_for
from tests.report.conftest import HOSTILE_RUN, REFERENCE_TEST, STEPS, requires_reference
from tests.report.synthetic_outputs import HOSTILE_ANSWER

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing())),
    requires_reference,
]

AGREEMENT_ROWS = [{"run": "gpt-4", "k": 3, "graders": "gpt-4 vs claude", "cohen_kappa": 0.61}]


def with_significance(records: Any, options: Any) -> list[dict[str, Any]]:
    """compare's rows plus the significance fields the statistics add to them (a confidence interval and a
    p-value per difference), to check that the table shows whatever such fields the rows carry."""
    rows = rows_from_records(records, options)
    for row in rows:
        if "full_marks_delta" in row:
            row["full_marks_delta_ci95"] = [-0.25, 0.5]
            row["full_marks_delta_p_value"] = 0.01
    return rows


def select(driver: Any, name: str, value: str) -> None:
    """Pick a filter option the way a user does; wait until the transcripts are rendered again."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    before = rendered_pages(driver)
    Select(driver.find_element(By.ID, f"filter-{name}")).select_by_value(value)
    wait_for(driver, f"Number(document.body.dataset.renderedPages) > {before}")


def count(driver: Any, selector: str) -> int:
    return int(driver.execute_script("return document.querySelectorAll(arguments[0]).length", selector))


def option_value(driver: Any, name: str, label: str) -> str:
    return driver.execute_script(
        "return [...document.getElementById(arguments[0]).options].find(o => o.text === arguments[1]).value",
        f"filter-{name}",
        label,
    )


def test_report_in_headless_chromium(outputs, tmp_path, monkeypatch):
    root, written = outputs
    agreement = types.ModuleType("skillmix.agreement")
    agreement.agreement_rows = lambda paths: AGREEMENT_ROWS  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "skillmix.agreement", agreement)
    monkeypatch.setattr(skillmix.report.build, "rows_from_records", with_significance)
    page = tmp_path / "report.html"
    summary = build_report([root, REFERENCE_TEST], page, chunk_size=7)  # several chunks on one page
    rows = with_significance(*_records_and_options(root))

    with chromium() as driver:
        driver.get(page.as_uri())
        wait_for(driver, "document.body.dataset.ready === 'true' && document.body.dataset.renderedPages")
        assert severe_console_entries(driver) == []

        # charts: one per metric for every (setting, k) with a scored row; the base model is marked
        panels = {(row["setting"], row["k"]) for row in rows if row["n"]}
        assert count(driver, "svg.chart") == 3 * len(panels) and count(driver, "svg.chart rect.base") == 3 * 4
        assert count(driver, "#legend > span") == 2

        # the compare table, with the significance columns the rows carry, and the agreement table
        assert count(driver, "#compare-table tbody tr") == len(rows) == summary.rows == 11
        headers = driver.execute_script(
            "return [...document.querySelectorAll('#compare-table th')].map(th => th.textContent)"
        )
        assert {"full marks delta ci95", "full marks delta p value", "Δ full marks"} <= set(headers)
        assert count(driver, "td.significant") == 4
        assert driver.execute_script(
            "return [...document.querySelectorAll('#agreement-table td')].map(td => td.textContent)"
        ) == ["gpt-4", "3", "gpt-4 vs claude", "0.610"]

        # filter by k: only that k, as many as there are records of it
        select(driver, "k", "3")
        ks = driver.execute_script(
            "return [...document.querySelectorAll('article.card')].map(a => a.dataset.k)"
        )
        expected = sum(r["k"] == 3 for r in written) + 23  # the reference layout is all k=3
        assert set(ks) == {"3"} and len(ks) == 20
        assert driver.execute_script("return document.getElementById('page-status').textContent").startswith(
            f"1–20 of {expected} transcripts"
        )

        # hostile answers (step 100, k=2) and the hostile run name are shown as text, never run
        select(driver, "k", "2")
        select(driver, "checkpoint", option_value(driver, "checkpoint", "step 100"))
        answers = driver.execute_script(
            "return [...document.querySelectorAll('article.card pre.answer')].map(p => p.textContent)"
        )
        assert answers == [HOSTILE_ANSWER] * 4
        assert driver.execute_script("return window.__pwned") is None and count(driver, "main img") == 0
        card_text = driver.execute_script("return document.querySelector('article.card').textContent")
        assert HOSTILE_RUN in card_text
        driver.execute_script("document.querySelectorAll('article.card details').forEach(d => d.open = true)")
        driver.save_screenshot(str(tmp_path / "transcripts.png"))

        # the same combination across checkpoints, side by side
        driver.execute_script("document.querySelector('article.card header button').click()")
        wait_for(driver, "!document.getElementById('side-by-side').hidden")
        steps = driver.execute_script(
            "return [...document.querySelectorAll('#side-by-side .column')].map(c => c.dataset.step)"
        )
        assert steps == [str(step) for step in STEPS]
        assert severe_console_entries(driver) == []
        driver.execute_script("window.scrollTo(0, 0)")
        assert driver.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _records_and_options(root: Path) -> tuple[Any, Any]:
    from skillmix.compare import read_records
    from skillmix.metrics import ScoringOptions

    return read_records(root) + read_records(REFERENCE_TEST), ScoringOptions()
