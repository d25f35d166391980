"""95% confidence intervals of SKILL-MIX metrics: a seeded percentile bootstrap over combinations.

A metric is a mean over combinations (each combination's value after combining its generation rounds), so
the unit resampled is the combination: drawing the same number of combinations with replacement, many
times, and reading the 2.5th and 97.5th percentiles of the resampled means. The percentile method is used
rather than BCa because SKILL-MIX values are often all 0 or all 1 at a small k or an early step, where BCa
is undefined; for such a cell the interval is the single point (the honest answer: no spread was observed,
not certainty). `scipy.stats.bootstrap` does the resampling; the seed makes every interval reproducible and
independent of the order in which rows are computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BootstrapSettings:
    """How `compare` computes its intervals."""

    resamples: int = 2000
    """Bootstrap resamples per interval."""
    seed: int = 0
    """Seed of every interval's resampling (each interval starts from it afresh)."""
    confidence: float = 0.95

    @property
    def method(self) -> str:
        """The method as reported next to the intervals."""
        return (
            f"percentile bootstrap over combinations, {self.resamples} resamples, seed {self.seed}, "
            f"{self.confidence:.0%}"
        )


DEFAULT_BOOTSTRAP = BootstrapSettings()


def bootstrap_ci(
    values: Sequence[float], settings: BootstrapSettings = DEFAULT_BOOTSTRAP
) -> list[float] | None:
    """[low, high] of the mean of `values` (one per combination); None below 2 values."""
    if len(values) < 2:
        return None
    import numpy as np
    from scipy.stats import bootstrap

    result = bootstrap(
        (np.asarray(values, dtype=float),),
        np.mean,
        n_resamples=settings.resamples,
        confidence_level=settings.confidence,
        method="percentile",
        rng=np.random.default_rng(settings.seed),
        vectorized=True,
    )
    interval = result.confidence_interval
    return [float(interval.low), float(interval.high)]
