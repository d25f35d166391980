"""`python cli.py report PATH... --output report.html`: read the records once, then write one HTML file with
the `compare` rows (charts and table), the grader-agreement summary when that analysis exists, and every
transcript.

The rows are `compare`'s own (`skillmix.compare.rows_from_records`), so the report and `compare --json` agree
by construction; the page only draws them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from skillmix.compare import read_records, rows_from_records
from skillmix.metrics import METRIC_NAMES, ScoringOptions
from skillmix.report.analyses import agreement_section
from skillmix.report.page import render_page
from skillmix.report.transcripts import ITEM_FIELDS, build_transcripts

logger = logging.getLogger(__name__)

DATA_FORMAT = "skillmix-lightning/report/1"


@dataclass(frozen=True)
class ReportSummary:
    """What was written, for the log line and for callers."""

    path: Path
    rows: int
    items: int
    chunks: int
    bytes: int


def report_data(
    paths: Sequence[Path], options: ScoringOptions, chunk_size: int = 100
) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    """The page's JSON document and its transcript chunks."""
    records = []
    for path in paths:
        read = read_records(Path(path))
        logger.info("%s: %d graded generations", path, len(read))
        records += read
    logger.info("%d graded generations: scoring each for its transcript", len(records))
    transcripts = build_transcripts(records, options, chunk_size)
    data = {
        "format": DATA_FORMAT,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sources": [str(path) for path in paths],
        "options": asdict(options),
        "metric_names": list(METRIC_NAMES),
        "rows": rows_from_records(records, options),
        "agreement": agreement_section(paths),
        "item_fields": list(ITEM_FIELDS),
        "lookups": transcripts.lookups,
        "items": transcripts.items,
        "chunk_count": len(transcripts.chunks),
    }
    return data, transcripts.chunks


def build_report(
    paths: Sequence[Path], output: Path, options: ScoringOptions | None = None, chunk_size: int = 100
) -> ReportSummary:
    """Write the report to `output` (through a temporary file, so a failed build leaves no half page)."""
    data, chunks = report_data(paths, options or ScoringOptions(), chunk_size)
    logger.info("compressing %d transcript chunks", len(chunks))
    html = render_page(data, chunks)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".tmp")
    temporary.write_text(html, encoding="utf-8")
    os.replace(temporary, output)
    summary = ReportSummary(output, len(data["rows"]), len(data["items"]), len(chunks), output.stat().st_size)
    logger.info(
        "wrote %s: %d rows, %d transcripts in %d chunks, %.1f MB",
        output, summary.rows, summary.items, summary.chunks, summary.bytes / 1e6,
    )  # fmt: skip
    return summary
