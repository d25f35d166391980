"""How many calls one client may have in flight, and when the next may go: adaptive concurrency.

A provider's limit is a rate (requests and tokens per minute), not a number of calls in flight, so a fixed
concurrency is either too low (idle budget) or too high (a storm of 429s and backoff). `RateLimiter` keeps
the calls in flight between 1 and a ceiling and learns the level from what the provider says:

- a window in the AIMD style (as TCP does): slow start (+1 per success, doubling per round trip) until the
  first 429, then +1 per window of successes; a 429 multiplies it by `decrease`, once per window of calls
  (the other refusals of the same burst were sent before the cut and say nothing new). It only grows while
  it is full, so it settles near the level the work actually needs;
- a pause for the server's `retry-after` / `retry-after-ms`: no call goes before it ends;
- pacing from the providers' rate-limit headers, where they send them (OpenAI `x-ratelimit-*`, Anthropic
  `anthropic-ratelimit-*`): a mirror of each budget (requests, tokens, ...) is kept from the latest
  response, minus what was sent since, refilled at the rate the headers imply, and a call waits until its
  cost fits, so most 429s never happen.

Without `adaptive` it is a plain concurrency limit (the ceiling), still counting rates and refusals for the
run summary. The clock and sleep are injectable, so the arithmetic is testable without waiting.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from skillmix.errors import InputError

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

DIMENSIONS = ("requests", "tokens", "input_tokens", "output_tokens")
"""The budgets a provider may state; what a call costs in each is `CallCost.of`."""

_OPENAI = "x-ratelimit-{part}-{dimension}"  # part: limit / remaining / reset
_ANTHROPIC = "anthropic-ratelimit-{dimension}-{part}"
_PARTS = ("limit", "remaining", "reset")
_HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "retry-after")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_LONGEST_WAIT = 60.0
"""Re-check at least this often while pacing (a fresh response may bring better news)."""


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The response headers the limiter reads (lower-cased names); backends attach these to results."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith(_HEADER_PREFIXES)}


@dataclass(frozen=True)
class StatedBudget:
    """One budget as a response states it: capacity, what is left, seconds until it is full again."""

    limit: float
    remaining: float
    reset_seconds: float | None


def parse_duration(text: str) -> float | None:
    """OpenAI's reset format ("20ms", "1s", "6m0s", "1h2m3.5s") or plain seconds; None if unreadable."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def reset_seconds(text: str, now_wall: float) -> float | None:
    """Seconds until a budget is full again: OpenAI states a duration, Anthropic an RFC 3339 time."""
    seconds = parse_duration(text)
    if seconds is not None:
        return seconds
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))  # Python 3.10 reads no "Z"
        return max(0.0, moment.timestamp() - now_wall)
    except ValueError:
        return None


def read_budgets(headers: Mapping[str, str], now_wall: float | None = None) -> dict[str, StatedBudget]:
    """The budgets stated in a response's headers, by dimension; empty when the server sends none."""
    now_wall = time.time() if now_wall is None else now_wall
    budgets = {}
    for dimension in DIMENSIONS:
        for style in (_OPENAI, _ANTHROPIC):
            names = [style.format(part=part, dimension=dimension.replace("_", "-")) for part in _PARTS]
            limit, remaining, reset = (headers.get(name) for name in names)
            try:
                stated = StatedBudget(
                    float(limit or 0),
                    max(0.0, float(remaining or 0)),
                    reset_seconds(reset, now_wall) if reset is not None else None,
                )
            except ValueError:
                continue
            if limit is not None and remaining is not None and stated.limit > 0:
                budgets[dimension] = stated
                break
    return budgets


@dataclass(frozen=True)
class CallCost:
    """What one call may take from the provider's budgets, estimated before it is sent."""

    input_tokens: int = 0
    output_tokens: int = 0

    def of(self, dimension: str) -> float:
        if dimension == "requests":
            return 1.0
        if dimension == "input_tokens":
            return float(self.input_tokens)
        if dimension == "output_tokens":
            return float(self.output_tokens)
        return float(self.input_tokens + self.output_tokens)


