"""Anthropic Messages through the official SDK (`anthropic.AsyncAnthropic`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import anthropic

from graders.backends.sdk_errors import SdkBackend
from graders.credentials import require_env
from graders.interface import BackendError, Completion, ErrorKind, Message, SamplingParams, Usage
from graders.rate_limit import rate_limit_headers

ANTHROPIC_URL = "https://api.anthropic.com"


def resolve_base_url(base_url: str | None) -> str:
    """The URL calls go to (part of every cache key): `base_url`, else `$ANTHROPIC_BASE_URL`, else
    Anthropic's."""
    return (base_url or os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_URL).rstrip("/")


class AnthropicBackend(SdkBackend[anthropic.AsyncAnthropic]):
    """Messages API calls, one sample per call (the API has no `n`), SDK retries off.

    The key is passed to the SDK explicitly, so it never falls back to on-disk profiles: what runs is
    what the environment says. Temperature and top_p go in the request body as given (the SDK's typed
    signature no longer lists them; models that accept them still honour them). The API has no seed.

    Args:
        model: Model id, e.g. "claude-3-opus-20240229".
        base_url: Default `$ANTHROPIC_BASE_URL`, else api.anthropic.com.
        api_key_env: The environment variable that holds the key.
    """

    provider = "anthropic"
    max_samples_per_call = 1

    def __init__(
        self, model: str, *, base_url: str | None = None, api_key_env: str = "ANTHROPIC_API_KEY"
    ) -> None:
        key = require_env(
            api_key_env,
            alternatives=(
                "Or grade with provider=openai (OPENAI_API_KEY), provider=openai-compatible with a local "
                "server's base_url, or provider=hf for an in-process Hugging Face model."
            ),
        )
        self.model = model
        self.base_url = resolve_base_url(base_url)
        client = anthropic.AsyncAnthropic(api_key=key, base_url=self.base_url, max_retries=0)
        super().__init__(anthropic, client, key)

    def request_params(self, messages: Sequence[Message], params: SamplingParams) -> dict[str, Any]:
        """The Messages request parameters; also what a Message Batches request carries."""
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "messages": [
                {"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"
            ],
        }
        if system:
            body["system"] = system
        for name in ("temperature", "top_p"):
            value = getattr(params, name)
            if value is not None:
                body[name] = value
        return body

    async def complete(
        self, messages: Sequence[Message], params: SamplingParams, num_samples: int, timeout: float | None
    ) -> Completion:
        if num_samples != 1:
            raise ValueError(f"the Messages API returns one sample per call, asked for {num_samples}")
        body = self.request_params(messages, params)
        sampling = {name: body.pop(name) for name in ("temperature", "top_p") if name in body}
        with self.translated_errors():  # the raw response, for its rate-limit headers
            raw = await self._client.messages.with_raw_response.create(
                **body, extra_body=sampling or None, timeout=timeout
            )
            message = await raw.parse()
        completion = parse_message(message.model_dump(), fallback_model=self.model)
        return replace(completion, headers=rate_limit_headers(raw.headers))


def parse_message(body: dict[str, Any], *, fallback_model: str) -> Completion:
    """The text blocks of one Messages response, joined, with usage and model id."""
    blocks = body.get("content")
    if not isinstance(blocks, list):
        raise BackendError(ErrorKind.MALFORMED, "the response has no content")
    texts = [b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text" and "text" in b]
    if not texts:
        raise BackendError(
            ErrorKind.MALFORMED, f"no text in the response (stop_reason={body.get('stop_reason')})"
        )
    usage = body.get("usage") or {}
    return Completion(
        ("".join(texts),),
        Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)),
        model=body.get("model") or fallback_model,
    )
