"""What one evaluation generates: every (setting, k, combination, generation round), the same at every step.

Combinations are drawn per (setting, k) with a seed derived from the evaluation seed by hashing, so adding a
setting or a k never changes the combinations of the others, and every checkpoint of a run (and every run
with the same seed and catalog) is graded on exactly the same prompts: differences between checkpoints are
then paired, which is what `compare` uses for its standard errors of the differences.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import cast

from skillmix.catalog import Catalog
from skillmix.combinations import sample_combinations
from skillmix.errors import InputError
from skillmix.prompts import render_generation_turn1, render_generation_turn2
from skillmix.splits import SETTINGS, Setting, Splits

ItemKey = tuple[str, int, int, int]
"""(setting, k, combination index, generation round): an item's identity within one checkpoint's records."""


@dataclass(frozen=True)
class EvalItem:
    """One generation to make and grade: a combination's two-turn conversation, in one generation round."""

    setting: str
    k: int
    combination_index: int
    generation_round: int
    """1-based, as in the reference's folder names (r1, r2, r3)."""
    skills: tuple[str, ...]
    topic: str

    @property
    def key(self) -> ItemKey:
        return self.setting, self.k, self.combination_index, self.generation_round


@dataclass(frozen=True)
class EvalPlan:
    items: tuple[EvalItem, ...]
    catalog: Catalog
    generation_template: str

    def user_turns(self, item: EvalItem) -> tuple[str, str]:
        """The protocol's two user prompts for `item` (turn 1 with the skills, turn 2 "improve, shorten")."""
        skills = self.catalog.skills_named(item.skills)
        return (
            render_generation_turn1(skills, item.topic, self.generation_template),
            render_generation_turn2(item.k, self.generation_template),
        )


def seen_in(plan: EvalPlan, combinations: Collection[tuple[tuple[str, ...], str]]) -> dict[str, int]:
    """Per "<setting>/k<k>": how many of the plan's combinations are in `combinations` (skills sorted)."""
    seen: dict[str, set[int]] = {}
    for item in plan.items:
        group = seen.setdefault(f"{item.setting}/k{item.k}", set())
        if (tuple(sorted(item.skills)), item.topic) in combinations:
            group.add(item.combination_index)
    return {group: len(indices) for group, indices in seen.items()}


def combination_seed(seed: int, setting: str, k: int) -> int:
    """A seed per (setting, k), stable across processes and Python versions (no `hash()`)."""
    digest = hashlib.sha256(f"skillmix-eval/{seed}/{setting}/k{k}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def build_plan(
    catalog: Catalog,
    splits: Splits,
    settings: Sequence[str],
    ks: Sequence[int],
    combinations_per_k: int,
    generation_rounds: int,
    seed: int,
    generation_template: str = "default",
    exclude: Collection[tuple[tuple[str, ...], str]] = (),
) -> EvalPlan:
    """Every item, in a fixed order: setting, k, combination, generation round; combinations in `exclude`
    ((skills, topic), e.g. those of the training files) are never drawn."""
    excluded = {(frozenset(skills), topic) for skills, topic in exclude}
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        raise InputError(f"unknown setting(s) {unknown}; use some of: {', '.join(SETTINGS)}")
    if combinations_per_k < 1 or generation_rounds < 1:
        raise InputError("combinations_per_k and generation_rounds must be at least 1")
    splits.check_against(catalog)
    items = []
    for setting in settings:
        skills, topics = splits.skills(cast(Setting, setting)), splits.topics(cast(Setting, setting))
        for k in ks:
            try:
                combinations = sample_combinations(
                    skills, topics, k, combinations_per_k, combination_seed(seed, setting, k), excluded
                )
            except ValueError as error:
                raise InputError(f"setting {setting!r}, k={k}: {error}") from None
            items += [
                EvalItem(setting, k, index, round_, combination.skills, combination.topic)
                for index, combination in enumerate(combinations)
                for round_ in range(1, generation_rounds + 1)
            ]
    plan = EvalPlan(tuple(items), catalog, generation_template)
    if items:
        plan.user_turns(items[0])  # an unknown template name fails here, at setup
    return plan
