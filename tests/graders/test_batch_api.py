"""Batch APIs against the scripted server: submit, poll, ingest by custom_id (also the partial results
of an expired batch) into the cache, after which a normal run makes calls only for what is missing."""

from __future__ import annotations

import asyncio

import pytest
from grader_fakes import FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY, files_containing

from graders.backends.anthropic_messages import AnthropicBackend
from graders.backends.openai_chat import OpenAIBackend
from graders.batch.jobs import collect_batches, submit_batches
from graders.cache import ResponseCache
from graders.client import GenerateRequest, ModelClient
from graders.interface import SamplingParams

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("fake_keys")]


def requests(n: int, samples: tuple[int, ...]) -> list[GenerateRequest]:
    return [
        GenerateRequest(
            [{"role": "user", "content": f"grade {i}"}],
            SamplingParams(max_tokens=20, temperature=1.0, seed=0),
            sample_indices=samples,
            template_version="grading:gpt",
        )
        for i in range(n)
    ]


def make_client(backend, tmp_path, clock) -> ModelClient:
    return ModelClient(
        backend, cache=ResponseCache(tmp_path / "cache.sqlite"), sleep=clock.sleep, clock=clock
    )


def run_batch_then_live(client, work, clock):
    async def go():
        batch_ids = await submit_batches(client, work)
        resubmitted = await submit_batches(client, work)  # nothing new: all in a submitted batch
        report = await collect_batches(client, poll_seconds=30, sleep=clock.sleep)
        calls_before = client.stats.calls_made
        results = await client.generate_many(work)
        await client.aclose()
        return batch_ids, resubmitted, report, client.stats.calls_made - calls_before, results

    return asyncio.run(go())


def test_openai_batch_fills_the_cache_including_an_expired_batchs_partial_results(server, clock, tmp_path):
    server.state.batch_polls_until_done = 3
    server.state.batch_expire_after = 3  # 3 of 4 requests answered, then the window expired
    client = make_client(OpenAIBackend("gpt-4-0613", base_url=f"{server.url}/v1"), tmp_path, clock)
    work = requests(4, samples=(0, 1, 2))
    batch_ids, resubmitted, report, live_calls, results = run_batch_then_live(client, work, clock)
    assert len(batch_ids) == 1 and resubmitted == []
    assert clock.sleeps == [30, 30]
    assert report.ingested_samples == 9 and dict(report.missing) == {"batch_expired": 3}
    assert report.cost_usd is not None and report.cost_usd > 0
    assert live_calls == 1  # only the expired request (one call with n=3) goes live
    assert [[s.text for s in samples] for samples in results] == [
        [f"grade {i} #{j}" for j in range(3)] for i in range(4)
    ]
    assert [s.cached for s in results[0]] == [True] * 3 and [s.cached for s in results[3]] == [False] * 3
    assert files_containing(tmp_path, FAKE_OPENAI_KEY) == []


def test_anthropic_message_batches_fill_the_cache(server, clock, tmp_path):
    client = make_client(AnthropicBackend("claude-3-opus-20240229", base_url=server.url), tmp_path, clock)
    work = requests(3, samples=(0,))
    batch_ids, _, report, live_calls, results = run_batch_then_live(client, work, clock)
    assert batch_ids == ["msgbatch_0"] and report.ingested_samples == 3 and not report.missing
    assert live_calls == 0
    assert [samples[0].text for samples in results] == ["grade 0 #0", "grade 1 #0", "grade 2 #0"]
    assert files_containing(tmp_path, FAKE_ANTHROPIC_KEY) == []


def test_collect_without_waiting_reports_running_batches(server, clock, tmp_path):
    server.state.batch_polls_until_done = 5
    client = make_client(OpenAIBackend("gpt-4-0613", base_url=f"{server.url}/v1"), tmp_path, clock)

    async def go():
        await submit_batches(client, requests(2, samples=(0,)))
        return await collect_batches(client, wait=False)

    report = asyncio.run(go())
    assert report.still_running == ["batch_0"] and report.ingested_samples == 0
