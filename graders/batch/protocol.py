"""What a provider's batch API must offer the job runner: submit, poll, read results by custom_id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from graders.client import PlannedCall
from graders.interface import Completion


@dataclass(frozen=True)
class BatchState:
    ended: bool
    status: str
    """The provider's own word for it ("in_progress", "completed", "expired", "ended", ...)."""


@dataclass(frozen=True)
class BatchResult:
    custom_id: str
    completion: Completion | None
    error: str | None
    """Why there is no completion ("expired", "errored: ...", ...)."""


class BatchAPI(Protocol):
    max_requests: int
    """Most requests one batch may hold."""

    async def submit(self, calls: Sequence[tuple[str, PlannedCall]]) -> str:
        """Submit (custom_id, call) pairs as one batch; returns the batch id."""
        ...

    async def state(self, batch_id: str) -> BatchState: ...

    async def results(self, batch_id: str) -> list[BatchResult]:
        """Every result the provider has for an ended batch, in any order (partial for expired ones)."""
        ...