@dataclass
class _Mirror:
    """Our estimate of one provider budget: `level` at clock time `at`, refilling at `rate` per second."""

    capacity: float
    level: float
    at: float
    rate: float | None
    """Per second, from the headers; None until a response shows the budget partly used."""
    newest: int
    """Sequence number of the call whose response set it (older responses carry older news)."""

    def level_at(self, now: float) -> float:
        refilled = self.level + (self.rate or 0.0) * max(0.0, now - self.at)
        return min(self.capacity, refilled)

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` fits (a cost above the capacity fits a full budget). Without a known
        refill rate it never holds a call back: only a response could free it, and none may be coming."""
        missing = min(cost, self.capacity) - self.level_at(now)
        if missing <= 0 or not self.rate:
            return 0.0
        return missing / self.rate


@dataclass
class Ticket:
    """One admitted call: when it went, its cost, and how much had been sent up to it, per dimension."""

    seq: int
    sent_at: float
    cost: CallCost
    sent_through: dict[str, float]
    window_full: bool


@dataclass
class RateStats:
    """What the limiter saw, for the progress line and the run summary."""

    adaptive: bool
    ceiling: int
    window: float
    calls: int = 0
    succeeded: int = 0
    refusals: int = 0
    """429s received (each retried while the retry policy allows)."""
    tokens: int = 0
    """Tokens the successful calls used, as the provider reported them."""
    started_at: float | None = None
    last_at: float | None = None
    in_flight_seconds: float = 0.0
    """Integral of calls in flight over time (for the mean level)."""

    @property
    def level(self) -> int:
        """Calls that may be in flight now."""
        return max(1, int(self.window))

    @property
    def seconds(self) -> float:
        if self.started_at is None or self.last_at is None:
            return 0.0
        return self.last_at - self.started_at

    def requests_per_second(self) -> float:
        return self.succeeded / self.seconds if self.seconds > 0 else 0.0

    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def mean_in_flight(self) -> float:
        return self.in_flight_seconds / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        mode = f"adaptive, window now {self.level} of {self.ceiling}" if self.adaptive else "fixed"
        return (
            f"{self.requests_per_second():.2f} requests/s, {self.tokens_per_second():,.0f} tokens/s over "
            f"{self.seconds:.1f} s; in flight {self.mean_in_flight():.1f} on average ({mode}); "
            f"429s {self.refusals}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "adaptive": self.adaptive,
            "ceiling": self.ceiling,
            "window": self.level,
            "requests_per_second": round(self.requests_per_second(), 3),
            "tokens_per_second": round(self.tokens_per_second(), 1),
            "mean_in_flight": round(self.mean_in_flight(), 2),
            "rate_limited": self.refusals,
            "seconds": round(self.seconds, 3),
        }


class RateLimiter:
    """Admits calls within a window that adapts to the provider (or a fixed one). One per event loop.

    Args:
        ceiling: Most calls in flight, ever.
        adaptive: Adapt the window and pace from headers; False: a fixed limit of `ceiling`.
        initial: Starting window when adaptive (slow start grows it from there).
        decrease: Factor applied to the window on a 429.
        clock, sleep: Injected in tests.
    """

    def __init__(
        self,
        ceiling: int,
        *,
        adaptive: bool = True,
        initial: int = 4,
        decrease: float = 0.5,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if ceiling < 1:
            raise InputError(f"concurrency must be at least 1, got {ceiling}")
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be between 0 and 1, got {decrease}")
        self.adaptive = adaptive
        self.ceiling = ceiling
        self.decrease = decrease
        self.stats = RateStats(adaptive, ceiling, float(min(ceiling, initial) if adaptive else ceiling))
        self.in_flight = 0
        self.paused_until = 0.0
        self.mirrors: dict[str, _Mirror] = {}
        self._slow_start = True
        self._seq = 0
        self._cut_after = 0
        """A 429 for a call sent at or before this sequence number does not cut the window again."""
        self._sent: dict[str, float] = dict.fromkeys(DIMENSIONS, 0.0)
        self._clock = clock
        self._sleep = sleep
        self._turn = asyncio.Lock()
        self._freed = asyncio.Event()

    @property
    def window(self) -> float:
        return self.stats.window

    async def acquire(self, cost: CallCost) -> Ticket:
        """Wait for a free slot, the end of any pause, and (when paced) room in every known budget."""
        async with self._turn:  # first come, first served
            while True:
                if self.in_flight >= self.stats.level:
                    self._freed.clear()
                    await self._freed.wait()
                    continue
                delay = self.delay(cost, self._clock())
                if delay <= 0:
                    return self._admit(cost)
                await self._sleep(min(delay, _LONGEST_WAIT))

    def delay(self, cost: CallCost, now: float) -> float:
        """Seconds a call of `cost` must still wait for the pause and the budgets (0: it may go)."""
        if not self.adaptive:
            return 0.0
        waits = [self.paused_until - now]
        waits += [mirror.wait_for(cost.of(d), now) for d, mirror in self.mirrors.items()]
        return max(0.0, *waits)

    def _admit(self, cost: CallCost) -> Ticket:
        now = self._clock()
        self._track(now)
        self._seq += 1
        for dimension in DIMENSIONS:
            self._sent[dimension] += cost.of(dimension)
        for dimension, mirror in self.mirrors.items():
            mirror.level = mirror.level_at(now) - cost.of(dimension)
            mirror.at = now
        self.in_flight += 1
        self.stats.calls += 1
        if self.stats.started_at is None:
            self.stats.started_at = now
        return Ticket(self._seq, now, cost, dict(self._sent), self.in_flight >= self.stats.level)

    def succeeded(self, ticket: Ticket, headers: Mapping[str, str] | None = None, tokens: int = 0) -> None:
        """The call returned: grow the window (while it is full) and learn from the headers."""
        self._release(ticket, headers)
        self.stats.succeeded += 1
        self.stats.tokens += tokens
        if self.adaptive and ticket.window_full:
            step = 1.0 if self._slow_start else 1.0 / self.stats.window
            self.stats.window = min(float(self.ceiling), self.stats.window + step)

    def rate_limited(
        self, ticket: Ticket, headers: Mapping[str, str] | None = None, retry_after: float | None = None
    ) -> None:
        """The call drew a 429: cut the window (once per window of calls) and pause for `retry_after`."""
        self._release(ticket, headers)
        self.stats.refusals += 1
        if not self.adaptive:
            return
        if retry_after is not None:
            self.paused_until = max(self.paused_until, self._clock() + retry_after)
        if ticket.seq > self._cut_after:
            self._slow_start = False
            self.stats.window = max(1.0, self.stats.window * self.decrease)
            self._cut_after = self._seq

    def failed(self, ticket: Ticket, headers: Mapping[str, str] | None = None) -> None:
        """The call failed for another reason (server error, timeout, cancelled): no news about the limit."""
        self._release(ticket, headers)

    def _release(self, ticket: Ticket, headers: Mapping[str, str] | None) -> None:
        now = self._clock()
        self._track(now)
        self.in_flight -= 1
        self._freed.set()
        if self.adaptive and headers:
            self._learn(ticket, read_budgets(headers), now)

    def _learn(self, ticket: Ticket, budgets: Mapping[str, StatedBudget], now: float) -> None:
        """Re-base each mirror on the newest response: what it says was left then, refilled since, minus
        what was sent after it (the server had not counted those yet)."""
        for dimension, stated in budgets.items():
            mirror = self.mirrors.get(dimension)
            if mirror is not None and ticket.seq < mirror.newest:
                continue
            rate = mirror.rate if mirror is not None else None
            used = stated.limit - stated.remaining
            if stated.reset_seconds and used > 0:
                rate = used / stated.reset_seconds
            sent_since = self._sent[dimension] - ticket.sent_through[dimension]
            level = stated.remaining + (rate or 0.0) * (now - ticket.sent_at) - sent_since
            self.mirrors[dimension] = _Mirror(stated.limit, min(stated.limit, level), now, rate, ticket.seq)

    def _track(self, now: float) -> None:
        if self.stats.last_at is not None:
            self.stats.in_flight_seconds += self.in_flight * (now - self.stats.last_at)
        self.stats.last_at = now
