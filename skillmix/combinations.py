"""Seeded SKILL-MIX combinations: k distinct skills and one topic, never the same combination twice.

Only `random.Random(seed)` is used (no global random state, no `hash()`), so a seed gives the same
combinations in every process and on every machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from skillmix.errors import InputError


@dataclass(frozen=True)
class Combination:
    skills: tuple[str, ...]
    topic: str

    @property
    def key(self) -> tuple[frozenset[str], str]:
        """Identity regardless of skill order."""
        return frozenset(self.skills), self.topic


def sample_combinations(
    skills: Sequence[str], topics: Sequence[str], k: int, n: int, seed: int
) -> list[Combination]:
    """`n` distinct combinations of `k` skills from `skills` and one topic from `topics`.

    Like the reference, each draw shuffles the pool, takes the first k skills, picks a topic, then shuffles
    the chosen skills' order (the order they appear in in the prompt).
    """
    if len(set(skills)) != len(skills):
        raise InputError("the skill pool has duplicate names; pass each skill once")
    if not 1 <= k <= len(skills):
        raise InputError(
            f"k={k} needs 1 <= k <= {len(skills)} (the size of the skill pool). Fix: choose k <= "
            f"{len(skills)}, or a larger pool (another catalog or split)"
        )
    if not topics:
        raise InputError("the topic pool is empty")
    possible = math.comb(len(skills), k) * len(set(topics))
    if n > possible:
        raise InputError(
            f"asked for {n} distinct combinations but only {possible} exist for k={k}. Fix: ask for at most "
            f"{possible}, or use a larger skill or topic pool"
        )
    rng = random.Random(seed)
    pool = list(skills)
    seen: set[tuple[frozenset[str], str]] = set()
    combinations: list[Combination] = []
    while len(combinations) < n:
        rng.shuffle(pool)
        chosen = pool[:k]
        topic = topics[rng.randrange(len(topics))]
        rng.shuffle(chosen)
        combination = Combination(tuple(chosen), topic)
        if combination.key not in seen:
            seen.add(combination.key)
            combinations.append(combination)
    return combinations
