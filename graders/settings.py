"""One flat, typed description of a model client, for YAML configs, the CLI and the evaluation callback.

It holds names of environment variables, never keys, so it is safe to save with a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from graders.cache import CacheMode, ResponseCache, default_cache_path
from graders.client import ModelClient
from graders.interface import Backend, Completion, Message, SamplingParams
from graders.pricing import PriceTable
from graders.progress import RichProgress
from graders.retry import RetryPolicy
from skillmix.errors import InputError

Provider = Literal["openai", "openai-compatible", "anthropic", "hf"]

SAMPLES_PER_CALL: dict[str, int] = {"openai": 16, "openai-compatible": 16, "anthropic": 1, "hf": 8}
"""How many grading rounds of one answer one call asks for (OpenAI's `n`; Anthropic has no such option)."""


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
        concurrency: Most calls in flight at once; with `adaptive`, the ceiling.
        adaptive: Find the level below `concurrency` from the provider: back off on 429s (honouring
            Retry-After), grow while calls succeed, and pace by the rate-limit headers (OpenAI
            x-ratelimit-*, Anthropic anthropic-ratelimit-*). Default: on for openai, openai-compatible and
            anthropic; off for hf.
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
    concurrency: int = 64
    adaptive: bool | None = None
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
                max_samples_per_call=SAMPLES_PER_CALL[self.provider],
            )
        if self.provider == "anthropic":
            from graders.backends.anthropic_messages import AnthropicBackend

            return AnthropicBackend(
                self.model, base_url=self.base_url, api_key_env=self.api_key_env or "ANTHROPIC_API_KEY"
            )
        if self.provider == "hf":
            from graders.backends.huggingface import HuggingFaceBackend

            return HuggingFaceBackend(
                self.model,
                batch_size=self.hf_batch_size,
                device=self.device,
                max_samples_per_call=SAMPLES_PER_CALL["hf"],
            )
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
            adaptive=self.provider != "hf" if self.adaptive is None else self.adaptive,
            timeout=self.timeout,
            retry=RetryPolicy(max_attempts=self.max_attempts, max_total_seconds=self.max_retry_seconds),
            prices=PriceTable.with_overrides(self.prices),
            budget_usd=self.budget_usd,
            progress=progress,
        )

    def planning_client(self, *, read_cache: bool = False) -> ModelClient:
        """A client that plans and prices calls like the real one but can make none: no credentials read, no
        model loaded. For dry runs. With `read_cache`, it answers from an existing response cache (to count
        what is already done), else it opens none."""
        if self.provider not in SAMPLES_PER_CALL:
            self.build_backend()  # raises the unknown-provider error
        backend = _PlanningBackend(
            self.provider, self.model, self._resolved_base_url(), SAMPLES_PER_CALL[self.provider]
        )
        cache_path = Path(self.cache or default_cache_path())  # a YAML config may give a string
        reads = read_cache and self.cache_mode == CacheMode.USE.value and cache_path.exists()
        return ModelClient(
            backend,
            cache=ResponseCache(cache_path) if reads else None,
            prices=PriceTable.with_overrides(self.prices),
        )

    def _resolved_base_url(self) -> str:
        """The base URL the real backend would call (cache keys include it)."""
        if self.provider in ("openai", "openai-compatible"):
            from graders.backends.openai_chat import resolve_base_url

            return resolve_base_url(self.base_url)
        if self.provider == "anthropic":
            from graders.backends.anthropic_messages import resolve_base_url as resolve_anthropic_url

            return resolve_anthropic_url(self.base_url)
        return ""


@dataclass
class _PlanningBackend:
    """The `Backend` fields that planning and pricing read; calling it is a bug."""

    provider: str
    model: str
    base_url: str
    max_samples_per_call: int

    async def complete(
        self, messages: Sequence[Message], params: SamplingParams, num_samples: int, timeout: float | None
    ) -> Completion:
        raise RuntimeError("a planning client makes no calls")

    async def aclose(self) -> None:
        return None
