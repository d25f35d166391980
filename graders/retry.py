"""One bounded retry policy for every backend: exponential backoff with jitter that honours Retry-After.

Both caps are hard: at most `max_attempts` calls and at most `max_total_seconds` from the first call to
giving up, so a run can never hang on a provider. Sleep and clock are injectable so tests run instantly.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

from graders.interface import BackendError, ErrorKind
from skillmix.errors import InputError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one request.

    Args:
        max_attempts: Calls per request, the first included (1 disables retries).
        max_total_seconds: Give up once this much time has passed since the first call, or when the next
            wait would end past it.
        initial_delay: Backoff before the first retry, in seconds; doubles per retry.
        max_delay: Cap on one backoff (a longer Retry-After from the server is still honoured).
    """

    max_attempts: int = 6
    max_total_seconds: float = 600.0
    initial_delay: float = 1.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InputError(f"max_attempts must be at least 1, got {self.max_attempts}")

    def backoff(self, retry_number: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry `retry_number` (1-based): "equal jitter" backoff, or the
        server's Retry-After when that is longer."""
        ceiling = min(self.max_delay, self.initial_delay * 2 ** (retry_number - 1))
        delay = rng.uniform(ceiling / 2, ceiling)
        return max(delay, retry_after) if retry_after is not None else delay


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms` (OpenAI), `retry-after` as seconds or an
    HTTP date; None when absent or unreadable."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class RetriesExhausted(BackendError):
    """The last error of a request that used up its attempts or its time."""

    def __init__(self, last: BackendError, attempts: int) -> None:
        super().__init__(last.kind, f"{last} (gave up after {attempts} attempts)", status=last.status)
        self.attempts = attempts


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[BackendError], None] = lambda error: None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Await `call()` until it succeeds, retrying retryable `BackendError`s within the policy's caps.

    A non-retryable error is re-raised at once; an exhausted one is raised as `RetriesExhausted`.
    """
    rng = rng or random.Random()
    started = clock()
    attempt = 1
    while True:
        try:
            return await call()
        except BackendError as error:
            if not error.kind.retryable:
                raise
            if attempt >= policy.max_attempts:
                raise RetriesExhausted(error, attempt) from error
            delay = policy.backoff(attempt, error.retry_after, rng)
            if clock() - started + delay > policy.max_total_seconds:
                raise RetriesExhausted(error, attempt) from error
            on_retry(error)
            await sleep(delay)
            attempt += 1


def timeout_error(seconds: float) -> BackendError:
    return BackendError(ErrorKind.TIMEOUT, f"no response within {seconds:g} s")
