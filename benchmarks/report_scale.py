"""`cli.py report` at the paper's scale: file size, build time, and time to open in headless Chromium.

    .venv/bin/python benchmarks/report_scale.py [--steps 9] [--combinations_per_k 100] [--work_dir DIR]

Writes synthetic evaluation outputs first (the paper preset per checkpoint: settings train/heldout/all,
k = 2..5, 100 combinations, 3 generation rounds, 3 grading rounds = 3600 records; answers and grader replies
of realistic length, see tests/report/synthetic_outputs.py), builds the report, then opens it in headless
Chromium (tests/report/browser.py) and times: the page ready with its charts and table, the first page of
transcripts rendered, a filter by k re-rendered, and the side-by-side view of one combination. Not a test:
it prints the figures (BENCHMARKS.md records them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skillmix.report import build_report
from tests.report.browser import chromium, rendered_pages, severe_console_entries, wait_for
from tests.report.synthetic_outputs import write_eval_outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=9, help="checkpoints: 0, 500, 1000, ...")
    parser.add_argument("--combinations_per_k", type=int, default=100)
    parser.add_argument("--work_dir", type=Path, default=Path("/tmp/report-scale"))
    arguments = parser.parse_args()
    outputs = arguments.work_dir / f"outputs-{arguments.steps}x{arguments.combinations_per_k}"
    if not outputs.is_dir():
        started = time.perf_counter()
        records = write_eval_outputs(
            outputs.with_suffix(".partial"),
            steps=[500 * i for i in range(arguments.steps)],
            settings=("train", "heldout", "all"),
            ks=(2, 3, 4, 5),
            combinations_per_k=arguments.combinations_per_k,
            generation_rounds=3,
            grading_rounds=3,
        )
        outputs.with_suffix(".partial").rename(outputs)
        print(f"wrote {len(records)} synthetic records in {time.perf_counter() - started:.1f} s")
    records_bytes = sum(path.stat().st_size for path in outputs.rglob("records.jsonl"))

    report = arguments.work_dir / "report.html"
    started = time.perf_counter()
    summary = build_report([outputs], report)
    build_seconds = time.perf_counter() - started

    with chromium() as driver:
        started = time.perf_counter()
        driver.get(report.as_uri())
        wait_for(driver, "document.body.dataset.ready === 'true'", timeout=600)
        ready = time.perf_counter() - started
        wait_for(driver, "Number(document.body.dataset.renderedPages || 0) >= 1", timeout=600)
        first_page = time.perf_counter() - started
        charts = driver.execute_script("return document.querySelectorAll('svg.chart').length")

        started = time.perf_counter()
        driver.execute_script(
            "const s = document.getElementById('filter-k'); s.value = '4';"
            "s.dispatchEvent(new Event('change'));"
        )
        wait_for(driver, "Number(document.body.dataset.renderedPages) >= 2", timeout=600)
        filtered = time.perf_counter() - started
        before = rendered_pages(driver)

        started = time.perf_counter()
        driver.execute_script("document.querySelector('article.card header button').click()")
        wait_for(driver, "!document.getElementById('side-by-side').hidden", timeout=600)
        side_by_side = time.perf_counter() - started
        columns = driver.execute_script("return document.querySelectorAll('#side-by-side .column').length")
        heap = driver.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : null")
        errors = severe_console_entries(driver)
        assert rendered_pages(driver) == before

    figures = {
        "records": summary.items,
        "records_jsonl_mb": round(records_bytes / 1e6, 1),
        "report_mb": round(summary.bytes / 1e6, 1),
        "chunks": summary.chunks,
        "build_s": round(build_seconds, 1),
        "open_ready_s": round(ready, 2),
        "open_first_transcripts_s": round(first_page, 2),
        "filter_by_k_s": round(filtered, 2),
        "side_by_side_s": round(side_by_side, 2),
        "side_by_side_columns": columns,
        "charts": charts,
        "js_heap_mb": None if heap is None else round(heap / 1e6, 1),
        "console_errors": len(errors),
    }
    print(json.dumps(figures, indent=2))
    if errors:
        print(errors)


if __name__ == "__main__":
    main()
