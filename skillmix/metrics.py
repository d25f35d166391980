"""SKILL-MIX metrics, aggregated as the reference does (see docs/protocol.md):

1. per generation: majority vote per point over its grading rounds; the length point replaced by the
   programmatic sentence count; a skill whose name the answer spells out loses its point;
2. per generation: Ratio of Full Marks (all k+3 points), Ratio of All Skills (all k skill points and at least
   2 of the other 3), Skills Fraction (skill points / k if all 3 others are earned, else 0);
3. per combination: max (or mean) over its generation rounds; then mean over combinations, standard error.

Unscored gradings are left out of the vote and counted; a generation with no scored grading is left out of
its combination, and a combination with no scored generation is left out of the mean and counted. The
`reference_compat` option instead reads an unscored grading as all zeros, as the reference does.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from skillmix.graded import GradedGeneration, Grading
from skillmix.text_checks import NameMatch, count_sentences, named_skills, within_sentence_limit

logger = logging.getLogger(__name__)

GenerationAggregate = Literal["max", "mean"]
METRIC_NAMES = ("full_marks", "all_skills", "skills_fraction")


@dataclass(frozen=True)
class ScoringOptions:
    """How points become metrics; the defaults are the paper's."""

    programmatic_length: bool = True
    """Replace the grader's "At most n sentences" point with our own sentence count."""
    name_penalty: bool = True
    """A skill whose name (cut at "(") appears in the answer gets 0 for that skill."""
    generation_aggregate: GenerationAggregate = "max"
    """How a combination's generation rounds are combined."""
    reference_compat: bool = False
    """Score as the reference does: unscored gradings count as all-zero points, and a re-asked grading
    counts as its unreadable first reply (the reference never re-asks); labelled in every report."""
    name_match: NameMatch = "substring"
    """How the name is found: "substring" (the reference's test) or "word" (whole words, plurals allowed)."""


@dataclass(frozen=True)
class GenerationScore:
    """One generation's metrics; `scored` is False when none of its gradings could be used."""

    combination: Hashable
    scored: bool
    full_marks: float
    all_skills: float
    skills_fraction: float
    gradings: int
    unscored_gradings: int


@dataclass
class Summary:
    """Metrics over combinations, with their standard errors (None below 2 combinations)."""

    n: int
    full_marks: float | None
    all_skills: float | None
    skills_fraction: float | None
    full_marks_se: float | None
    all_skills_se: float | None
    skills_fraction_se: float | None
    gradings: int
    unscored: int
    unscored_combinations: int
    warnings: list[str] = field(default_factory=list)


def majority_vote(rounds: Sequence[Sequence[int]]) -> list[int]:
    """Per point: 1 when more than half of the rounds give it; a tie is 0 (reference: round half to even)."""
    return [int(2 * sum(column) > len(rounds)) for column in zip(*rounds, strict=True)]


def point_metrics(points: Sequence[int], k: int) -> tuple[float, float, float]:
    """(full marks, all skills, skills fraction) of one set of k+3 points."""
    skill_points, other_points = sum(points[:k]), sum(points[k:])
    full_marks = float(skill_points + other_points == k + 3)
    all_skills = float(skill_points == k and other_points >= 2)
    skills_fraction = skill_points / k if other_points == 3 else 0.0
    return full_marks, all_skills, skills_fraction


def usable_points(grading: Grading, options: ScoringOptions) -> tuple[int, ...] | None:
    """The points a grading contributes under `options`, or None when it counts as unscored: a reply
    without a length row needs the programmatic length point; the reference mode ignores re-asks."""
    if grading.length_missing and not options.programmatic_length:
        return None
    if grading.reasked and options.reference_compat:
        return None
    return grading.points


@dataclass(frozen=True)
class ScoredPoints:
    """A generation's k+3 points and what made them, so a caller can say why a point was lost."""

    points: list[int]
    """The points the generation is scored on."""
    voted: list[int]
    """The grader rounds' majority vote, before the programmatic length point and the name penalty."""
    sentences: int | None
    """The programmatic sentence count (None without `programmatic_length`)."""
    named: list[bool]
    """Per skill: the answer spells its name out (all False without `name_penalty`)."""


def scored_points(
    record: GradedGeneration, options: ScoringOptions = ScoringOptions()
) -> ScoredPoints | None:
    """The vote over a generation's usable grading rounds, then the programmatic length point and the name
    penalty; None when no grading round is scored."""
    k = record.k
    rounds = [p for p in (usable_points(g, options) for g in record.gradings) if p is not None]
    if options.reference_compat:
        rounds += [(0,) * (k + 3)] * (len(record.gradings) - len(rounds))
    if not rounds:
        return None
    voted = majority_vote(rounds)
    points = list(voted)
    sentences = None
    if options.programmatic_length:
        sentences = count_sentences(record.answer)
        points[-1] = int(within_sentence_limit(record.answer, k))
    named = [False] * k
    if options.name_penalty:
        named = named_skills(record.answer, record.skills, options.name_match)
        for index, is_named in enumerate(named):
            if is_named:
                points[index] = 0
    return ScoredPoints(points, voted, sentences, named)


