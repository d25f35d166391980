"""The one grade-and-write loop, under `cli.py grade` and the evaluation callback alike: grade many answers
concurrently and hand each finished record on the moment its grading rounds are in.

A record whose grading requests failed (retries exhausted, server gone, budget reached) is not a grade: it
goes to `on_failure` (or is logged) instead of `write`, so the next run grades it again, while the response
cache serves every request that did succeed without calling the API a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graders.skillmix_grader import GradingItem, SkillMixGrader

log = logging.getLogger(__name__)

Record = dict[str, Any]


@dataclass(frozen=True)
class GradingOutcome:
    written: int
    failed: int
    summary: str


async def grade_and_write(
    grader: SkillMixGrader,
    items: Sequence[GradingItem],
    records: Sequence[Record],
    write: Callable[[Record], None],
    *,
    on_failure: Callable[[Record], None] | None = None,
    annotate: Callable[[int], Record] | None = None,
) -> GradingOutcome:
    """Grade `items[i]` and write `records[i]` with its `gradings` and the grader's `grading_config` (plus
    what `annotate(i)` adds) as each finishes; the caller decides what failures mean."""
    written = failed = 0
    async for index, rounds in grader.grade_as_completed(items):
        record = {
            **records[index],
            "gradings": [r.to_record() for r in rounds],
            "grading_config": grader.config,
            **(annotate(index) if annotate else {}),
        }
        errors = [r.error for r in rounds if r.error is not None]
        if errors:
            failed += 1
            if on_failure is None:
                log.warning("grading failed, left for the next run: %s", errors[0])
            else:
                on_failure(record)
            continue
        write(record)
        written += 1
    return GradingOutcome(written, failed, f"{grader.stats.summary()}; {grader.client.stats.summary()}")
