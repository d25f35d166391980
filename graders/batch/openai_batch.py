"""OpenAI Batch API: upload a JSONL of Chat Completions requests, create the batch, read the output and
error files (an expired batch still has an output file for the requests it finished)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from graders.backends.openai_chat import OpenAIBackend, parse_chat_completion
from graders.batch.protocol import BatchResult, BatchState
from graders.client import PlannedCall
from graders.interface import BackendError

_ENDED = {"completed", "expired", "cancelled", "failed"}


class OpenAIBatchAPI:
    max_requests = 50_000

    def __init__(self, backend: OpenAIBackend) -> None:
        self._backend = backend
        self._client = backend.sdk_client

    async def submit(self, calls: Sequence[tuple[str, PlannedCall]]) -> str:
        lines = [
            {
                "custom_id": custom_id,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": self._backend.request_body(call.messages, call.params, len(call.sample_indices)),
            }
            for custom_id, call in calls
        ]
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        with self._backend.translated_errors():
            uploaded = await self._client.files.create(
                file=("skillmix-batch.jsonl", data, "application/jsonl"), purpose="batch"
            )
            batch = await self._client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        return batch.id

    async def state(self, batch_id: str) -> BatchState:
        with self._backend.translated_errors():
            batch = await self._client.batches.retrieve(batch_id)
        return BatchState(ended=batch.status in _ENDED, status=batch.status)

    async def results(self, batch_id: str) -> list[BatchResult]:
        with self._backend.translated_errors():
            batch = await self._client.batches.retrieve(batch_id)
            files = [f for f in (batch.output_file_id, batch.error_file_id) if f]
            contents = [(await self._client.files.content(f)).text for f in files]
        return [
            _parse_line(json.loads(line), self._backend.model)
            for text in contents
            for line in text.splitlines()
            if line.strip()
        ]


def _parse_line(line: dict[str, Any], model: str) -> BatchResult:
    custom_id = str(line.get("custom_id"))
    response = line.get("response") or {}
    if response.get("status_code") == 200:
        try:
            return BatchResult(custom_id, parse_chat_completion(response["body"], fallback_model=model), None)
        except BackendError as error:
            return BatchResult(custom_id, None, error.describe())
    failure = line.get("error") or (response.get("body") or {}).get("error") or {}
    return BatchResult(custom_id, None, f"{failure.get('code', 'error')}: {failure.get('message', '')}")
