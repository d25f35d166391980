"""The SKILL-MIX grader against a server that replays the real GPT-4 grading replies of the reference
(`skillmix-reference/test/*/gpt-4/graded/*`): right reply to the right answer and round, parsed by the
protocol's parser; rounds in one call; one re-ask for an unreadable reply; failures never become scores."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from grader_fakes import FAKE_OPENAI_KEY, REFERENCE, files_containing, requires_reference
from llm_servers import ScriptedLLMServer

from graders.backends.openai_chat import OpenAIBackend
from graders.cache import ResponseCache
from graders.client import ModelClient
from graders.retry import RetryPolicy
from graders.skillmix_grader import GradingItem, GradingSettings, SkillMixGrader
from skillmix.catalog import load_catalog
from skillmix.prompts import render_grading_prompt
from skillmix.records import GradedGeneration
from skillmix.reference_layout import read_reference_layout

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("fake_keys"), requires_reference]
UNREADABLE = "I am sorry, I cannot grade this answer."


@pytest.fixture(scope="module")
def graded_by_gpt4() -> list[GradedGeneration]:
    """The gpt-4 student's answers with their three real GPT-4 grading replies each."""
    generations = [g for g in read_reference_layout(REFERENCE / "test") if g.run == "gpt-4"]
    assert len(generations) == 10 and all(len(g.gradings) == 3 for g in generations)
    return generations


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REFERENCE / "skills.csv", REFERENCE / "topics.txt")


def items_of(generations, catalog) -> list[GradingItem]:
    return [GradingItem(catalog.skills_named(g.skills), g.topic, g.answer) for g in generations]


def replay(server: ScriptedLLMServer, generations, catalog) -> None:
    """Answer each grading prompt's sample r with the real reply of grading round r."""
    replies = {
        render_grading_prompt(item.skills, item.topic, item.answer): [grading.raw for grading in g.gradings]
        for g, item in zip(generations, items_of(generations, catalog), strict=True)
    }
    server.state.reply = lambda body, sample: replies[body["messages"][-1]["content"]][sample % 3]


def make_grader(server, clock, tmp_path, **options) -> SkillMixGrader:
    client = ModelClient(
        OpenAIBackend("gpt-4-0613", base_url=f"{server.url}/v1"),
        cache=ResponseCache(tmp_path / "cache.sqlite"),
        concurrency=4,
        retry=RetryPolicy(max_attempts=4),
        sleep=clock.sleep,
        clock=clock,
    )
    return SkillMixGrader(client, GradingSettings(**options))


def grade_all(grader: SkillMixGrader, items: list[GradingItem]):
    async def go():
        results = {}
        async for index, rounds in grader.grade_as_completed(items):
            results[index] = rounds
        await grader.client.aclose()
        return [results[i] for i in range(len(items))]

    return asyncio.run(go())


def test_real_gpt4_replies_are_matched_to_their_answers_and_rounds_through_faults(
    server, clock, tmp_path, graded_by_gpt4, catalog
):
    replay(server, graded_by_gpt4, catalog)
    server.state.reorder_choices = True
    server.state.faults.extend(["429", "500", "malformed", "hang"])
    grader = make_grader(server, clock, tmp_path, seed=7)
    grader.client.timeout = 0.5
    server.state.base_seed = 7
    results = grade_all(grader, items_of(graded_by_gpt4, catalog))
    for generation, rounds in zip(graded_by_gpt4, results, strict=True):
        assert [r.points for r in rounds] == [g.points for g in generation.gradings]
        assert [r.raw for r in rounds] == [g.raw for g in generation.gradings]
        assert all(r.grader == "openai:gpt-4-0613" and r.usage.output_tokens > 0 for r in rounds)
    bodies = [json.loads(r["raw"]) for r in server.state.model_requests()]
    assert len(bodies) == 10 + 4  # one call per answer with n=3, plus the four retried faults
    assert {(b["n"], b["seed"], b["temperature"]) for b in bodies} == {(3, 7, 1.0)}
    assert bodies[0]["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert grader.stats.scored == 30 and grader.stats.unscored == 0 and grader.stats.failed == 0
    assert sum(grader.client.stats.retries.values()) == 4


def test_an_unreadable_reply_is_reasked_once_then_left_unscored(
    server, clock, tmp_path, graded_by_gpt4, catalog
):
    generation = graded_by_gpt4[0]
    real = [g.raw for g in generation.gradings]
    # samples 0-2 are the rounds, 3-5 their re-asks: round 0 never readable, round 1 readable on re-ask
    script = {0: UNREADABLE, 1: UNREADABLE, 2: real[2], 3: UNREADABLE, 4: real[1]}
    server.state.reply = lambda body, sample: script[sample]
    grader = make_grader(server, clock, tmp_path, seed=0)
    (rounds,) = grade_all(grader, items_of([generation], catalog))
    assert rounds[0].points is None and rounds[0].unscored and rounds[0].reasked
    assert rounds[0].raw == UNREADABLE and rounds[0].first_raw == UNREADABLE
    assert rounds[1].points == generation.gradings[1].points and rounds[1].reasked
    assert rounds[2].points == generation.gradings[2].points and not rounds[2].reasked
    assert len(server.state.model_requests()) == 2  # the rounds (n=3), then both re-asks (n=2)
    assert (grader.stats.scored, grader.stats.unscored, grader.stats.reasked) == (2, 1, 2)
    record = rounds[0].to_record()
    assert "points" not in record and record["unscored"] == rounds[0].unscored


def test_a_failed_request_is_unscored_with_the_error_never_a_score(
    server, clock, tmp_path, graded_by_gpt4, catalog
):
    server.state.faults.extend(["500"] * 4)
    grader = make_grader(server, clock, tmp_path)
    (rounds,) = grade_all(grader, items_of(graded_by_gpt4[:1], catalog))
    assert all(r.points is None and r.error and r.unscored.startswith("request failed") for r in rounds)
    assert grader.stats.failed == 3 and grader.stats.scored == 0


def test_regrading_is_served_from_the_cache(server, clock, tmp_path, graded_by_gpt4, catalog):
    replay(server, graded_by_gpt4, catalog)
    items = items_of(graded_by_gpt4, catalog)
    first = grade_all(make_grader(server, clock, tmp_path), items)
    sent = len(server.state.model_requests())
    again = grade_all(make_grader(server, clock, tmp_path), items)
    assert len(server.state.model_requests()) == sent
    assert [[r.points for r in rs] for rs in again] == [[r.points for r in rs] for rs in first]
    assert all(r.cached for rs in again for r in rs)


def test_one_round_per_call_where_the_provider_has_no_n(server, clock, tmp_path, graded_by_gpt4, catalog):
    replay(server, graded_by_gpt4, catalog)
    grader = make_grader(server, clock, tmp_path)
    grader.client.backend.max_samples_per_call = 1  # as with Anthropic
    (rounds,) = grade_all(grader, items_of(graded_by_gpt4[:1], catalog))
    assert [r.points for r in rounds] == [g.points for g in graded_by_gpt4[0].gradings]
    assert [json.loads(r["raw"]).get("n") for r in server.state.model_requests()] == [None, None, None]


def test_keys_never_reach_the_files_written(server, clock, tmp_path, graded_by_gpt4, catalog):
    replay(server, graded_by_gpt4, catalog)
    grade_all(make_grader(server, clock, tmp_path), items_of(graded_by_gpt4[:2], catalog))
    assert Path(tmp_path / "cache.sqlite").exists() and files_containing(tmp_path, FAKE_OPENAI_KEY) == []
