"""The one small interface every model backend implements, and the values that cross it.

A backend turns chat messages plus sampling parameters into text. Everything that every backend needs
(concurrency, retries, the cache, cost accounting) lives once in `graders.client`, not per provider, so a
backend only has to make one call and translate its provider's failures into `BackendError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Protocol, TypedDict

from skillmix.errors import InputError
from skillmix.graded import Usage


class Message(TypedDict):
    """One chat turn in the OpenAI wire shape: role is "system", "user" or "assistant"."""

    role: str
    content: str


@dataclass(frozen=True)
class SamplingParams:
    """How a provider samples. Every field is part of the response-cache key.

    Args:
        max_tokens: Most tokens the model may generate per sample.
        temperature: Sampling temperature; None leaves the provider's default (and omits it from the call).
        top_p: Nucleus sampling mass; None leaves the provider's default.
        seed: Base seed where the provider honours one; sample i of a call that starts at sample index s
            is requested with seed + s, so separate calls for separate samples differ.
    """

    max_tokens: int = 1024
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise InputError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.temperature is not None and self.temperature < 0:
            raise InputError(f"temperature must be >= 0, got {self.temperature}")

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class Completion:
    """What one provider call returned: one text per sample, in sample order."""

    texts: tuple[str, ...]
    usage: Usage
    model: str
    """The model id the provider reports having used (it may name a dated snapshot)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The response's rate-limit headers (`graders.rate_limit.rate_limit_headers`), for the limiter."""


class ErrorKind(str, Enum):
    RATE_LIMIT = "rate_limit"
    SERVER = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    MALFORMED = "malformed_response"
    REJECTED = "rejected"
    """The provider refused this request (a 4xx other than 429): retrying the same request cannot help."""
    FATAL = "fatal"
    """Wrong key, no permission, unknown model: nothing else in the run can succeed either."""
    BUDGET = "budget_exhausted"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = {
    ErrorKind.RATE_LIMIT,
    ErrorKind.SERVER,
    ErrorKind.TIMEOUT,
    ErrorKind.CONNECTION,
    ErrorKind.MALFORMED,
}


class BackendError(Exception):
    """A failed provider call, translated from the SDK's exception so the retry policy is provider-free.

    Messages must never contain credentials; backends redact before raising.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.headers = dict(headers or {})
        """The failed response's rate-limit headers (a 429 may say how much budget is left)."""

    def describe(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.kind.value}{status}: {self}"


class Backend(Protocol):
    """A model that answers chat messages. Implementations: OpenAI, Anthropic, Hugging Face (in-process)."""

    provider: str
    """"openai", "openai-compatible", "anthropic" or "hf"; part of the cache key."""
    model: str
    base_url: str
    """Where requests go; "" for an in-process model. Part of the cache key."""
    max_samples_per_call: int
    """How many samples one call may ask for (OpenAI's `n`); 1 where the provider has no such option."""

    async def complete(
        self, messages: Sequence[Message], params: SamplingParams, num_samples: int, timeout: float | None
    ) -> Completion:
        """Make one call for `num_samples` samples. May return fewer texts than asked (some servers
        ignore `n`), never more. Raises `BackendError` on failure."""
        ...

    async def aclose(self) -> None: ...
