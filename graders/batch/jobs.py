"""Submit the uncached part of a run to a provider's Batch API, then collect the results into the cache.

Each batch request carries a custom_id (the cache key of its first sample); the cache file remembers,
per submitted batch, which cache keys each custom_id fills. Collecting ingests every answered request,
including those of batches that expired half-way, and reports the rest, which a normal run will then
call live (or a new submission will batch again).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from graders.batch.protocol import BatchAPI
from graders.cache import BatchJob, CachedResponse, ResponseCache
from graders.client import GenerateRequest, ModelClient, PlannedCall
from graders.pricing import PriceTable, cost_text
from graders.retry import Sleep
from skillmix.errors import InputError

log = logging.getLogger(__name__)


def batch_api_for(client: ModelClient) -> BatchAPI:
    from graders.backends.anthropic_messages import AnthropicBackend
    from graders.backends.openai_chat import OpenAIBackend

    backend = client.backend
    if isinstance(backend, OpenAIBackend) and backend.provider == "openai":
        from graders.batch.openai_batch import OpenAIBatchAPI

        return OpenAIBatchAPI(backend)
    if isinstance(backend, AnthropicBackend):
        from graders.batch.anthropic_batch import AnthropicBatchAPI

        return AnthropicBatchAPI(backend)
    raise InputError(
        f"provider {backend.provider!r} has no batch API; batches work with openai and anthropic"
    )


def _require_cache(client: ModelClient) -> ResponseCache:
    if client.cache is None:
        raise InputError("batch mode fills the response cache: it cannot run with the cache off")
    return client.cache


async def submit_batches(client: ModelClient, requests: Sequence[GenerateRequest]) -> list[str]:
    """Submit every sample that is neither cached nor already in a submitted batch; returns batch ids."""
    cache = _require_cache(client)
    backend = client.backend
    already_batched = {
        key
        for job in cache.open_batch_jobs(
            provider=backend.provider, model=backend.model, base_url=backend.base_url
        )
        for keys in job.entries.values()
        for key in keys
    }
    calls: dict[str, PlannedCall] = {}
    for request in requests:
        missing = [
            i
            for i in request.sample_indices
            if client.cached(request, i) is None and client.key(request, i) not in already_batched
        ]
        for call in client.plan(request, missing):
            calls.setdefault(call.keys[0], call)
    api = batch_api_for(client)
    items = list(calls.items())
    batch_ids = []
    for start in range(0, len(items), api.max_requests):
        chunk = items[start : start + api.max_requests]
        batch_id = await api.submit(chunk)
        entries = {custom_id: call.keys for custom_id, call in chunk}
        cache.add_batch_job(
            BatchJob(batch_id, backend.provider, backend.model, backend.base_url, "submitted", entries)
        )
        log.info("submitted batch %s with %d requests", batch_id, len(chunk))
        batch_ids.append(batch_id)
    return batch_ids


@dataclass
class CollectReport:
    ingested_samples: int = 0
    still_running: list[str] = field(default_factory=list)
    missing: Counter[str] = field(default_factory=Counter)
    """Samples without a result, by reason (expired, errored: ..., no result)."""
    cost_usd: float | None = 0.0

    def summary(self) -> str:
        missing = ", ".join(f"{reason} {n}" for reason, n in self.missing.items()) or "none"
        cost = cost_text(self.cost_usd, digits=4)
        running = f"; still running: {', '.join(self.still_running)}" if self.still_running else ""
        return (
            f"ingested {self.ingested_samples} samples (est. batch cost {cost}); missing: {missing}{running}"
        )


async def collect_batches(
    client: ModelClient,
    *,
    wait: bool = True,
    poll_seconds: float = 60.0,
    max_wait_seconds: float = 24 * 3600 + 600,
    prices: PriceTable | None = None,
    sleep: Sleep = asyncio.sleep,
) -> CollectReport:
    """Poll this client's submitted batches (until they end if `wait`) and ingest their results."""
    cache = _require_cache(client)
    backend = client.backend
    api = batch_api_for(client)
    prices = prices or client.prices
    report = CollectReport()
    for job in cache.open_batch_jobs(
        provider=backend.provider, model=backend.model, base_url=backend.base_url
    ):
        state = await api.state(job.batch_id)
        waited = 0.0
        while wait and not state.ended and waited < max_wait_seconds:
            await sleep(poll_seconds)
            waited += poll_seconds
            state = await api.state(job.batch_id)
        if not state.ended:
            report.still_running.append(job.batch_id)
            continue
        answered: set[str] = set()
        for result in await api.results(job.batch_id):
            keys = job.entries.get(result.custom_id)
            if keys is None:
                log.warning("batch %s returned unknown custom_id %s", job.batch_id, result.custom_id)
                continue
            answered.add(result.custom_id)
            if result.completion is None:
                report.missing[(result.error or "error").split(":")[0]] += len(keys)
                continue
            texts = result.completion.texts[: len(keys)]
            usages = result.completion.usage.split(len(texts))
            cache.put_many(
                [
                    (key, CachedResponse(text, usage, result.completion.model, via_batch=True))
                    for key, text, usage in zip(keys, texts, usages, strict=False)
                ],
                provider=backend.provider,
                model=backend.model,
            )
            report.ingested_samples += len(texts)
            report.missing["fewer samples than asked"] += len(keys) - len(texts)
            cost = prices.cost(backend.model, result.completion.usage, batch=True)
            report.cost_usd = None if cost is None or report.cost_usd is None else report.cost_usd + cost
        for custom_id, keys in job.entries.items():
            if custom_id not in answered:
                report.missing["no result"] += len(keys)
        cache.set_batch_status(job.batch_id, f"ingested ({state.status})")
    report.missing = +report.missing
    log.info("batches: %s", report.summary())
    return report
