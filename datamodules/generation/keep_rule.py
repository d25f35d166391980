"""Which graded texts become training data: by default, exactly those the evaluation would give full marks.

The decision is the protocol's own scoring (`skillmix.metrics.score_generation`): majority vote per rubric
point over the grading rounds, the length point replaced by the programmatic sentence count, and a skill
point lost when the text spells the skill's name out. Using the evaluation's definition for the filter
means a kept text never teaches the student something the evaluation penalises (naming the skill, running
over the sentence limit) just because one grader reply overlooked it. Both checks can be switched off to
trust the grader alone, as a looser reading of the paper's "full marks from GPT-4".

The paper keeps the texts the grader gives full marks; with three grading rounds that is a majority of all
rounds, so by default an unscored round counts as not earning its points: `[full, unscored, unscored]` is
rejected (`unscored_rounds`), not kept on the strength of one reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from skillmix.graded import GradedGeneration, Grading
from skillmix.metrics import ScoringOptions, majority_vote, score_generation
from skillmix.prompts import rubric_criteria_for_names, sentence_limit
from skillmix.text_checks import count_sentences, named_skills


@dataclass(frozen=True)
class KeepRule:
    """Args:
    programmatic_length: Also require at most max(1, k-1) sentences by our own count (the evaluation's
        rule), whatever the grader said about length.
    name_penalty: Also require that no skill's name (cut at "(") appears in the text (the evaluation's
        rule).
    unscored_rounds: "not_earned": an unscored grading round votes 0 on every point, so full marks need a
        majority of all rounds; "ignored": only the scored rounds vote (one readable reply can decide).
    """

    programmatic_length: bool = True
    name_penalty: bool = True
    unscored_rounds: Literal["not_earned", "ignored"] = "not_earned"


@dataclass(frozen=True)
class Verdict:
    keep: bool
    reason: str | None
    """None when kept; "not_full_marks", "unscored_rounds" (full marks from the scored rounds, but not from
    a majority of all rounds) or "unscored" (no round could be read)."""
    failed: tuple[str, ...] = ()
    """The rubric points (and programmatic checks) the text missed, in words."""
    detail: str | None = None


def judge(
    rule: KeepRule, skill_names: Sequence[str], topic: str, answer: str, gradings: Sequence[Grading]
) -> Verdict:
    """Keep `answer` when it earns full marks under `rule`; otherwise say which points it missed."""
    reasons = "; ".join(f"round {i}: {g.unscored}" for i, g in enumerate(gradings) if g.unscored)
    scored = [g for g in gradings if g.points is not None]
    if not scored:
        return Verdict(False, "unscored", detail=reasons or "no grading rounds")
    k = len(skill_names)
    voting = scored if rule.unscored_rounds == "ignored" else [_not_earned(g, k) for g in gradings]
    if _full_marks(rule, skill_names, topic, answer, voting):
        return Verdict(True, None)
    if len(voting) > len(scored) and _full_marks(rule, skill_names, topic, answer, scored):
        failed = f"full marks from {len(scored)} of {len(gradings)} grading rounds, not a majority of all"
        return Verdict(False, "unscored_rounds", failed=(failed,), detail=reasons)
    missed = tuple(_missed(rule, skill_names, topic, answer, voting))
    return Verdict(False, "not_full_marks", failed=missed, detail=reasons or None)


def _full_marks(
    rule: KeepRule, skill_names: Sequence[str], topic: str, answer: str, gradings: Sequence[Grading]
) -> bool:
    """Full marks as the evaluation scores the (scored) `gradings`: `score_generation` decides."""
    record = GradedGeneration(
        run="generate", setting="train", k=len(skill_names), skills=tuple(skill_names), topic=topic,
        generation_round=0, answer=answer, gradings=tuple(gradings),
    )  # fmt: skip
    options = ScoringOptions(programmatic_length=rule.programmatic_length, name_penalty=rule.name_penalty)
    score = score_generation(record, options)
    return score.scored and score.full_marks == 1.0


def _not_earned(grading: Grading, k: int) -> Grading:
    """An unscored round as a vote of 0 on every point."""
    return grading if grading.points is not None else Grading((0,) * (k + 3), None, grading.grader)


def _missed(
    rule: KeepRule, skill_names: Sequence[str], topic: str, answer: str, gradings: Sequence[Grading]
) -> list[str]:
    """Why a scored text fell short, for the rejects file (the decision itself is `score_generation`'s)."""
    criteria = rubric_criteria_for_names(skill_names, topic)
    voted = majority_vote([g.points for g in gradings if g.points is not None])
    k = len(skill_names)
    missed = []
    for index, (criterion, point) in enumerate(zip(criteria, voted, strict=True)):
        if rule.programmatic_length and index == len(criteria) - 1:
            sentences = count_sentences(answer)
            if sentences > sentence_limit(k):
                missed.append(f"{criterion} (counted {sentences})")
        elif not point:
            missed.append(f"{criterion} (grader)")
    if rule.name_penalty:
        missed += [
            f"names the skill {name!r}"
            for name, named in zip(skill_names, named_skills(answer, skill_names), strict=True)
            if named
        ]
    return missed
