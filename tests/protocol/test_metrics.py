"""Metric aggregation on hand-computed cases, and against the reference's own aggregation on real data."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pytest

from skillmix.graded import GradedGeneration, Grading, combination_id
from skillmix.metrics import (
    METRIC_NAMES,
    ScoringOptions,
    aggregate,
    majority_vote,
    point_metrics,
    score_generation,
    scored_points,
    summarize,
)
from skillmix.reference_layout import read_reference_layout, split_skills_column

from .conftest import REFERENCE_DIR, grading_record_files, read_csv_rows, requires_reference

SKILLS = ("metaphor", "red herring", "spatial reasoning")


def _generation(
    points: list[tuple[int, ...] | None],
    answer: str = "A short answer.",
    round_: int = 1,
    topic: str = "Knots",
    skills: tuple[str, ...] = SKILLS,
    run: str = "model",
) -> GradedGeneration:
    gradings = tuple(
        Grading(p, None, "gpt-4") if p is not None else Grading(None, "no table", "gpt-4") for p in points
    )
    return GradedGeneration(run, "heldout", len(skills), skills, topic, round_, answer, gradings)


def test_scored_points_say_what_the_grader_voted_and_what_the_checks_changed() -> None:
    long_and_named = "The metaphor sailed. It sank. Then it rose."
    record = _generation([(1, 0, 1, 1, 1, 1), (1, 0, 1, 1, 1, 1), (0, 0, 1, 1, 1, 1)], long_and_named)
    scored = scored_points(record)
    assert scored is not None
    assert scored.voted == [1, 0, 1, 1, 1, 1]
    assert (scored.sentences, scored.named) == (3, [True, False, False])
    assert scored.points == [0, 0, 1, 1, 1, 0]  # the name penalty and the counted length (3 > 2)
    trusting = scored_points(record, ScoringOptions(programmatic_length=False, name_penalty=False))
    assert trusting is not None and trusting.points == trusting.voted
    assert (trusting.sentences, trusting.named) == (None, [False, False, False])
    assert scored_points(_generation([None, None])) is None


def test_majority_vote_ties_go_to_zero() -> None:
    assert majority_vote([(1, 0, 1), (1, 1, 0), (0, 1, 1)]) == [1, 1, 1]
    assert majority_vote([(1, 0), (0, 0)]) == [0, 0]
    assert majority_vote([(1,)]) == [1]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ((1, 1, 1, 1, 1, 1), (1.0, 1.0, 1.0)),
        ((1, 1, 1, 0, 1, 1), (0.0, 1.0, 0.0)),
        ((1, 1, 1, 0, 0, 1), (0.0, 0.0, 0.0)),
        ((1, 0, 1, 1, 1, 1), (0.0, 0.0, 2 / 3)),
        ((0, 0, 0, 1, 1, 1), (0.0, 0.0, 0.0)),
    ],
)
def test_point_metrics(points: tuple[int, ...], expected: tuple[float, float, float]) -> None:
    assert point_metrics(points, 3) == pytest.approx(expected)


def test_length_point_is_replaced_and_named_skills_lose_their_point() -> None:
    long_answer = "One. Two. Three."
    generation = _generation([(1, 1, 1, 1, 1, 1)] * 3, answer=long_answer)
    assert score_generation(generation).full_marks == 0.0
    assert score_generation(generation, ScoringOptions(programmatic_length=False)).full_marks == 1.0
    named = _generation([(1, 1, 1, 1, 1, 1)] * 3, answer="A red herring, surely.")
    assert score_generation(named).skills_fraction == pytest.approx(2 / 3)
    assert score_generation(named, ScoringOptions(name_penalty=False)).skills_fraction == 1.0


def test_unscored_gradings_are_counted_not_zeroed() -> None:
    generation = _generation([(1, 1, 1, 1, 1, 1), None, None])
    score = score_generation(generation)
    assert (score.scored, score.full_marks, score.unscored_gradings, score.gradings) == (True, 1.0, 2, 3)
    compat = score_generation(generation, ScoringOptions(reference_compat=True))
    assert (compat.scored, compat.full_marks) == (True, 0.0)
    nothing = score_generation(_generation([None, None, None]))
    assert not nothing.scored


def test_summary_max_and_mean_over_generation_rounds_with_standard_errors() -> None:
    full, half = (1, 1, 1, 1, 1, 1), (1, 0, 1, 1, 1, 1)
    records = [
        _generation([full] * 3, round_=1, topic="Knots"),
        _generation([half] * 3, round_=2, topic="Knots"),
        _generation([half] * 3, round_=1, topic="Sewing"),
        _generation([None] * 3, round_=2, topic="Sewing"),
        _generation([None] * 3, round_=1, topic="Dueling"),
    ]
    scores = [score_generation(r) for r in records]
    best = summarize(scores)
    assert (best.n, best.gradings, best.unscored, best.unscored_combinations) == (2, 15, 6, 1)
    assert best.full_marks == pytest.approx(0.5)
    assert best.skills_fraction == pytest.approx((1 + 2 / 3) / 2)
    assert best.full_marks_se == pytest.approx(math.sqrt(0.5 / 2))  # values 1, 0: sample variance 0.5
    mean = summarize(scores, "mean")
    assert mean.full_marks == pytest.approx((0.5 + 0.0) / 2)
    assert summarize(scores[:1]).full_marks_se is None


def test_aggregate_groups_runs_and_warns_about_uneven_rounds(caplog: pytest.LogCaptureFixture) -> None:
    full = (1, 1, 1, 1, 1, 1)
    records = [
        _generation([full] * 3, round_=1, topic="Knots"),
        _generation([full] * 3, round_=1, topic="Sewing"),
        _generation([full] * 2, round_=2, topic="Knots"),
        _generation([full], round_=1, run="other"),
    ]
    summaries = aggregate(records)
    assert [key[0] for key in summaries] == ["model", "other"]
    model = summaries[("model", "heldout", None, 3, None, "gpt-4")]
    assert model.n == 2
    assert model.warnings == [
        "generation round 2 has 1 of the 2 combinations",
        "uneven grading rounds per generation: 2, 3",
    ]
    assert "run=model setting=heldout k=3 grader=gpt-4: generation round 2 has 1 of the 2" in caplog.text


def test_combination_id_is_stable_and_order_free() -> None:
    assert combination_id(["b", "a"], "Knots") == combination_id(["a", "b"], "Knots")
    assert combination_id(["a", "b"], "Knots") != combination_id(["a", "b"], "Sewing")
    assert combination_id(["a", "b"], "Knots") == 0x7CB7BD3ACF051047  # pinned: same on every machine


def test_records_refuse_inconsistent_points() -> None:
    with pytest.raises(ValueError, match="either points or an unscored reason"):
        Grading(None, None, "gpt-4")
    with pytest.raises(ValueError, match="5 points for k=3"):
        _generation([(1, 1, 1, 1, 1)])


def _reference_aggregation(root: Path, name_penalty: bool) -> dict[str, dict[str, float]]:
    """The reference's aggregate_metrics.py steps, written out from its README, on its own points_0 column.

    Generation rounds are aligned by (skills, topic) instead of row position, so uneven rounds do not crash.
    """
    per_generation: dict[tuple[str, tuple[str, ...], str, str], list[list[float]]] = defaultdict(list)
    for path in grading_record_files():
        student, round_dir = path.parents[2].name, path.parents[3].name
        for row in read_csv_rows(path):
            k = int(row["k"])
            points = [float(v) for v in row["points_0"].split(",")] if row["points_0"] else []
            points = (points + [0.0] * (k + 3))[: k + 3]  # missing/short parses padded with 0
            points[-1] = float(row["true_sentence_lim_pt_0"])
            skills = split_skills_column(row["skills"])
            if name_penalty:
                answer = row["user_0"].split("For reference, here are the definitions")[0]
                answer = answer.split("The student's answer was: ")[1].strip().lower()
                for i, skill in enumerate(skills):
                    if skill.split("(")[0].strip().lower() in answer:
                        points[i] = 0.0
            per_generation[(student, tuple(sorted(skills)), row["topic"], round_dir)].append(points)
    per_combination: dict[tuple[str, tuple[str, ...], str], list[tuple[float, float, float]]] = defaultdict(
        list
    )
    for (student, skills, topic, _), rounds in per_generation.items():
        k = len(skills)
        voted = [round(sum(column) / len(column)) for column in zip(*rounds, strict=True)]  # half to even
        per_combination[(student, skills, topic)].append(point_metrics(voted, k))
    results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (student, _, _), generations in per_combination.items():
        for name, values in zip(METRIC_NAMES, zip(*generations, strict=True), strict=True):
            results[student][name].append(max(values))
    return {
        s: {n: sum(v) / len(v) for n, v in m.items()} | {"n": len(m["full_marks"])}
        for s, m in results.items()
    }


@requires_reference
@pytest.mark.parametrize("name_penalty", [True, False])
def test_reference_compat_mode_equals_the_reference_aggregation(name_penalty: bool) -> None:
    expected = _reference_aggregation(REFERENCE_DIR / "test", name_penalty)
    options = ScoringOptions(name_penalty=name_penalty, reference_compat=True)
    ours = {
        key[0]: summary
        for key, summary in aggregate(read_reference_layout(REFERENCE_DIR / "test"), options).items()
    }
    assert set(ours) == set(expected) == {"gpt-4", "llama2-7b-chat", "mistral-7b-chat"}
    for student, metrics in expected.items():
        assert ours[student].n == metrics["n"]
        for name in ("full_marks", "all_skills", "skills_fraction"):
            assert getattr(ours[student], name) == pytest.approx(metrics[name]), (student, name)
    assert expected["gpt-4"] == pytest.approx(
        {"full_marks": 0.6, "all_skills": 0.6, "skills_fraction": 13 / 15, "n": 5}
    )
