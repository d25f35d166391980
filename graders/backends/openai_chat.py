"""OpenAI Chat Completions through the official SDK: api.openai.com, or any OpenAI-compatible server
(vLLM, Ollama, LM Studio, `transformers serve`) through `base_url`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import openai

from graders.backends.sdk_errors import SdkBackend
from graders.credentials import require_env
from graders.interface import BackendError, Completion, ErrorKind, Message, SamplingParams, Usage
from graders.rate_limit import rate_limit_headers
from skillmix.errors import InputError

OPENAI_URL = "https://api.openai.com/v1"
_NO_KEY_PLACEHOLDER = "EMPTY"
"""What an OpenAI-compatible server without authentication gets as a key (the SDK needs a non-empty one)."""


def resolve_base_url(base_url: str | None) -> str:
    """The URL calls go to (part of every cache key): `base_url`, else `$OPENAI_BASE_URL`, else OpenAI's."""
    return (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")


class OpenAIBackend(SdkBackend[openai.AsyncOpenAI]):
    """Chat Completions via `openai.AsyncOpenAI`, with the SDK's own retries off (`ModelClient` retries).

    Args:
        model: Model id, e.g. "gpt-4-0613", or the name a local server serves.
        provider: "openai" (needs a key) or "openai-compatible" (needs a base URL; a key only if the
            server checks one).
        base_url: Server URL ending in /v1; default `$OPENAI_BASE_URL`, else api.openai.com.
        api_key_env: The environment variable that holds the key.
        max_samples_per_call: Largest `n` to ask for in one call.
    """

    def __init__(
        self,
        model: str,
        *,
        provider: str = "openai",
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_samples_per_call: int = 16,
    ) -> None:
        if provider not in ("openai", "openai-compatible"):
            raise InputError(f"provider must be 'openai' or 'openai-compatible', got {provider!r}")
        if provider == "openai":
            key = require_env(
                api_key_env,
                alternatives=(
                    "Or grade with provider=anthropic (ANTHROPIC_API_KEY), with provider=openai-compatible "
                    "and base_url=http://HOST:PORT/v1 for a local vLLM/Ollama server, or with provider=hf "
                    "for an in-process Hugging Face model."
                ),
            )
        else:
            if not (base_url or os.environ.get("OPENAI_BASE_URL")):
                raise InputError(
                    "provider=openai-compatible needs the server's URL: pass base_url=http://HOST:PORT/v1 "
                    "or set OPENAI_BASE_URL"
                )
            key = os.environ.get(api_key_env, "").strip() or _NO_KEY_PLACEHOLDER
        self.provider = provider
        self.model = model
        self.base_url = resolve_base_url(base_url)
        self.max_samples_per_call = max_samples_per_call
        super().__init__(openai, openai.AsyncOpenAI(api_key=key, base_url=self.base_url, max_retries=0), key)

    def request_body(
        self, messages: Sequence[Message], params: SamplingParams, num_samples: int
    ) -> dict[str, Any]:
        """The Chat Completions request body; also what a Batch API line carries."""
        body: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in messages]}
        # OpenAI deprecated max_tokens for max_completion_tokens; compatible servers know max_tokens.
        body["max_completion_tokens" if self.provider == "openai" else "max_tokens"] = params.max_tokens
        if num_samples > 1:
            body["n"] = num_samples
        for name in ("temperature", "top_p", "seed"):
            value = getattr(params, name)
            if value is not None:
                body[name] = value
        return body

    async def complete(
        self, messages: Sequence[Message], params: SamplingParams, num_samples: int, timeout: float | None
    ) -> Completion:
        with self.translated_errors():  # the raw response, for its rate-limit headers
            raw = await self._client.chat.completions.with_raw_response.create(
                **self.request_body(messages, params, num_samples), timeout=timeout
            )
            response = raw.parse()
        completion = parse_chat_completion(response.model_dump(), fallback_model=self.model)
        return replace(completion, headers=rate_limit_headers(raw.headers))


def parse_chat_completion(body: dict[str, Any], *, fallback_model: str) -> Completion:
    """Texts in choice-index order (servers may list choices in any order), usage and model id."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise BackendError(ErrorKind.MALFORMED, "the response has no choices")
    texts = []
    for choice in sorted(choices, key=lambda c: c.get("index", 0)):
        content = (choice.get("message") or {}).get("content")
        if not isinstance(content, str):
            reason = choice.get("finish_reason")
            raise BackendError(ErrorKind.MALFORMED, f"choice {choice.get('index')} has no text ({reason=})")
        texts.append(content)
    usage = body.get("usage") or {}
    return Completion(
        tuple(texts),
        Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
        model=body.get("model") or fallback_model,
    )
