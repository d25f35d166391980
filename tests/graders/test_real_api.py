"""Real provider calls: run only with `pytest tests/graders --run-api` and a key in the environment.

Each makes one small grading call, costing a fraction of a cent.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from grader_fakes import REFERENCE

from graders.cache import CacheMode
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingItem, GradingSettings, SkillMixGrader
from skillmix.catalog import load_catalog

pytestmark = [pytest.mark.api, pytest.mark.timeout(120)]


@pytest.mark.parametrize(
    ("provider", "model", "key"),
    [
        ("openai", "gpt-4o-mini", "OPENAI_API_KEY"),
        ("anthropic", "claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"),
    ],
)
def test_a_real_grader_returns_a_parsed_rubric(provider, model, key, tmp_path):
    if not os.environ.get(key):
        pytest.skip(f"{key} is not set")
    catalog = load_catalog(REFERENCE / "skills.csv", REFERENCE / "topics.txt")
    skills = catalog.skills[:2]
    client = ClientSettings(
        provider=provider, model=model, cache=tmp_path / "c.sqlite", cache_mode="use"
    ).build_client()
    assert client.cache_mode == CacheMode.USE
    grader = SkillMixGrader(client, GradingSettings(rounds=1, max_tokens=400))
    item = GradingItem(skills, catalog.topics[0], "The needle, stubborn as a mule, refused the thread.")

    async def go():
        rounds = await grader.grade(item)
        await client.aclose()
        return rounds

    (graded,) = asyncio.run(go())
    assert graded.error is None and graded.raw
    assert graded.points is not None or graded.unscored
    assert client.stats.usage.input_tokens > 0
