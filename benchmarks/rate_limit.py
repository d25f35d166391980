"""Grading at a provider's rate limit: fixed concurrency 4, 16 and 64 against adaptive (ceiling 64).

Each configuration grades the same N requests against its own loopback provider (tests/graders/llm_servers.py)
that enforces a token bucket (requests/s and tokens/min, one second of burst), answers after a log-normal
latency (median 0.2 s, sigma 0.6: GPT-4's ~10 s scaled down to keep the run short) and sends OpenAI-style
rate-limit headers, with a 429 and `retry-after-ms` past the limit. The configurations run one after the
other at two limits:

- request-bound: 40 requests/s (tokens unlimited);
- token-bound: 3M tokens/min (50,000 tokens/s = ~30 requests/s at the ~1,640 tokens each request is
  charged: ~1,140 prompt tokens + 500 max_tokens), requests unlimited.

Reported per configuration: the share of the limit achieved (what the server admitted between its first and
last admission, less the first burst, over what the limit allows in that time), 429s per admitted request,
and the wall clock. Targets: adaptive
>= 90% of the limit with <= 10% refusals at both limits. `--headers none` runs the same without rate-limit
headers or Retry-After (a bare 429, as many OpenAI-compatible servers send it).

    .venv/bin/python benchmarks/rate_limit.py                  # 300 requests, both limits (~2 minutes)
    .venv/bin/python benchmarks/rate_limit.py --requests 500   # the recorded figures (~3 minutes)
    .venv/bin/python benchmarks/rate_limit.py --headers none   # 429s alone
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "graders"))  # the loopback provider
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages

from llm_servers import RateLimits, ScriptedLLMServer, ServerState

from graders.backends.openai_chat import OpenAIBackend
from graders.client import GenerateRequest, ModelClient
from graders.interface import SamplingParams
from graders.retry import RetryPolicy

LATENCY = (0.2, 0.6)
"""Median seconds and sigma of the log-normal answer time (GPT-4 takes ~10 s; scaled down for a short run)."""
PARAMS = SamplingParams(max_tokens=500, temperature=1.0)
PROMPT_CHARS = 4_500
"""~1,140 tokens at 4 characters per token: a SKILL-MIX rubric prompt with its answer."""
CONFIGURATIONS = (
    ("fixed 4", 4, False),
    ("fixed 16", 16, False),
    ("fixed 64", 64, False),
    ("adaptive ≤64", 64, True),
)


@dataclass(frozen=True)
class Outcome:
    label: str
    share: float
    refusals_per_admitted: float
    seconds: float
    failed: int
    summary: str


def prompts(n: int) -> list[str]:
    filler = "The answer to grade, with its skills and topic. " * (PROMPT_CHARS // 49)
    return [f"Grade answer {i}. {filler}" for i in range(n)]


def share_of_limit(state: ServerState, limits: RateLimits) -> float:
    """What the server admitted from the first admission to the last, less the one burst its bucket held at
    the start, over what the limit refills in that time: at most 1 by the bucket's arithmetic."""
    first, last = state.admissions[0][0], state.admissions[-1][0]
    if limits.requests_per_second:
        rate, charged = limits.requests_per_second, sum(r for _, r, _ in state.admissions)
    else:
        rate, charged = (limits.tokens_per_minute or 0) / 60, sum(t for _, _, t in state.admissions)
    return (charged - rate * limits.burst_seconds) / (rate * (last - first))


async def grade(label: str, limits: RateLimits, texts: list[str], ceiling: int, adaptive: bool) -> Outcome:
    state = ServerState(latency_spread=LATENCY, limits=limits)
    with ScriptedLLMServer(state) as server:
        client = ModelClient(
            OpenAIBackend("gpt-4-0613", base_url=f"{server.url}/v1"),
            concurrency=ceiling,
            adaptive=adaptive,
            retry=RetryPolicy(max_attempts=6, max_total_seconds=600),
        )
        requests = [GenerateRequest([{"role": "user", "content": t}], PARAMS) for t in texts]
        start = time.perf_counter()
        results = await client.generate_many(requests)
        seconds = time.perf_counter() - start
        await client.backend.aclose()
    failed = sum(1 for (sample,) in results if not sample.ok)
    return Outcome(
        label,
        share_of_limit(state, limits),
        state.refused / max(1, state.admitted),
        seconds,
        failed,
        client.stats.summary(),
    )


async def compare(name: str, limits: RateLimits, texts: list[str]) -> list[Outcome]:
    print(f"\n{name}: {len(texts)} requests, headers={limits.headers}")
    outcomes = [
        await grade(label, limits, texts, ceiling, adaptive) for label, ceiling, adaptive in CONFIGURATIONS
    ]
    print(
        f"{'configuration':<14} {'share of limit':>14} {'429s/admitted':>14} {'wall clock':>11} {'failed':>7}"
    )
    for o in outcomes:
        row = f"{o.label:<14} {o.share:>13.0%} {o.refusals_per_admitted:>14.2f} {o.seconds:>9.1f} s"
        print(f"{row} {o.failed:>7}")
    print(f"adaptive client: {outcomes[-1].summary}")
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--headers", choices=("openai", "anthropic", "none"), default="openai")
    parser.add_argument("--limit", choices=("requests", "tokens", "both"), default="both")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-local-benchmark")
    texts = prompts(args.requests)
    limits = {
        "requests": (
            "request-bound (40 requests/s)",
            RateLimits(requests_per_second=40, headers=args.headers),
        ),
        "tokens": (
            "token-bound (3M tokens/min)",
            RateLimits(tokens_per_minute=3_000_000, headers=args.headers),
        ),
    }
    chosen = list(limits) if args.limit == "both" else [args.limit]
    verdicts = []
    for key in chosen:
        name, limit = limits[key]
        adaptive = asyncio.run(compare(name, limit, texts))[-1]
        verdicts.append(adaptive.share >= 0.9 and adaptive.refusals_per_admitted <= 0.1)
    print(
        f"\ntargets (adaptive >= 90% of the limit, <= 10% refusals): {'met' if all(verdicts) else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
