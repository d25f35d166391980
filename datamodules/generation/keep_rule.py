"""Which graded texts become training data: by default, exactly those the evaluation would give full marks.

The decision is the protocol's own scoring (`skillmix.metrics.score_generation`): majority vote per rubric
point over the grading rounds, the length point replaced by the programmatic sentence count, and a skill
point lost when the text spells the skill's name out. Using the evaluation's definition for the filter
means a kept text never teaches the student something the evaluation penalises (naming the skill, running
over the sentence limit) just because one grader reply overlooked it. Both checks can be switched off to
trust the grader alone, as a looser reading of the paper's "full marks from GPT-4".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    """

    programmatic_length: bool = True
    name_penalty: bool = True


@dataclass(frozen=True)
class Verdict:
    keep: bool
    reason: str | None
    """None when kept; "not_full_marks" or "unscored"."""
    failed: tuple[str, ...] = ()
    """The rubric points (and programmatic checks) the text missed, in words."""
    detail: str | None = None


def judge(
    rule: KeepRule, skill_names: Sequence[str], topic: str, answer: str, gradings: Sequence[Grading]
) -> Verdict:
    """Keep `answer` when it earns full marks under `rule`; otherwise say which points it missed."""
    k = len(skill_names)
    record = GradedGeneration(
        run="generate", setting="train", k=k, skills=tuple(skill_names), topic=topic,
        generation_round=0, answer=answer, gradings=tuple(gradings),
    )  # fmt: skip
    options = ScoringOptions(programmatic_length=rule.programmatic_length, name_penalty=rule.name_penalty)
    score = score_generation(record, options)
    if not score.scored:
        reasons = "; ".join(f"round {i}: {g.unscored}" for i, g in enumerate(gradings) if g.unscored)
        return Verdict(False, "unscored", detail=reasons or "no grading rounds")
    if score.full_marks == 1.0:
        return Verdict(True, None)
    return Verdict(False, "not_full_marks", failed=tuple(_missed(rule, skill_names, topic, answer, gradings)))


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
