"""Graded generations: what every source of grades (the grader, reference CSVs, our JSONL records) gives.

The grader returns `Grading`s, the records store them (`Grading.to_record`) and the metrics consume them,
so a new source of graded records needs a reader, nothing else.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Usage:
    """Tokens a call consumed, as the provider reported them."""

    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)

    def split(self, parts: int) -> list[Usage]:
        """Share one call's usage among the `parts` samples it produced; the parts sum to the whole.

        Providers report usage per call, not per choice, so with n samples in one call each sample is
        charged an equal share (the remainder goes to the first ones).
        """
        inputs = _split_evenly(self.input_tokens, parts)
        outputs = _split_evenly(self.output_tokens, parts)
        return [Usage(i, o) for i, o in zip(inputs, outputs, strict=True)]

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _split_evenly(total: int, parts: int) -> list[int]:
    share, remainder = divmod(total, parts)
    return [share + (1 if i < remainder else 0) for i in range(parts)]


@dataclass(frozen=True)
class Grading:
    """One grading round of one answer: k+3 points, or the reason there are none (exactly one is set).

    The grader fills every field; a reader fills what its source keeps (points, reason, grader, reply).
    """

    points: tuple[int, ...] | None
    unscored: str | None
    grader: str
    raw: str | None = None
    """The reply that was parsed (the re-ask's reply, if there was one); None when the request failed or
    the source kept no reply."""
    length_missing: bool = False
    """The reply had no length row; its last point is a placeholder for the programmatic sentence count."""
    reasked: bool = False
    """These points come from a re-ask, after the first reply could not be read (the reference never
    re-asks: its mode scores such a grading as the unreadable first reply)."""
    round: int = 0
    usage: Usage = field(default_factory=Usage)
    reported_total: float | None = None
    """The grader's own "Total" row: a cross-check, never the score."""
    first_raw: str | None = None
    """The unreadable reply that prompted the re-ask."""
    error: str | None = None
    """Set when the request itself failed (retries exhausted, budget reached): not a grade at all."""
    cached: bool = False
    """Served from the response cache (describes one invocation, not the grade)."""

    def __post_init__(self) -> None:
        if (self.points is None) == (self.unscored is None):
            raise ValueError("a grading has either points or an unscored reason, not both and not neither")

    def to_record(self) -> dict[str, Any]:
        """The grading as records store it (evaluation records, `grade` outputs, D(k) files)."""
        record: dict[str, Any] = {
            "round": self.round,
            "grader": self.grader,
            "raw": self.raw,
            "usage": self.usage.to_dict(),
            "reported_total": self.reported_total,
            "reasked": self.reasked,
            "cached": self.cached,
        }
        record["points" if self.points is not None else "unscored"] = (
            list(self.points) if self.points is not None else self.unscored
        )
        if self.length_missing:
            record["length_missing"] = True
        if self.first_raw is not None:
            record["first_raw"] = self.first_raw
        if self.error is not None:
            record["error"] = self.error
        return record


@dataclass(frozen=True)
class GradedGeneration:
    """One generation round of one (k skills, topic) combination, with all its grading rounds."""

    run: str
    setting: str
    k: int
    skills: tuple[str, ...]
    topic: str
    generation_round: int
    answer: str
    gradings: tuple[Grading, ...]
    checkpoint: str | None = None
    seed: int | None = None
    source: str = ""
    """Where it was read from (file and row), for messages."""
    messages: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)
    """The conversation as (role, content) pairs, prompts and full answers, when the source keeps it."""
    combination_index: int | None = None
    """The combination's index in its (setting, k) plan, where the records keep it."""

    def __post_init__(self) -> None:
        if len(self.skills) != self.k:
            raise ValueError(f"{self.source}: k={self.k} but {len(self.skills)} skills: {list(self.skills)}")
        for grading in self.gradings:
            if grading.points is not None and len(grading.points) != self.k + 3:
                raise ValueError(f"{self.source}: {len(grading.points)} points for k={self.k}, expected k+3")

    @property
    def combination(self) -> tuple[tuple[str, ...], str]:
        """The combination's identity: its skills in any order, and its topic."""
        return tuple(sorted(self.skills)), self.topic

    @property
    def group(self) -> tuple[str, str, str | None, int, int | None, str]:
        """Records of one group are aggregated together: (run, setting, checkpoint, k, seed, grader)."""
        graders = sorted({grading.grader for grading in self.gradings})
        return self.run, self.setting, self.checkpoint, self.k, self.seed, "+".join(graders)


def combination_id(skills: tuple[str, ...] | list[str], topic: str) -> int:
    """A stable 63-bit id of a combination (same on every process and machine; order of skills ignored)."""
    key = "\x1f".join([*sorted(skills), "\x1e", topic]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1
