"""Grading one checkpoint's generations on rank 0 with the graders' SKILL-MIX grader, writing each record
the moment its grading rounds are in.

A generation whose grading requests failed (retries exhausted, server gone, budget reached) is not written:
it is not a grade, and leaving it out means the next run of the same evaluation grades it again, while the
graders' response cache serves every request that did succeed without calling the API a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graders.settings import ClientSettings
from graders.skillmix_grader import GradingItem, GradingSettings, generation_draw
from skillmix.catalog import Catalog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GradingOutcome:
    written: int
    failed: int
    summary: str


async def grade_generations(
    generations: Sequence[dict[str, Any]],
    catalog: Catalog,
    client_settings: ClientSettings,
    settings: GradingSettings,
    write: Callable[[dict[str, Any]], None],
) -> GradingOutcome:
    """Grade every generation line, `write` each finished record; the caller decides what failures mean."""
    client = client_settings.build_client()
    grader = settings.build_grader(client)
    items = [
        GradingItem(
            catalog.skills_named(line["skills"]), line["topic"], line["answer"], generation_draw(line)
        )
        for line in generations
    ]
    written = failed = 0
    try:
        async for index, rounds in grader.grade_as_completed(items):
            errors = [r.error for r in rounds if r.error is not None]
            if errors:
                failed += 1
                log.warning("grading failed, left for the next run: %s", errors[0])
                continue
            write(
                {
                    **generations[index],
                    "gradings": [r.to_record() for r in rounds],
                    "grading_config": grader.config,
                }
            )
            written += 1
    finally:
        await client.aclose()
    return GradingOutcome(written, failed, f"{grader.stats.summary()}; {client.stats.summary()}")
