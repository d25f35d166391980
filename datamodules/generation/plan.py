"""Which combinations a generation run asks the teacher for, in what order, and under which ids.

The plan is a pure function of the catalog, the split, k, the pool, the seed and n. Because
`sample_combinations` draws one combination after another from one seeded generator, the plan for n is a
prefix of the plan for any larger n: a finished run can be extended by re-running it with a larger `--n`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from skillmix.catalog import Catalog, Skill
from skillmix.combinations import sample_combinations
from skillmix.errors import InputError
from skillmix.graded import combination_id
from skillmix.splits import Splits

SkillPool = Literal["paper", "train", "all"]
"""Where the k skills come from. "paper": all skills for k=1, training skills for k>=2 (the paper's D(1),
D(2), D(3)); "train": training skills only; "all": every skill. Topics are always the training topics, so
held-out topics never reach the training data."""


@dataclass(frozen=True)
class PlannedGeneration:
    """One combination to generate for; `index` is its position in the plan (the order of output files)."""

    id: str
    index: int
    skills: tuple[Skill, ...]
    topic: str

    @property
    def skill_names(self) -> list[str]:
        return [skill.name for skill in self.skills]


def pool_skills(splits: Splits, k: int, pool: SkillPool) -> tuple[str, ...]:
    if pool == "paper":
        return splits.skills("all") if k == 1 else splits.skills("train")
    if pool in ("train", "all"):
        return splits.skills(pool)
    raise InputError(f"unknown skill pool {pool!r}; choose paper, train or all")


def generation_id(k: int, skills: list[str] | tuple[str, ...], topic: str) -> str:
    """Stable across processes and machines; the skills' order does not matter."""
    return f"d{k}-{combination_id(list(skills), topic):016x}"


def plan_generations(
    catalog: Catalog, splits: Splits, *, k: int, n: int, seed: int, pool: SkillPool
) -> list[PlannedGeneration]:
    """`n` distinct (k skills, training topic) combinations, drawn with `seed`."""
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    combinations = sample_combinations(pool_skills(splits, k, pool), splits.train_topics, k, n, seed)
    return [
        PlannedGeneration(
            id=generation_id(k, combination.skills, combination.topic),
            index=index,
            skills=catalog.skills_named(combination.skills),
            topic=combination.topic,
        )
        for index, combination in enumerate(combinations)
    ]