def generation_points(
    record: GradedGeneration, options: ScoringOptions = ScoringOptions()
) -> list[int] | None:
    """The k+3 points a generation is scored on (`scored_points`); None when no grading round is scored."""
    scored = scored_points(record, options)
    return None if scored is None else scored.points


def score_generation(record: GradedGeneration, options: ScoringOptions = ScoringOptions()) -> GenerationScore:
    unscored = sum(usable_points(grading, options) is None for grading in record.gradings)
    points = generation_points(record, options)
    if points is None:
        return GenerationScore(record.combination, False, 0.0, 0.0, 0.0, len(record.gradings), unscored)
    return GenerationScore(
        record.combination, True, *point_metrics(points, record.k), len(record.gradings), unscored
    )


def summarize(
    scores: Iterable[GenerationScore], generation_aggregate: GenerationAggregate = "max"
) -> Summary:
    """Combine generation rounds per combination, then average over combinations."""
    by_combination: dict[Hashable, list[GenerationScore]] = defaultdict(list)
    gradings = unscored = 0
    for score in scores:
        by_combination[score.combination].append(score)
        gradings += score.gradings
        unscored += score.unscored_gradings
    per_metric: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    unscored_combinations = 0
    for generations in by_combination.values():
        scored = [g for g in generations if g.scored]
        if not scored:
            unscored_combinations += 1
            continue
        for name in METRIC_NAMES:
            values = [getattr(g, name) for g in scored]
            per_metric[name].append(
                max(values) if generation_aggregate == "max" else sum(values) / len(values)
            )
    means = {name: _mean_and_se(values) for name, values in per_metric.items()}
    return Summary(
        n=len(per_metric["full_marks"]),
        full_marks=means["full_marks"][0],
        all_skills=means["all_skills"][0],
        skills_fraction=means["skills_fraction"][0],
        full_marks_se=means["full_marks"][1],
        all_skills_se=means["all_skills"][1],
        skills_fraction_se=means["skills_fraction"][1],
        gradings=gradings,
        unscored=unscored,
        unscored_combinations=unscored_combinations,
    )


def aggregate(
    records: Iterable[GradedGeneration], options: ScoringOptions = ScoringOptions()
) -> dict[tuple, Summary]:
    """One `Summary` per record group (run, setting, checkpoint, k, seed, grader), with round warnings."""
    groups: dict[tuple, list[GradedGeneration]] = defaultdict(list)
    for record in records:
        groups[record.group].append(record)
    summaries = {}
    for key, members in sorted(groups.items(), key=lambda item: repr(item[0])):
        summary = summarize((score_generation(r, options) for r in members), options.generation_aggregate)
        summary.warnings = _uneven_round_warnings(members) + _name_penalty_warnings(members, options)
        for warning in summary.warnings:
            logger.warning("%s: %s", _describe(key), warning)
        summaries[key] = summary
    return summaries


def _uneven_round_warnings(records: Sequence[GradedGeneration]) -> list[str]:
    combinations_of: dict[int, set] = defaultdict(set)
    gradings_of: dict[int, set[int]] = defaultdict(set)
    for record in records:
        combinations_of[record.generation_round].add(record.combination)
        gradings_of[record.generation_round].add(len(record.gradings))
    everything = set().union(*combinations_of.values())
    warnings = [
        f"generation round {round_} has {len(combos)} of the {len(everything)} combinations"
        for round_, combos in sorted(combinations_of.items())
        if len(combos) < len(everything)
    ]
    counts = set().union(*gradings_of.values())
    if len(counts) > 1:
        warnings.append(f"uneven grading rounds per generation: {', '.join(map(str, sorted(counts)))}")
    return warnings


def name_hits(records: Iterable[GradedGeneration], match: NameMatch) -> int:
    """How many (generation, skill) pairs the name penalty fires on with `match`."""
    return sum(sum(named_skills(r.answer, r.skills, match)) for r in records)


def _name_penalty_warnings(records: Sequence[GradedGeneration], options: ScoringOptions) -> list[str]:
    """How many skill points the name penalty took, and how many the other matching mode would take."""
    if not options.name_penalty:
        return []
    other: NameMatch = "word" if options.name_match == "substring" else "substring"
    hits, other_hits = name_hits(records, options.name_match), name_hits(records, other)
    if not hits and not other_hits:
        return []
    return [
        f"name penalty: {hits} skill names found in the {len(records)} answers by {options.name_match} "
        f"matching ({other_hits} by {other} matching, --name_match {other})"
    ]


def _describe(key: tuple) -> str:
    run, setting, checkpoint, k, seed, grader = key
    parts = [f"run={run}", f"setting={setting}", f"k={k}"]
    parts += [f"checkpoint={checkpoint}"] if checkpoint is not None else []
    parts += [f"seed={seed}"] if seed is not None else []
    return " ".join([*parts, f"grader={grader}"])


def _mean_and_se(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance / len(values))
