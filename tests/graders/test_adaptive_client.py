"""The adaptive client against a loopback provider with a hard rate limit (token buckets, 429 past them):
never more than the ceiling in flight, refusals bounded, every request answered once; with the provider's
headers, and with none (a bare 429, as many OpenAI-compatible servers send)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from llm_servers import RateLimits, ScriptedLLMServer, ServerState

from graders.accounting import RunStats
from graders.backends.anthropic_messages import AnthropicBackend
from graders.backends.openai_chat import OpenAIBackend
from graders.client import GenerateRequest, ModelClient
from graders.interface import Backend, SamplingParams
from graders.progress import RichProgress
from graders.retry import RetryPolicy
from graders.settings import ClientSettings

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("fake_keys")]
QUICK_RETRIES = RetryPolicy(max_attempts=3, max_total_seconds=60, initial_delay=0.05, max_delay=0.5)


def requests(n: int) -> list[GenerateRequest]:
    return [
        GenerateRequest([{"role": "user", "content": f"grade answer {i}"}], SamplingParams(max_tokens=20))
        for i in range(n)
    ]


def run(backend: Backend, n: int, ceiling: int) -> tuple[ModelClient, list[str | None]]:
    client = ModelClient(backend, concurrency=ceiling, adaptive=True, retry=QUICK_RETRIES, timeout=10)

    async def go() -> list[str | None]:
        try:
            results = await client.generate_many(requests(n))
        finally:
            await client.aclose()
        return [samples[0].text for samples in results]

    return client, asyncio.run(go())


def limited_server(limits: RateLimits) -> ScriptedLLMServer:
    return ScriptedLLMServer(ServerState(latency_spread=(0.05, 0.5), limits=limits))


def assert_every_request_answered_once(state: ServerState, texts: list[str | None]) -> None:
    assert texts == [f"grade answer {i} #0" for i in range(len(texts))]
    assert state.answered == {f"grade answer {i}": 1 for i in range(len(texts))}


def test_with_openai_headers_it_stays_under_the_ceiling_and_rarely_draws_a_429():
    with limited_server(RateLimits(requests_per_second=40, headers="openai")) as server:
        client, texts = run(OpenAIBackend("gpt-4", base_url=f"{server.url}/v1"), 80, ceiling=16)
    state = server.state
    assert_every_request_answered_once(state, texts)
    assert state.max_in_flight <= 16
    assert client.stats.rate is not None and client.stats.rate.refusals == state.refused
    assert state.refused <= 0.2 * state.admitted  # paced by the headers, not found by refusals
    assert client.limiter.mirrors["requests"].capacity == 40
    assert client.stats.samples_failed == 0


def test_without_headers_it_converges_on_429s_alone():
    with limited_server(RateLimits(requests_per_second=30, headers="none")) as server:
        client, texts = run(OpenAIBackend("gpt-4", base_url=f"{server.url}/v1"), 80, ceiling=64)
    state = server.state
    assert_every_request_answered_once(state, texts)
    assert state.max_in_flight <= 64
    assert client.limiter.mirrors == {}  # nothing to pace by
    assert 0 < state.refused <= state.admitted  # a fixed 64 draws several refusals per admitted request
    assert client.limiter.window < 64  # backed off from the ceiling
    assert client.stats.samples_failed == 0  # the 429s cost time, not attempts


@pytest.mark.slow
def test_fixed_concurrency_at_the_same_limit_draws_more_refusals():
    """The comparison that makes the adaptive client worth having (the benchmark measures it fully)."""
    limits = RateLimits(requests_per_second=30, headers="openai")
    with limited_server(limits) as fixed_server:
        backend = OpenAIBackend("gpt-4", base_url=f"{fixed_server.url}/v1")
        fixed = ModelClient(backend, concurrency=64, retry=QUICK_RETRIES)

        async def go() -> None:
            await fixed.generate_many(requests(80))
            await fixed.aclose()

        asyncio.run(go())
    with limited_server(limits) as adaptive_server:
        run(OpenAIBackend("gpt-4", base_url=f"{adaptive_server.url}/v1"), 80, ceiling=64)
    assert adaptive_server.state.refused < fixed_server.state.refused


def test_anthropic_headers_are_surfaced_and_read(tmp_path: Path):
    with limited_server(
        RateLimits(requests_per_second=50, tokens_per_minute=600_000, headers="anthropic")
    ) as srv:
        client, texts = run(AnthropicBackend("claude-3-opus-20240229", base_url=srv.url), 20, ceiling=8)
    assert texts == [f"grade answer {i} #0" for i in range(20)]
    assert set(client.limiter.mirrors) == {"requests", "tokens"}
    assert client.limiter.mirrors["tokens"].capacity == 10_000


def test_a_429_does_not_use_up_an_attempt(server):
    server.state.faults.extend(["429", "429", "429"])
    server.state.retry_after = "0.01"
    backend = OpenAIBackend("gpt-4", base_url=f"{server.url}/v1")
    client = ModelClient(backend, retry=RetryPolicy(max_attempts=1, initial_delay=0.01), adaptive=True)
    ((sample,),) = asyncio.run(client.generate_many(requests(1)))
    assert sample.text == "grade answer 0 #0" and client.stats.retries == {"rate_limit": 3}


def test_adaptive_is_on_for_http_providers_and_can_be_turned_off(server):
    url = f"{server.url}/v1"
    assert (
        ClientSettings(provider="openai-compatible", base_url=url, cache_mode="off")
        .build_client()
        .limiter.adaptive
    )
    fixed = ClientSettings(provider="openai-compatible", base_url=url, cache_mode="off", adaptive=False)
    assert not fixed.build_client().limiter.adaptive
    assert ClientSettings(provider="openai-compatible", base_url=url).concurrency == 64  # the ceiling


def test_the_summary_and_progress_line_show_the_rate_and_the_level(capsys):
    with limited_server(RateLimits(requests_per_second=40)) as server:
        client, _ = run(OpenAIBackend("gpt-4", base_url=f"{server.url}/v1"), 10, ceiling=16)
    summary = client.stats.summary()
    assert "requests/s" in summary and "tokens/s" in summary and "429s" in summary
    assert "window now" in summary and client.stats.to_dict()["rate"]["ceiling"] == 16  # type: ignore[index]
    stats = RunStats(calls_in_flight=3, rate=client.stats.rate)
    with RichProgress("grading") as progress:
        progress.show(stats)
    assert f"in flight 3/{client.limiter.stats.level}" in capsys.readouterr().err
