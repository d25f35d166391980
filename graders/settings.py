"""One flat, typed description of a model client, for YAML configs, the CLI and the evaluation callback.

It holds names of environment variables, never keys, so it is safe to save with a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from graders.cache import CacheMode, ResponseCache, default_cache_path
from graders.client import ModelClient
from graders.interface import Backend
from graders.pricing import PriceTable
from graders.progress import RichProgress
from graders.retry import RetryPolicy
from skillmix.errors import InputError

Provider = Literal["openai", "openai-compatible", "anthropic", "hf"]


@dataclass(frozen=True)
class ClientSettings:
    """How to reach a grader (or teacher) model and how hard to try; names env variables, never keys.

    Args:
        provider: "openai" (OPENAI_API_KEY), "anthropic" (ANTHROPIC_API_KEY), "openai-compatible" (a vLLM,
            Ollama, LM Studio or `transformers serve` server at `base_url`), or "hf" (an in-process
            Hugging Face model; `model` is a folder or hub id).
        model: Model id as the provider names it.
        base_url: Server URL; default $OPENAI_BASE_URL / $ANTHROPIC_BASE_URL, else the provider's API.
        api_key_env: Environment variable holding the key (default OPENAI_API_KEY / ANTHROPIC_API_KEY).
        concurrency: Most calls in flight at once.
        timeout: Seconds one call may take before it is retried as a timeout.
        max_attempts: Calls per request including retries.
        max_retry_seconds: Give up on a request after this long, retries included.
        cache: Response cache file; default $SKILLMIX_CACHE_DIR/responses.sqlite, else
            ~/.cache/skillmix-lightning/responses.sqlite.
        cache_mode: "use" (read and write), "refresh" (call again and overwrite) or "off".
        budget_usd: Stop making calls before the estimated spend would pass this.
        prices: JSON/YAML file of model -> {input, output} USD per million tokens, overriding the defaults.
        device: For provider=hf: where the model runs.
        hf_batch_size: For provider=hf: most prompts per `generate` call.
    """

    provider: Provider = "openai"
    model: str = "gpt-4-0613"
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int = 16
    timeout: float = 120.0
    max_attempts: int = 6
    max_retry_seconds: float = 600.0
    cache: Path | None = None
    cache_mode: Literal["use", "refresh", "off"] = "use"
    budget_usd: float | None = None
    prices: Path | None = None
    device: str = "cpu"
    hf_batch_size: int = 8

    def build_backend(self) -> Backend:
        """The backend; fails fast (before any work) when its credentials are missing."""
        if self.provider in ("openai", "openai-compatible"):
            from graders.backends.openai_chat import OpenAIBackend

            return OpenAIBackend(
                self.model,
                provider=self.provider,
                base_url=self.base_url,
                api_key_env=self.api_key_env or "OPENAI_API_KEY",
            )
        if self.provider == "anthropic":
            from graders.backends.anthropic_messages import AnthropicBackend

            return AnthropicBackend(
                self.model, base_url=self.base_url, api_key_env=self.api_key_env or "ANTHROPIC_API_KEY"
            )
        if self.provider == "hf":
            from graders.backends.huggingface import HuggingFaceBackend

            return HuggingFaceBackend(self.model, batch_size=self.hf_batch_size, device=self.device)
        raise InputError(
            f"unknown provider {self.provider!r}; choose openai, openai-compatible, anthropic or hf"
        )

    def build_client(self, progress: RichProgress | None = None) -> ModelClient:
        backend = self.build_backend()
        mode = CacheMode(self.cache_mode)
        cache = None if mode == CacheMode.OFF else ResponseCache(self.cache or default_cache_path())
        return ModelClient(
            backend,
            cache=cache,
            cache_mode=mode,
            concurrency=self.concurrency,
            timeout=self.timeout,
            retry=RetryPolicy(max_attempts=self.max_attempts, max_total_seconds=self.max_retry_seconds),
            prices=PriceTable.with_overrides(self.prices),
            budget_usd=self.budget_usd,
            progress=progress,
        )
