"""The torchmetrics wrapper computes what the pure-Python aggregation computes, however records are split."""

from __future__ import annotations

import math
import random

import pytest
import torch

from lightning_modules.skillmix_metric import SkillMixMetric
from skillmix.metrics import ScoringOptions, score_generation, summarize
from skillmix.records import GradedGeneration, Grading

SKILL_POOL = ["metaphor", "red herring", "irony", "hyperbole", "spatial reasoning"]


def _random_records(seed: int, count: int = 60) -> list[GradedGeneration]:
    rng = random.Random(seed)
    records = []
    for index in range(count):
        skills = tuple(rng.sample(SKILL_POOL, 2))
        gradings = tuple(
            Grading(None, "no table", "gpt-4")
            if rng.random() < 0.15
            else Grading(tuple(int(rng.random() < 0.7) for _ in range(5)), None, "gpt-4")
            for _ in range(3)
        )
        answer = rng.choice(["Short.", "One. Two.", "A metaphor here."])
        topic = rng.choice(["Knots", "Sewing"])
        records.append(GradedGeneration("m", "heldout", 2, skills, topic, 1 + index % 3, answer, gradings))
    return records


def _expected(records: list[GradedGeneration], options: ScoringOptions) -> dict[str, float]:
    summary = summarize([score_generation(r, options) for r in records], options.generation_aggregate)
    return {
        "full_marks": summary.full_marks,
        "all_skills": summary.all_skills,
        "skills_fraction": summary.skills_fraction,
        "full_marks_se": summary.full_marks_se,
        "skills_fraction_se": summary.skills_fraction_se,
        "n": summary.n,
        "unscored": summary.unscored,
        "gradings": summary.gradings,
        "unscored_combinations": summary.unscored_combinations,
    }  # type: ignore[return-value]


@pytest.mark.parametrize(
    "options", [ScoringOptions(), ScoringOptions(generation_aggregate="mean", reference_compat=True)]
)
def test_compute_equals_the_pure_python_aggregation_across_simulated_ranks(options: ScoringOptions) -> None:
    records = _random_records(seed=0)
    expected = _expected(records, options)
    assert expected["unscored"] > 0 and expected["n"] > 1

    single = SkillMixMetric(options)
    single.update(records)
    # Three "ranks", each with an arbitrary share of the generation rounds of the same combinations.
    ranks = [SkillMixMetric(options) for _ in range(3)]
    for index, record in enumerate(records):
        ranks[index % 3].update([record])
    ranks[0].merge_state(ranks[1])
    ranks[0].merge_state(ranks[2])
    for metric in (single, ranks[0]):
        result = metric.compute()
        for name, value in expected.items():
            assert result[name].item() == pytest.approx(value), name


def test_empty_and_single_combination_give_nan_not_zero() -> None:
    with pytest.warns(UserWarning, match="called before the ``update``"):
        empty = SkillMixMetric().compute()
    assert math.isnan(empty["full_marks"].item()) and empty["n"].item() == 0
    metric = SkillMixMetric()
    metric.update(_random_records(seed=1, count=1))
    assert math.isnan(metric.compute()["full_marks_se"].item())
    assert metric.compute()["full_marks"].dtype == torch.float64
