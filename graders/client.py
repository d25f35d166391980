"""`ModelClient`: what every backend gets once — a concurrency limit (fixed, or adaptive to the provider's
rate limits: `graders.rate_limit`), bounded retries, per-call timeouts, the response cache, usage/cost
accounting, a budget cap and progress.

A request names the sample indices it wants (three grading rounds are samples 0, 1, 2 of one prompt).
Cached samples are served from disk; the rest are grouped into as few calls as the backend allows
(OpenAI's `n`), each written to the cache the moment it returns. A request that exhausts its retries
comes back as a `Sample` with an error, never as an empty text.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from graders.accounting import Budget, RunStats
from graders.cache import CachedResponse, CacheMode, ResponseCache, cache_key
from graders.interface import Backend, BackendError, Completion, ErrorKind, Message, SamplingParams, Usage
from graders.pricing import PriceTable, runs_locally
from graders.progress import RichProgress
from graders.rate_limit import CallCost, RateLimiter
from graders.retry import Clock, RetryPolicy, Sleep, call_with_retries, timeout_error
from skillmix.errors import InputError

log = logging.getLogger(__name__)

_TOKENS_PER_MESSAGE_OVERHEAD = 16
"""For the budget's worst case. A byte-level BPE token covers at least one UTF-8 byte, so a message costs at
most its byte count plus the chat format's few tokens of framing."""


@dataclass(frozen=True)
class GenerateRequest:
    """Ask for some samples of one prompt.

    Args:
        messages: The chat so far.
        params: Sampling parameters.
        sample_indices: Which independent samples to return; each is its own cache entry.
        template_version: Names the prompt template that produced `messages`, so a new template version
            never reuses old responses.
        draw: Which independent draw of this prompt the samples belong to (part of the cache key): a
            grading request names the generation it grades, so equal texts never share their gradings.
    """

    messages: Sequence[Message]
    params: SamplingParams = field(default_factory=SamplingParams)
    sample_indices: Sequence[int] = (0,)
    template_version: str = ""
    draw: str = ""


@dataclass(frozen=True)
class Sample:
    """One sample's outcome: `text`, or `error` saying why there is none."""

    index: int
    text: str | None
    usage: Usage
    cached: bool
    served_by: str | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None

    @property
    def ok(self) -> bool:
        return self.text is not None


@dataclass(frozen=True)
class PlannedCall:
    """One provider call: consecutive samples of one prompt, with the seed for its first sample."""

    messages: Sequence[Message]
    params: SamplingParams
    sample_indices: tuple[int, ...]
    keys: tuple[str, ...]


