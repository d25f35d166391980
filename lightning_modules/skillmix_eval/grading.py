"""Grading one checkpoint's generations on rank 0 through the graders' one grade-and-write loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graders.grade_loop import GradingOutcome, grade_and_write
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingItem, GradingSettings
from skillmix.catalog import Catalog


async def grade_generations(
    generations: Sequence[dict[str, Any]],
    catalog: Catalog,
    client_settings: ClientSettings,
    settings: GradingSettings,
    write: Callable[[dict[str, Any]], None],
) -> GradingOutcome:
    """Grade every generation line, `write` each finished record; failed ones are left for the next run."""
    client = client_settings.build_client()
    grader = settings.build_grader(client)
    items = [
        GradingItem(catalog.skills_named(line["skills"]), line["topic"], line["answer"])
        for line in generations
    ]
    try:
        return await grade_and_write(grader, items, generations, write)
    finally:
        await client.aclose()
