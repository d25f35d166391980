"""What a run did and spent: counts for the progress display and the end-of-run summary, and the budget.

Cost is an estimate from the price table. Only calls made in this run are charged; cache hits are free.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graders.interface import Usage
from graders.pricing import UNKNOWN_COST, cost_text
from graders.rate_limit import RateStats
from skillmix.errors import InputError


@dataclass
class RunStats:
    samples_requested: int = 0
    samples_done: int = 0
    samples_cached: int = 0
    samples_failed: int = 0
    calls_made: int = 0
    calls_in_flight: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    """Retried errors by kind (rate_limit, server_error, timeout, ...)."""
    failures: Counter[str] = field(default_factory=Counter)
    """Samples given up on, by the kind of their last error."""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    """Calls whose model has no price in the table: `cost_usd` leaves them out."""
    rate: RateStats | None = None
    """Achieved rates, in-flight level and 429s, from the client's limiter."""

    local: bool = False
    """The model runs on this machine (`graders.pricing.runs_locally`): unpriced calls cost nothing."""

    def cost_text(self) -> str:
        if self.unpriced_calls and self.cost_usd == 0.0:
            return UNKNOWN_COST
        note = f" + {self.unpriced_calls} unpriced calls" if self.unpriced_calls else ""
        return cost_text(self.cost_usd, local=self.local, digits=4) + note

    def summary(self) -> str:
        retried = ", ".join(f"{kind} {n}" for kind, n in sorted(self.retries.items())) or "none"
        failed = ", ".join(f"{kind} {n}" for kind, n in sorted(self.failures.items())) or "none"
        return (
            f"{self.samples_done} samples ({self.samples_cached} from cache, {self.samples_failed} failed) "
            f"in {self.calls_made} calls; retries: {retried}; failures: {failed}; "
            f"tokens in/out {self.usage.input_tokens}/{self.usage.output_tokens}; "
            f"est. cost {self.cost_text()}" + (f"; {self.rate.summary()}" if self.rate else "")
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "samples_requested": self.samples_requested,
            "samples_done": self.samples_done,
            "samples_cached": self.samples_cached,
            "samples_failed": self.samples_failed,
            "calls_made": self.calls_made,
            "retries": dict(self.retries),
            "failures": dict(self.failures),
            "usage": self.usage.to_dict(),
            "cost_usd": None if self.unpriced_calls and self.cost_usd == 0.0 else self.cost_usd,
            "unpriced_calls": self.unpriced_calls,
            **({"rate": self.rate.to_dict()} if self.rate else {}),
        }


class Budget:
    """A spending cap that stops a run before it would exceed the cap.

    Each call reserves its worst case (prompt + `max_tokens` per sample) before it is sent and settles to
    its real cost when it returns, so calls already in flight can never push spending past the cap.
    """

    def __init__(self, limit_usd: float) -> None:
        if limit_usd <= 0:
            raise InputError(f"budget must be positive, got {limit_usd}")
        self.limit_usd = limit_usd
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.exhausted = False

    def try_reserve(self, worst_case_usd: float) -> bool:
        if self.exhausted or self.spent_usd + self.reserved_usd + worst_case_usd > self.limit_usd:
            self.exhausted = True
            return False
        self.reserved_usd += worst_case_usd
        return True

    def settle(self, reserved_usd: float, actual_usd: float) -> None:
        self.reserved_usd -= reserved_usd
        self.spent_usd += actual_usd
