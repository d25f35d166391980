"""SKILL-MIX metrics as a torchmetrics `Metric`, so that they reduce correctly across ranks.

Each rank scores the generations it graded; the states are one entry per generation (combination id,
whether it was scored, its three metrics), concatenated across ranks. Only after that are generation
rounds combined per combination, so the result is the same however the rounds were spread over ranks.
The reduction itself is `skillmix.metrics.summarize`, shared with `cli.py compare`.

Use one instance per (setting, k) group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from skillmix.metrics import GenerationScore, ScoringOptions, score_generation, summarize
from skillmix.records import GradedGeneration, combination_id

_PER_GENERATION_STATES = ("combination", "scored", "full_marks", "all_skills", "skills_fraction")


class SkillMixMetric(Metric):
    """Ratio of Full Marks, Ratio of All Skills and Skills Fraction (with standard errors) of graded records.

    Args:
        options: how points become metrics (length point, name penalty, max/mean over generation rounds,
            reference-compatible zero-padding); the paper's choices by default.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    combination: list[torch.Tensor]
    scored: list[torch.Tensor]
    full_marks: list[torch.Tensor]
    all_skills: list[torch.Tensor]
    skills_fraction: list[torch.Tensor]
    gradings: torch.Tensor
    unscored_gradings: torch.Tensor

    def __init__(self, options: ScoringOptions | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.options = options or ScoringOptions()
        for name in _PER_GENERATION_STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")
        self.add_state("gradings", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("unscored_gradings", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, records: Sequence[GradedGeneration]) -> None:
        scores = [score_generation(record, self.options) for record in records]
        if not scores:
            return
        ids = [combination_id(*record.combination) for record in records]
        self.combination.append(torch.tensor(ids, dtype=torch.long, device=self.device))
        self.scored.append(torch.tensor([s.scored for s in scores], dtype=torch.bool, device=self.device))
        for name in ("full_marks", "all_skills", "skills_fraction"):
            values = [getattr(score, name) for score in scores]
            getattr(self, name).append(torch.tensor(values, dtype=torch.float64, device=self.device))
        self.gradings += sum(s.gradings for s in scores)
        self.unscored_gradings += sum(s.unscored_gradings for s in scores)

    def compute(self) -> dict[str, torch.Tensor]:
        """Means and standard errors (NaN where undefined), n, unscored gradings and unscored combinations."""
        if isinstance(self.combination, list) and not self.combination:
            columns: list[list] = [[] for _ in _PER_GENERATION_STATES]
        else:
            columns = [dim_zero_cat(getattr(self, name)).tolist() for name in _PER_GENERATION_STATES]
        scores = [
            GenerationScore(
                combination, bool(scored), full, all_skills, fraction, gradings=0, unscored_gradings=0
            )
            for combination, scored, full, all_skills, fraction in zip(*columns, strict=True)
        ]
        summary = summarize(scores, self.options.generation_aggregate)
        result = {
            name: torch.tensor(math.nan if value is None else value, dtype=torch.float64)
            for name, value in (
                ("full_marks", summary.full_marks),
                ("all_skills", summary.all_skills),
                ("skills_fraction", summary.skills_fraction),
                ("full_marks_se", summary.full_marks_se),
                ("all_skills_se", summary.all_skills_se),
                ("skills_fraction_se", summary.skills_fraction_se),
            )
        }
        result["n"] = torch.tensor(summary.n)
        result["unscored"] = self.unscored_gradings.clone()
        result["gradings"] = self.gradings.clone()
        result["unscored_combinations"] = torch.tensor(summary.unscored_combinations)
        return result
