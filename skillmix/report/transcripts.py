"""The report's transcript data: for every graded generation, what its filters need (a small index kept in
memory by the page) and everything the page shows for it (its detail, stored in compressed chunks that the
page unpacks only when one of their items is shown).

Nothing here scores anything itself: the points and metrics of an item are the protocol's own
(`skillmix.metrics.generation_points` and `point_metrics`), and the length and name decisions are the ones
those functions apply (`skillmix.text_checks`), recomputed only to show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skillmix.checkpoint_deltas import BASE_STEP
from skillmix.graded import GradedGeneration
from skillmix.metrics import METRIC_NAMES, ScoringOptions, generation_points, point_metrics
from skillmix.prompts import rubric_criteria_for_names, sentence_limit
from skillmix.text_checks import count_sentences, named_skills, within_sentence_limit

ITEM_FIELDS = ("run", "checkpoint", "setting", "k", "round", "topic", "skills", "status", "group", "chunk")
"""The columns of one index entry (the page reads them by these names, see report.js)."""

FULL_MARKS, NOT_FULL_MARKS, UNSCORED = "full marks", "not full marks", "unscored"


@dataclass
class Lookup:
    """Repeated strings (runs, topics, skills...) stored once; index entries hold their positions."""

    values: list[Any] = field(default_factory=list)
    _positions: dict[Any, int] = field(default_factory=dict)

    def __call__(self, value: Any) -> int:
        if value not in self._positions:
            self._positions[value] = len(self.values)
            self.values.append(value)
        return self._positions[value]


@dataclass
class Transcripts:
    """Index entries (lists in `ITEM_FIELDS` order) and, chunk by chunk, the details they point to."""

    lookups: dict[str, list[Any]]
    items: list[list[Any]]
    chunks: list[list[dict[str, Any]]]


def build_transcripts(
    records: Sequence[GradedGeneration], options: ScoringOptions, chunk_size: int = 100
) -> Transcripts:
    """Every record, ordered so that one combination's checkpoints are neighbours (same chunk, usually)."""
    lookups = {
        name: Lookup() for name in ("run", "checkpoint", "setting", "topic", "skill", "status", "group")
    }
    items: list[list[Any]] = []
    chunks: list[list[dict[str, Any]]] = []
    for record in sorted(records, key=_order):
        if not chunks or len(chunks[-1]) == chunk_size:
            chunks.append([])
        detail = item_detail(record, options)
        items.append(
            [
                lookups["run"](record.run),
                lookups["checkpoint"](record.checkpoint),
                lookups["setting"](record.setting),
                record.k,
                record.generation_round,
                lookups["topic"](record.topic),
                [lookups["skill"](skill) for skill in record.skills],
                lookups["status"](detail["status"]),
                lookups["group"](_group(record)),
                [len(chunks) - 1, len(chunks[-1])],
            ]
        )
        chunks[-1].append(detail)
    names = {name: lookup.values for name, lookup in lookups.items()}
    names["group"] = [len(names["group"])]  # the page only needs "same group or not", not the keys
    return Transcripts(lookups=names, items=items, chunks=chunks)


def item_detail(record: GradedGeneration, options: ScoringOptions) -> dict[str, Any]:
    """What the page shows for one generation: the conversation, every grading, and how it was scored."""
    points = generation_points(record, options)
    metrics = (
        None if points is None else dict(zip(METRIC_NAMES, point_metrics(points, record.k), strict=True))
    )
    detail: dict[str, Any] = {
        "source": record.source,
        "messages": [list(message) for message in record.messages],
        "answer": record.answer,
        "criteria": rubric_criteria_for_names(record.skills, record.topic),
        "gradings": [
            {
                "grader": g.grader,
                "raw": g.raw,
                "points": None if g.points is None else list(g.points),
                "unscored": g.unscored,
            }
            for g in record.gradings
        ],
        "sentences": count_sentences(record.answer),
        "sentence_limit": sentence_limit(record.k),
        "within_limit": within_sentence_limit(record.answer, record.k),
        "programmatic_length": options.programmatic_length,
        "named": _named(record, options),
        "points": points,
        "metrics": metrics,
        "unscored": None if points is not None else _unscored_reason(record),
    }
    detail["status"] = (
        UNSCORED if metrics is None else FULL_MARKS if metrics["full_marks"] else NOT_FULL_MARKS
    )
    return detail


def _named(record: GradedGeneration, options: ScoringOptions) -> list[bool] | None:
    """Per skill, whether the name penalty fires, matched as the metrics match it (None without it)."""
    return named_skills(record.answer, record.skills, options.name_match) if options.name_penalty else None


def _unscored_reason(record: GradedGeneration) -> str:
    if not record.gradings:
        return "no grading rounds"
    reasons = "; ".join(f"round {i + 1}: {g.unscored}" for i, g in enumerate(record.gradings))
    return f"none of its {len(record.gradings)} grading rounds could be scored ({reasons})"


def _group(record: GradedGeneration) -> tuple:
    """One combination's generation round of one run, across its checkpoints."""
    return record.run, record.setting, record.k, record.seed, record.combination, record.generation_round


def checkpoint_order(checkpoint: str | None) -> tuple[int, int, str]:
    """Steps in numeric order (the base model, step 0, first), then any other checkpoint names."""
    if checkpoint is not None and checkpoint.isdigit():
        return 0, int(checkpoint), ""
    return 1, BASE_STEP, checkpoint or ""


def _order(record: GradedGeneration) -> tuple:
    seed = -1 if record.seed is None else record.seed
    group = (record.run, record.setting, record.k, seed, record.combination, record.generation_round)
    return group, checkpoint_order(record.checkpoint)
