"""The adaptive limiter's arithmetic with an injected clock: the window grows while full and calls succeed,
shrinks once per burst of 429s, pauses for Retry-After, and paces by the providers' rate-limit headers."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from grader_fakes import InstantClock

from graders.rate_limit import CallCost, RateLimiter, Ticket, parse_duration, rate_limit_headers, read_budgets

pytestmark = pytest.mark.timeout(10)
ONE = CallCost(100, 50)


def limiter(clock: InstantClock, ceiling: int = 64, **options: object) -> RateLimiter:
    return RateLimiter(ceiling, clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


def admit(limiter: RateLimiter, n: int, cost: CallCost = ONE) -> list[Ticket]:
    async def go() -> list[Ticket]:
        return [await limiter.acquire(cost) for _ in range(n)]

    return asyncio.run(go())


def openai_headers(limit: int, remaining: int, reset: str, dimension: str = "requests") -> dict[str, str]:
    return {
        f"x-ratelimit-limit-{dimension}": str(limit),
        f"x-ratelimit-remaining-{dimension}": str(remaining),
        f"x-ratelimit-reset-{dimension}": reset,
    }


def test_slow_start_grows_by_one_per_success_while_the_window_is_full(clock):
    rl = limiter(clock)
    assert rl.window == 4
    tickets = admit(rl, 4)
    assert [t.window_full for t in tickets] == [False, False, False, True]
    for ticket in tickets:
        rl.succeeded(ticket)
    assert rl.window == 5  # only the call that filled the window says the window was the limit
    full = admit(rl, 5)
    for ticket in full:
        rl.succeeded(ticket)
    assert rl.window == 6 and rl.in_flight == 0


def test_a_window_that_is_not_full_does_not_grow(clock):
    rl = limiter(clock)
    for _ in range(20):
        (ticket,) = admit(rl, 1)
        rl.succeeded(ticket)
    assert rl.window == 4


def test_a_burst_of_429s_halves_the_window_once_then_growth_is_additive(clock):
    rl = limiter(clock, initial=16)
    burst = admit(rl, 16)
    for ticket in burst:
        rl.rate_limited(ticket)
    assert rl.window == 8 and rl.stats.refusals == 16  # one cut for the whole burst, not 16
    again = admit(rl, 8)
    rl.rate_limited(again[0])  # sent after the cut: news, so a second cut
    assert rl.window == 4
    for ticket in again[1:7]:
        rl.succeeded(ticket)
    assert rl.window == 4  # the window was not full when they went
    rl.failed(again[7])
    full = admit(rl, 4)
    rl.succeeded(full[-1])
    assert rl.window == pytest.approx(4.25)  # +1/window: one step per window of successes


def test_the_window_stays_between_1_and_the_ceiling(clock):
    rl = limiter(clock, ceiling=6, initial=4)
    for _ in range(10):
        (ticket,) = admit(rl, 1)
        rl.rate_limited(ticket)
    assert rl.window == 1
    rl = limiter(clock, ceiling=6, initial=4)
    for _ in range(10):
        tickets = admit(rl, rl.stats.level)
        for ticket in tickets:
            rl.succeeded(ticket)
    assert rl.window == 6


def test_retry_after_pauses_every_new_call(clock):
    rl = limiter(clock)
    (ticket,) = admit(rl, 1)
    rl.rate_limited(ticket, retry_after=2.5)
    assert rl.delay(ONE, clock.now) == 2.5
    admit(rl, 1)
    assert clock.now == 2.5 and clock.sleeps == [2.5]


def test_no_slot_means_waiting_for_one_to_be_released(clock):
    rl = limiter(clock, ceiling=2, adaptive=False)

    async def go() -> list[str]:
        events = []
        first = [await rl.acquire(ONE), await rl.acquire(ONE)]

        async def third() -> None:
            await rl.acquire(ONE)
            events.append("third admitted")

        task = asyncio.ensure_future(third())
        await asyncio.sleep(0)
        events.append(f"waiting with {rl.in_flight} in flight")
        rl.succeeded(first[0])
        await task
        return events

    assert asyncio.run(go()) == ["waiting with 2 in flight", "third admitted"]
    assert rl.in_flight == 2


def test_fixed_mode_ignores_429s_and_headers_but_counts_them(clock):
    rl = limiter(clock, ceiling=8, adaptive=False)
    tickets = admit(rl, 8)
    rl.rate_limited(tickets[0], openai_headers(10, 0, "1s"), retry_after=5)
    assert rl.window == 8 and rl.delay(ONE, clock.now) == 0 and rl.mirrors == {}
    assert rl.stats.refusals == 1


def test_openai_headers_pace_calls_to_the_request_budget(clock):
    rl = limiter(clock)
    (ticket,) = admit(rl, 1)
    rl.succeeded(ticket, openai_headers(limit=10, remaining=0, reset="1s"))
    mirror = rl.mirrors["requests"]
    assert mirror.rate == 10.0 and mirror.capacity == 10  # 10 used, full again in 1 s: 10 per second
    assert rl.delay(ONE, clock.now) == pytest.approx(0.1)
    admit(rl, 3)
    assert clock.now == pytest.approx(0.3)  # one call per 0.1 s, as the budget refills


def test_calls_sent_after_the_one_that_reported_are_not_yet_counted_by_the_server(clock):
    rl = limiter(clock)
    first, *later = admit(rl, 4)
    rl.succeeded(first, openai_headers(limit=100, remaining=50, reset="30s"))
    assert rl.mirrors["requests"].level_at(clock.now) == 47  # 50 left then, 3 sent since
    rl.succeeded(later[0], openai_headers(limit=100, remaining=60, reset="30s"))
    rl.succeeded(first, openai_headers(limit=100, remaining=1, reset="30s"))  # older news: ignored
    assert rl.mirrors["requests"].level_at(clock.now) == 58


def test_the_token_budget_holds_a_call_until_its_estimated_tokens_fit(clock):
    rl = limiter(clock)
    (ticket,) = admit(rl, 1)
    rl.succeeded(ticket, openai_headers(limit=10_000, remaining=1_000, reset="6s", dimension="tokens"))
    # 9,000 used and full in 6 s: 1,500 tokens/s; a 1,600-token call needs 600 more: 0.4 s
    assert rl.delay(CallCost(1_100, 500), clock.now) == pytest.approx(0.4)
    # a call larger than the whole budget goes once the budget is full, not never
    assert rl.delay(CallCost(50_000, 0), clock.now) == pytest.approx(6.0)


def test_a_budget_without_a_refill_rate_never_holds_calls_back(clock):
    rl = limiter(clock)
    (ticket,) = admit(rl, 1)
    rl.succeeded(ticket, {"x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "0"})
    assert rl.mirrors["requests"].rate is None
    assert rl.delay(ONE, clock.now) == 0  # nothing in flight could ever re-base it: do not wait forever


def test_a_429_with_headers_rebases_the_budget_too(clock):
    rl = limiter(clock)
    (ticket,) = admit(rl, 1)
    rl.rate_limited(ticket, openai_headers(limit=20, remaining=0, reset="2s"), retry_after=0.05)
    assert rl.mirrors["requests"].rate == 10.0
    assert rl.delay(ONE, clock.now) == pytest.approx(0.1)  # the budget binds longer than the pause


def test_rate_limit_headers_are_read_in_both_providers_formats():
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()
    anthropic = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2024-05-01T12:00:01.200Z",
        "anthropic-ratelimit-input-tokens-limit": "40000",
        "anthropic-ratelimit-input-tokens-remaining": "38000",
        "anthropic-ratelimit-input-tokens-reset": "2024-05-01T12:00:03Z",
    }
    budgets = read_budgets(anthropic, now_wall=now)
    assert set(budgets) == {"requests", "input_tokens"}
    assert budgets["requests"].limit == 50 and budgets["requests"].reset_seconds == pytest.approx(1.2)
    assert budgets["input_tokens"].remaining == 38_000 and budgets["input_tokens"].reset_seconds == 3
    openai = openai_headers(10_000, 9_999, "6m0s") | openai_headers(300_000, 299_000, "200ms", "tokens")
    budgets = read_budgets(openai)
    assert budgets["requests"].reset_seconds == 360 and budgets["tokens"].reset_seconds == pytest.approx(0.2)
    assert read_budgets({"x-ratelimit-limit-requests": "lots", "x-ratelimit-remaining-requests": "1"}) == {}
    assert read_budgets({"content-type": "application/json"}) == {}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("20ms", 0.02), ("6m0s", 360.0), ("1h2m3.5s", 3723.5), ("0.250s", 0.25), ("7", 7.0)],
)
def test_reset_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "s"])
def test_unreadable_durations_are_none(text):
    assert parse_duration(text) is None


def test_only_rate_limit_headers_are_kept():
    kept = rate_limit_headers(
        {"X-RateLimit-Remaining-Requests": "3", "Retry-After-Ms": "20", "Set-Cookie": "secret", "date": "x"}
    )
    assert kept == {"x-ratelimit-remaining-requests": "3", "retry-after-ms": "20"}


def test_the_stats_report_rates_the_mean_level_and_429s(clock):
    rl = limiter(clock, initial=2)
    tickets = admit(rl, 2)
    clock.now = 2.0
    rl.succeeded(tickets[0], tokens=1_000)
    rl.rate_limited(tickets[1])
    stats = rl.stats
    assert stats.requests_per_second() == 0.5 and stats.tokens_per_second() == 500
    assert stats.mean_in_flight() == 2.0 and stats.refusals == 1
    assert "0.50 requests/s, 500 tokens/s over 2.0 s" in stats.summary() and "429s 1" in stats.summary()
    assert stats.to_dict()["rate_limited"] == 1 and stats.to_dict()["window"] == 1
