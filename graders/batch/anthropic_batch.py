"""Anthropic Message Batches: submit Messages requests with custom_ids, poll, stream the results JSONL
(each line succeeded, errored, canceled or expired)."""

from __future__ import annotations

from collections.abc import Sequence

from graders.backends.anthropic_messages import AnthropicBackend, parse_message
from graders.batch.protocol import BatchResult, BatchState
from graders.client import PlannedCall
from graders.interface import BackendError


class AnthropicBatchAPI:
    max_requests = 100_000

    def __init__(self, backend: AnthropicBackend) -> None:
        self._backend = backend
        self._client = backend.sdk_client

    async def submit(self, calls: Sequence[tuple[str, PlannedCall]]) -> str:
        requests = []
        for custom_id, call in calls:
            if len(call.sample_indices) != 1:
                raise ValueError("a Message Batches request yields one sample")
            requests.append(
                {"custom_id": custom_id, "params": self._backend.request_params(call.messages, call.params)}
            )
        with self._backend.translated_errors():
            batch = await self._client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        return batch.id

    async def state(self, batch_id: str) -> BatchState:
        with self._backend.translated_errors():
            batch = await self._client.messages.batches.retrieve(batch_id)
        return BatchState(ended=batch.processing_status == "ended", status=batch.processing_status)

    async def results(self, batch_id: str) -> list[BatchResult]:
        results = []
        with self._backend.translated_errors():
            async for item in await self._client.messages.batches.results(batch_id):
                result = item.result.model_dump()
                if result["type"] != "succeeded":
                    reason = result["type"]
                    if result.get("error"):
                        reason += f": {result['error']}"
                    results.append(BatchResult(item.custom_id, None, reason))
                    continue
                try:
                    completion = parse_message(result["message"], fallback_model=self._backend.model)
                except BackendError as error:
                    results.append(BatchResult(item.custom_id, None, error.describe()))
                    continue
                results.append(BatchResult(item.custom_id, completion, None))
        return results
