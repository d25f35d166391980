"""Grading throughput: N grading requests against a local OpenAI-compatible server with fixed latency.

Three runs over the same N prompts:
1. sequential: one blocking `openai.OpenAI` call after another, as the reference SKILL-MIX code grades;
2. concurrent: `graders.ModelClient` with C calls in flight and an empty response cache;
3. cached re-run: a fresh client on the same cache (a re-run of the same evaluation).

    .venv/bin/python benchmarks/grading_throughput.py                  # 500 requests, 200 ms, 32 in flight
    .venv/bin/python benchmarks/grading_throughput.py --requests 100   # quicker

The server is the scripted one the tests use (tests/graders/llm_servers.py); nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "graders"))

from llm_servers import ScriptedLLMServer, ServerState

from graders.backends.openai_chat import OpenAIBackend
from graders.cache import ResponseCache
from graders.client import GenerateRequest, ModelClient
from graders.interface import SamplingParams

PARAMS = SamplingParams(max_tokens=256, temperature=1.0)


def prompts(n: int) -> list[str]:
    return [f"Grade answer {i} with the rubric table." for i in range(n)]


def sequential(url: str, texts: list[str]) -> list[str]:
    client = openai.OpenAI(base_url=url, max_retries=0)
    replies = []
    for text in texts:
        response = client.chat.completions.create(
            model="gpt-4-0613", messages=[{"role": "user", "content": text}], max_tokens=256, temperature=1.0
        )
        replies.append(response.choices[0].message.content or "")
    return replies


async def concurrent(
    url: str, texts: list[str], cache_path: Path, concurrency: int
) -> tuple[list[str], ModelClient]:
    client = ModelClient(
        OpenAIBackend("gpt-4-0613", base_url=url), cache=ResponseCache(cache_path), concurrency=concurrency
    )
    requests = [GenerateRequest([{"role": "user", "content": t}], PARAMS) for t in texts]
    results = await client.generate_many(requests)
    await client.aclose()
    return [samples[0].text or "" for samples in results], client


def timed(label: str, run):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    print(f"{label:<28} {seconds:8.2f} s")
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server takes per request")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-local-benchmark")
    texts = prompts(args.requests)
    with ScriptedLLMServer(ServerState(latency=args.latency)) as server, tempfile.TemporaryDirectory() as tmp:
        url = f"{server.url}/v1"
        print(f"{args.requests} requests, {args.latency * 1000:.0f} ms latency, {args.concurrency} in flight")
        reference, t_seq = timed("sequential (reference way)", lambda: sequential(url, texts))
        cache = Path(tmp) / "cache.sqlite"
        (ours, client), t_conc = timed(
            f"concurrent ({args.concurrency} in flight)",
            lambda: asyncio.run(concurrent(url, texts, cache, args.concurrency)),
        )
        before = len(server.state.model_requests())
        (cached, rerun), t_cache = timed(
            "cached re-run", lambda: asyncio.run(concurrent(url, texts, cache, args.concurrency))
        )
        new_requests = len(server.state.model_requests()) - before
        assert ours == reference == cached, "the three runs must return the same replies"
        peak = server.state.max_in_flight
        print(f"speed-up concurrent vs sequential: {t_seq / t_conc:.1f}x (peak in flight {peak})")
        print(
            f"cached re-run: {new_requests} requests to the server, {rerun.stats.samples_cached} cache hits"
        )
        print(f"speed-up cached re-run vs sequential: {t_seq / t_cache:.0f}x")
        print(f"client stats: {client.stats.summary()}")


if __name__ == "__main__":
    main()