def _estimated_cost(call: PlannedCall) -> CallCost:
    """What the provider will charge the call's budgets up front: prompt tokens (about 4 characters each,
    as OpenAI estimates them) and `max_tokens` per sample."""
    prompt = sum(len(m["content"]) // 4 + 4 for m in call.messages)
    return CallCost(prompt, call.params.max_tokens * len(call.sample_indices))


class FatalBackendError(InputError, RuntimeError):
    """Nothing in this run can succeed (bad key, no access, unknown model): the run stops."""


class ModelClient:
    """Wraps a backend with the machinery every backend shares. One instance per event loop.

    Args:
        backend: The model to call.
        cache: Response cache; None disables caching.
        cache_mode: `use` (read and write), `refresh` (write only) or `off`.
        concurrency: Most calls in flight at once (with `adaptive`, the ceiling).
        adaptive: Adjust the calls in flight between 1 and `concurrency` from 429s, Retry-After and the
            provider's rate-limit headers (`graders.rate_limit.RateLimiter`).
        timeout: Seconds one call may take before it counts as a timeout (None: no limit).
        retry: Retry policy for rate limits, server errors, timeouts and malformed responses.
        prices: Price table for cost estimates.
        budget_usd: Stop making calls before estimated spend would pass this (None: no cap).
        progress: Live progress display to update.
        sleep, clock, rng: Injected in tests so backoff waits take no time.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        cache: ResponseCache | None = None,
        cache_mode: CacheMode = CacheMode.USE,
        concurrency: int = 16,
        adaptive: bool = False,
        timeout: float | None = 120.0,
        retry: RetryPolicy | None = None,
        prices: PriceTable | None = None,
        budget_usd: float | None = None,
        progress: RichProgress | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.limiter = RateLimiter(concurrency, adaptive=adaptive, clock=clock, sleep=sleep)
        self.backend = backend
        self.cache = cache if cache_mode != CacheMode.OFF else None
        self.cache_mode = cache_mode
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.prices = prices or PriceTable()
        self.price = self.prices.lookup(backend.model)
        if budget_usd is not None and self.price is None:
            raise InputError(
                f"a budget needs a price for model {backend.model!r}; add it with a price file "
                "(see docs/graders.md) or drop the budget"
            )
        self.budget = Budget(budget_usd) if budget_usd is not None else None
        self.progress = progress
        self.local = runs_locally(backend.provider, backend.base_url)
        self.stats = RunStats(rate=self.limiter.stats, local=self.local)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()

    @property
    def identity(self) -> str:
        """`provider:model`, as recorded with every result."""
        return f"{self.backend.provider}:{self.backend.model}"

    def list_price(self, usage: Usage, *, batch: bool = False) -> float | None:
        """What `usage` costs at list price: None for an unpriced API model, 0 for a local one."""
        cost = self.prices.cost(self.backend.model, usage, batch=batch)
        return 0.0 if cost is None and self.local else cost

    def key(self, request: GenerateRequest, sample_index: int) -> str:
        return cache_key(
            provider=self.backend.provider,
            model=self.backend.model,
            base_url=self.backend.base_url,
            messages=request.messages,
            params=request.params,
            template_version=request.template_version,
            sample_index=sample_index,
            draw=request.draw,
        )

    def cached(self, request: GenerateRequest, sample_index: int) -> CachedResponse | None:
        if self.cache is None or self.cache_mode != CacheMode.USE:
            return None
        return self.cache.get(self.key(request, sample_index))

    def plan(self, request: GenerateRequest, sample_indices: Sequence[int]) -> list[PlannedCall]:
        """Group samples into calls: runs of consecutive indices, at most `max_samples_per_call` each."""
        calls: list[PlannedCall] = []
        run: list[int] = []
        for index in sorted(sample_indices):
            if run and (index != run[-1] + 1 or len(run) == self.backend.max_samples_per_call):
                calls.append(self._planned(request, run))
                run = []
            run.append(index)
        if run:
            calls.append(self._planned(request, run))
        return calls

    def _planned(self, request: GenerateRequest, indices: Sequence[int]) -> PlannedCall:
        seed = request.params.seed
        params = (
            request.params if seed is None or not indices else replace(request.params, seed=seed + indices[0])
        )
        keys = tuple(self.key(request, i) for i in indices)
        return PlannedCall(request.messages, params, tuple(indices), keys)

    async def generate(self, request: GenerateRequest) -> list[Sample]:
        """The requested samples, in the order of `request.sample_indices`."""
        indices = list(request.sample_indices)
        if len(set(indices)) != len(indices):
            raise ValueError(f"sample_indices must be distinct, got {indices}")
        self.stats.samples_requested += len(indices)
        results: dict[int, Sample] = {}
        missing = []
        for index in indices:
            hit = self.cached(request, index)
            if hit is None:
                missing.append(index)
                continue
            results[index] = Sample(index, hit.text, hit.usage, cached=True, served_by=hit.served_by)
            self.stats.samples_done += 1
            self.stats.samples_cached += 1
        self._show()
        for outcome in await asyncio.gather(
            *(self._run(request, call) for call in self.plan(request, missing))
        ):
            results.update(outcome)
        return [results[i] for i in indices]

    async def generate_many(self, requests: Sequence[GenerateRequest]) -> list[list[Sample]]:
        """`generate` for every request concurrently (within the concurrency limit), results in order.
        A fatal error cancels the rest and is raised."""
        tasks = [asyncio.ensure_future(self.generate(r)) for r in requests]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _run(self, request: GenerateRequest, call: PlannedCall) -> dict[int, Sample]:
        """Make `call`, and follow-up calls for any samples a server left out (some ignore `n`)."""
        outcome: dict[int, Sample] = {}
        while call.sample_indices:
            try:
                completion = await self._call_with_budget(call)
            except BackendError as error:
                if error.kind == ErrorKind.FATAL:
                    raise FatalBackendError(error.describe()) from error
                self._record_failure(call, error, outcome)
                break
            received = call.sample_indices[: len(completion.texts)]
            usages = completion.usage.split(len(received))
            entries = []
            for index, key, text, usage in zip(received, call.keys, completion.texts, usages, strict=False):
                outcome[index] = Sample(index, text, usage, cached=False, served_by=completion.model)
                entries.append((key, CachedResponse(text, usage, completion.model, via_batch=False)))
            if self.cache is not None:
                self.cache.put_many(entries, provider=self.backend.provider, model=self.backend.model)
            self.stats.samples_done += len(received)
            self._show()
            call = self._planned(request, call.sample_indices[len(received) :])
        return outcome

    def _record_failure(self, call: PlannedCall, error: BackendError, outcome: dict[int, Sample]) -> None:
        for index in call.sample_indices:
            outcome[index] = Sample(
                index, None, Usage(), False, error=error.describe(), error_kind=error.kind
            )
        failed = len(call.sample_indices)
        self.stats.samples_done += failed
        self.stats.samples_failed += failed
        self.stats.failures[error.kind.value] += failed
        self._show()

    async def _call_with_budget(self, call: PlannedCall) -> Completion:
        worst_case = 0.0
        if self.budget is not None and self.price is not None:
            input_bound = sum(
                len(m["content"].encode()) + _TOKENS_PER_MESSAGE_OVERHEAD for m in call.messages
            )
            output_bound = call.params.max_tokens * len(call.sample_indices)
            worst_case = self.price.cost(Usage(input_bound, output_bound))
            if not self.budget.try_reserve(worst_case):
                raise BackendError(
                    ErrorKind.BUDGET,
                    f"budget of ${self.budget.limit_usd:.2f} reached (spent ${self.budget.spent_usd:.4f})",
                )
        try:
            completion = await call_with_retries(
                lambda: self._attempt(call),
                self.retry,
                on_retry=self._count_retry,
                sleep=self._sleep,
                clock=self._clock,
                rng=self._rng,
            )
        except BaseException:
            if self.budget is not None:
                self.budget.settle(worst_case, 0.0)
            raise
        cost = self._charge(completion)
        if self.budget is not None:
            self.budget.settle(worst_case, cost)
        return completion

    async def _attempt(self, call: PlannedCall) -> Completion:
        ticket = await self.limiter.acquire(_estimated_cost(call))
        self.stats.calls_made += 1
        self.stats.calls_in_flight += 1
        self._show()
        try:
            request = self.backend.complete(
                call.messages, call.params, len(call.sample_indices), self.timeout
            )
            completion = await asyncio.wait_for(request, self.timeout)
        except asyncio.TimeoutError as timed_out:
            self.limiter.failed(ticket)
            raise timeout_error(self.timeout or 0.0) from timed_out
        except BackendError as error:
            if error.kind == ErrorKind.RATE_LIMIT:
                self.limiter.rate_limited(ticket, error.headers, error.retry_after)
            else:
                self.limiter.failed(ticket, error.headers)
            raise
        except BaseException:
            self.limiter.failed(ticket)
            raise
        else:
            tokens = completion.usage.input_tokens + completion.usage.output_tokens
            self.limiter.succeeded(ticket, completion.headers, tokens)
        finally:
            self.stats.calls_in_flight -= 1
        if not completion.texts:
            raise BackendError(ErrorKind.MALFORMED, "the response has no choices")
        if len(completion.texts) > len(call.sample_indices):
            raise BackendError(ErrorKind.MALFORMED, f"asked for {len(call.sample_indices)} samples, got more")
        return completion

    def _count_retry(self, error: BackendError) -> None:
        self.stats.retries[error.kind.value] += 1
        self._show()

    def _charge(self, completion: Completion) -> float:
        self.stats.usage = self.stats.usage + completion.usage
        if self.price is None:
            if not self.local:
                self.stats.unpriced_calls += 1
            return 0.0
        cost = self.price.cost(completion.usage)
        self.stats.cost_usd += cost
        return cost

    def _show(self) -> None:
        if self.progress is not None:
            self.progress.show(self.stats)

    async def aclose(self) -> None:
        await self.backend.aclose()
        if self.stats.samples_requested:
            log.info("%s: %s", self.identity, self.stats.summary())
