"""Graded generations: what every source of grades (reference CSVs, our JSONL records) is read into.

The metrics consume only these objects, so a new source of graded records needs a reader, nothing else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Grading:
    """One grading round of one answer: k+3 points, or the reason there are none."""

    points: tuple[int, ...] | None
    unscored: str | None
    grader: str
    raw: str = ""
    length_missing: bool = False
    """The reply had no length row; its last point is a placeholder for the programmatic sentence count."""
    reasked: bool = False
    """These points come from a re-ask, after the first reply could not be read (the reference never
    re-asks: its mode scores such a grading as the unreadable first reply)."""

    def __post_init__(self) -> None:
        if (self.points is None) == (self.unscored is None):
            raise ValueError("a grading has either points or an unscored reason, not both and not neither")


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
