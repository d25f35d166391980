"""ModelClient + the OpenAI backend against a scripted Chat Completions server on 127.0.0.1: order,
concurrency, retries (429 with Retry-After, 5xx, hangs, malformed bodies), nothing lost, the cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from grader_fakes import FAKE_OPENAI_KEY, InstantClock, files_containing
from llm_servers import ScriptedLLMServer

from graders.backends.openai_chat import OpenAIBackend
from graders.cache import CacheMode, ResponseCache
from graders.client import FatalBackendError, GenerateRequest, ModelClient
from graders.credentials import MissingCredentialsError
from graders.interface import ErrorKind, SamplingParams
from graders.pricing import Price, PriceTable
from graders.retry import RetryPolicy

pytestmark = [pytest.mark.timeout(20), pytest.mark.usefixtures("fake_keys")]


def make_client(
    server: ScriptedLLMServer, clock: InstantClock, tmp_path: Path, **options: object
) -> ModelClient:
    backend = OpenAIBackend("gpt-4-0613", base_url=f"{server.url}/v1")
    settings: dict[str, object] = {
        "cache": ResponseCache(tmp_path / "cache.sqlite"),
        "concurrency": 4,
        "timeout": 5.0,
        "retry": RetryPolicy(max_attempts=4, max_total_seconds=300),
        "sleep": clock.sleep,
        "clock": clock,
    }
    settings.update(options)
    return ModelClient(backend, **settings)  # type: ignore[arg-type]


def ask(text: str, samples: tuple[int, ...] = (0,), seed: int | None = None) -> GenerateRequest:
    return GenerateRequest(
        [{"role": "system", "content": "You grade."}, {"role": "user", "content": text}],
        SamplingParams(max_tokens=50, temperature=1.0, seed=seed),
        sample_indices=samples,
        template_version="test-v1",
    )


def run(client: ModelClient, requests: list[GenerateRequest]) -> list[list[str | None]]:
    async def go() -> list[list[str | None]]:
        try:
            results = await client.generate_many(requests)
        finally:
            await client.aclose()
        return [[sample.text for sample in samples] for samples in results]

    return asyncio.run(go())


def test_many_requests_come_back_in_order_within_the_concurrency_limit(server, clock, tmp_path):
    server.state.latency = 0.02
    requests = [ask(f"prompt {i}") for i in range(40)]
    texts = run(make_client(server, clock, tmp_path), requests)
    assert texts == [[f"prompt {i} #0"] for i in range(40)]
    assert 1 < server.state.max_in_flight <= 4
    sent = server.state.model_requests()[0]
    assert sent["headers"]["authorization"] == f"Bearer {FAKE_OPENAI_KEY}"
    assert sent["headers"].get("x-stainless-retry-count") == "0"


def test_rate_limits_server_errors_and_bad_bodies_are_retried_and_counted(server, clock, tmp_path):
    server.state.retry_after = "7"
    server.state.faults.extend(["429", "500", "malformed", "no_choices", "529"])
    client = make_client(server, clock, tmp_path, concurrency=1, retry=RetryPolicy(max_attempts=6))
    texts = run(client, [ask("a"), ask("b")])
    assert texts == [["a #0"], ["b #0"]]
    assert dict(client.stats.retries) == {"rate_limit": 1, "server_error": 2, "malformed_response": 2}
    assert client.stats.samples_failed == 0
    assert len(server.state.model_requests()) == 7
    assert clock.sleeps[0] == 7.0  # the 429's Retry-After, longer than the 0.5-1 s backoff
    assert all(0.5 <= s <= 16 for s in clock.sleeps[1:])


def test_a_hang_past_the_timeout_is_retried(server, clock, tmp_path):
    server.state.faults.append("hang")
    client = make_client(server, clock, tmp_path, timeout=0.3)
    assert run(client, [ask("slow")]) == [["slow #0"]]
    assert client.stats.retries["timeout"] == 1


def test_an_exhausted_request_is_an_error_not_an_empty_text(server, clock, tmp_path):
    server.state.faults.extend(["500"] * 4)
    client = make_client(server, clock, tmp_path, retry=RetryPolicy(max_attempts=4))

    async def go():
        samples = await client.generate(ask("doomed"))
        ok = await client.generate(ask("fine"))
        await client.aclose()
        return samples, ok

    (failed,), (ok,) = asyncio.run(go())
    assert failed.text is None and failed.error_kind == ErrorKind.SERVER
    assert "gave up after 4 attempts" in (failed.error or "")
    assert ok.text == "fine #0"
    assert client.stats.failures == {"server_error": 1}
    assert len(ResponseCache(tmp_path / "cache.sqlite")) == 1  # the error was not cached


def test_total_retry_time_is_capped(server, clock, tmp_path):
    server.state.retry_after = "100"
    server.state.faults.extend(["429"] * 10)
    client = make_client(server, clock, tmp_path, retry=RetryPolicy(max_attempts=10, max_total_seconds=250))
    (samples,) = asyncio.run(client.generate_many([ask("x")]))
    assert samples[0].error_kind == ErrorKind.RATE_LIMIT
    assert sum(clock.sleeps) <= 250 and len(server.state.model_requests()) == 3


def test_n_samples_in_one_call_come_back_in_sample_order_even_when_choices_are_reordered(
    server, clock, tmp_path
):
    server.state.reorder_choices = True
    texts = run(make_client(server, clock, tmp_path), [ask("rubric", samples=(0, 1, 2), seed=0)])
    assert texts == [["rubric #0", "rubric #1", "rubric #2"]]
    assert [r["raw"].count(b'"n":3') for r in server.state.model_requests()] == [1]


def test_a_server_that_ignores_n_still_yields_every_sample(server, clock, tmp_path):
    server.state.ignore_n = True
    client = make_client(server, clock, tmp_path)
    texts = run(client, [ask("rubric", samples=(0, 1, 2), seed=10)])
    assert len(server.state.model_requests()) == 3
    assert texts == [["rubric #10", "rubric #11", "rubric #12"]]  # one call per sample, seeds 10, 11, 12


def test_a_rerun_is_served_from_the_cache_with_zero_requests(server, clock, tmp_path):
    requests = [ask(f"p{i}", samples=(0, 1, 2), seed=0) for i in range(5)]
    first = run(make_client(server, clock, tmp_path), requests)
    sent = len(server.state.model_requests())
    again = make_client(server, clock, tmp_path)
    assert run(again, requests) == first
    assert len(server.state.model_requests()) == sent
    assert again.stats.samples_cached == 15 and again.stats.calls_made == 0
    refresh = make_client(server, clock, tmp_path, cache_mode=CacheMode.REFRESH)
    run(refresh, requests)
    assert len(server.state.model_requests()) == 2 * sent


def test_different_sampling_or_template_version_is_a_different_cache_entry(server, clock, tmp_path):
    run(make_client(server, clock, tmp_path), [ask("p")])
    other = GenerateRequest(
        ask("p").messages, SamplingParams(max_tokens=50, temperature=0.0), template_version="test-v1"
    )
    newer = GenerateRequest(ask("p").messages, ask("p").params, template_version="test-v2")
    run(make_client(server, clock, tmp_path), [other, newer])
    assert len(server.state.model_requests()) == 3


def test_a_bad_key_stops_the_run_without_leaking_it(server, clock, tmp_path):
    server.state.faults.append("401")
    client = make_client(server, clock, tmp_path)
    with pytest.raises(FatalBackendError) as raised:
        run(client, [ask(f"p{i}") for i in range(3)])
    assert "Incorrect API key" in str(raised.value) and FAKE_OPENAI_KEY not in str(raised.value)
    assert files_containing(tmp_path, FAKE_OPENAI_KEY) == []


def test_missing_key_fails_before_any_request(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MissingCredentialsError, match=r"OPENAI_API_KEY.*provider=anthropic.*provider=hf"):
        OpenAIBackend("gpt-4", base_url=f"{server.url}/v1")
    assert server.state.requests == []


def test_openai_compatible_server_needs_no_key_but_a_url(server, clock, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ValueError, match="base_url"):
        OpenAIBackend("llama", provider="openai-compatible")
    backend = OpenAIBackend("llama", provider="openai-compatible", base_url=f"{server.url}/v1")
    client = ModelClient(backend, sleep=clock.sleep, clock=clock)
    assert run(client, [ask("local")]) == [["local #0"]]
    assert b"max_tokens" in server.state.model_requests()[0]["raw"]


def test_budget_stops_calls_before_it_is_exceeded(server, clock, tmp_path):
    prices = PriceTable({"gpt-4": Price(input_per_mtok=1000.0, output_per_mtok=1000.0)})
    # Per call: worst case ~(45 + 50) tokens * $0.001 = $0.095, real ~12 tokens = $0.012.
    client = make_client(server, clock, tmp_path, prices=prices, budget_usd=0.1, concurrency=1)
    results = asyncio.run(client.generate_many([ask(f"p{i}") for i in range(10)]))
    done = [s for (s,) in results if s.ok]
    stopped = [s for (s,) in results if not s.ok]
    assert 0 < len(done) < 10 and all(s.error_kind == ErrorKind.BUDGET for s in stopped)
    assert client.stats.cost_usd <= 0.1 and len(server.state.model_requests()) == len(done)


def test_budget_needs_a_price(server, clock, tmp_path):
    with pytest.raises(ValueError, match="price"):
        make_client(server, clock, tmp_path, prices=PriceTable({}), budget_usd=1.0)
