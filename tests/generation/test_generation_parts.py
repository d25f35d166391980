"""The pieces of a generation run that need no server: plan, keep rule, output files, presets."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from datamodules.generation.command import generate
from datamodules.generation.outputs import OutputFiles, load_outcomes, resolve_duplicates
from datamodules.generation.pipeline import KeepRule, judge
from datamodules.generation.plan import plan_generations
from skillmix.catalog import load_catalog
from skillmix.graded import GradedGeneration, Grading
from skillmix.metrics import score_generation
from skillmix.splits import make_splits

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "generate").glob("*.yaml"))
FULL = Grading((1, 1, 1, 1), None, "g")


def test_plan_pools_ids_and_prefix_stability() -> None:
    catalog = load_catalog()
    splits = make_splits(catalog, seed=0)
    d1 = plan_generations(catalog, splits, k=1, n=300, seed=0, pool="paper")
    d2 = plan_generations(catalog, splits, k=2, n=200, seed=0, pool="paper")
    assert any(p.skill_names[0] in splits.heldout_skills for p in d1)  # k=1: all skills
    assert all(set(p.skill_names) <= set(splits.train_skills) for p in d2)  # k>=2: training skills
    assert all(p.topic in splits.train_topics for p in d1 + d2)
    assert len({p.id for p in d2}) == 200 and all(p.id.startswith("d2-") for p in d2)
    assert plan_generations(catalog, splits, k=2, n=50, seed=0, pool="paper") == d2[:50]


def test_keep_rule_applies_the_evaluation_checks() -> None:
    clean = "The harbour was a sleeping giant."
    assert judge(KeepRule(), ["metaphor"], "Sailing", clean, [FULL] * 3).keep
    long = "It rained. Then it stopped."
    verdict = judge(KeepRule(), ["metaphor"], "Sailing", long, [FULL] * 3)
    assert (verdict.keep, verdict.failed) == (False, ("At most one sentence (counted 2)",))
    assert judge(KeepRule(programmatic_length=False), ["metaphor"], "Sailing", long, [FULL] * 3).keep
    named = judge(KeepRule(), ["metaphor"], "Sailing", "A metaphor at sea.", [FULL] * 3)
    assert named.failed == ("names the skill 'metaphor'",)
    # majority vote: one dissenting round does not reject; two do
    skill_missed = Grading((0, 1, 1, 1), None, "g")
    assert judge(KeepRule(), ["metaphor"], "Sailing", clean, [FULL, FULL, skill_missed]).keep
    assert not judge(KeepRule(), ["metaphor"], "Sailing", clean, [FULL, skill_missed, skill_missed]).keep
    unscored = judge(KeepRule(), ["metaphor"], "Sailing", clean, [Grading(None, "no table", "g")] * 3)
    assert (unscored.reason, unscored.detail) == (
        "unscored",
        "round 0: no table; round 1: no table; round 2: no table",
    )


def test_an_unscored_round_counts_as_not_earned_unless_ignored() -> None:
    clean, lost = "The harbour was a sleeping giant.", Grading(None, "no table", "g")
    one_of_three = judge(KeepRule(), ["metaphor"], "Sailing", clean, [FULL, lost, lost])
    assert (one_of_three.keep, one_of_three.reason) == (False, "unscored_rounds")
    assert one_of_three.failed == ("full marks from 1 of 3 grading rounds, not a majority of all",)
    assert one_of_three.detail == "round 1: no table; round 2: no table"
    assert judge(KeepRule(), ["metaphor"], "Sailing", clean, [FULL, FULL, lost]).keep  # 2 of 3 is a majority
    ignored = KeepRule(unscored_rounds="ignored")
    assert judge(ignored, ["metaphor"], "Sailing", clean, [FULL, lost, lost]).keep
    skill_missed = Grading((0, 1, 1, 1), None, "g")
    missed = judge(KeepRule(), ["metaphor"], "Sailing", clean, [FULL, skill_missed, lost])
    assert (missed.reason, missed.failed) == ("not_full_marks", ("Correctly illustrates metaphor (grader)",))


@pytest.mark.parametrize("unscored_rounds", ["ignored", "not_earned"])
@pytest.mark.parametrize("checks", [(True, True), (False, False)])
def test_the_keep_rule_is_the_evaluations_full_marks(
    unscored_rounds: Literal["not_earned", "ignored"], checks: tuple[bool, bool]
) -> None:
    """Kept exactly when the evaluation's scoring gives full marks: to the scored rounds when unscored ones
    are ignored, with unscored rounds as zero votes (the reference's reading) when they are not earned."""
    rule = KeepRule(*checks, unscored_rounds=unscored_rounds)
    lost, skill_missed = Grading(None, "no table", "g"), Grading((0, 1, 1, 1), None, "g")
    rounds = [[FULL] * 3, [FULL, FULL, lost], [FULL, lost, lost], [FULL, skill_missed, lost], [FULL] * 2]
    answers = ["The harbour was a sleeping giant.", "It rained. Then it stopped.", "A metaphor at sea."]
    options = replace(rule.scoring, reference_compat=unscored_rounds == "not_earned")
    for gradings, answer in itertools.product(rounds, answers):
        record = GradedGeneration("r", "train", 1, ("metaphor",), "Sailing", 0, answer, tuple(gradings))
        expected = score_generation(record, options).full_marks == 1.0
        assert judge(rule, ["metaphor"], "Sailing", answer, gradings).keep == expected, (gradings, answer)


def test_a_reject_names_every_point_it_missed_and_why() -> None:
    skills = ["metaphor", "red herring"]
    answer = "The metaphor sailed. It sank."  # 2 sentences for k=2, and one skill named
    gradings = [Grading((1, 0, 1, 1, 1), None, "g")] * 2 + [Grading((0, 0, 1, 1, 1), None, "g")]
    verdict = judge(KeepRule(), skills, "Sailing", answer, gradings)
    assert (verdict.reason, verdict.failed) == (
        "not_full_marks",
        (
            "Correctly illustrates red herring (grader)",
            "At most one sentence (counted 2)",
            "names the skill 'metaphor'",
        ),
    )


def test_a_torn_last_line_is_dropped_and_a_verdict_beats_an_error(tmp_path: Path) -> None:
    files = OutputFiles(tmp_path, 1)
    files.kept.write_text('{"id": "a", "answer": "x"}\n{"id": "b", "answ')
    files.rejects.write_text(
        '{"id": "a", "reason": "teacher_error"}\n{"id": "c", "reason": "grader_error"}\n'
    )
    outcomes = load_outcomes(files)
    assert outcomes == {"a": {"id": "a", "answer": "x"}, "c": {"id": "c", "reason": "grader_error"}}
    files.kept.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"d1\.jsonl:2: not valid JSON"):
        load_outcomes(files)


def test_duplicates_resolve_to_the_first_in_plan_order() -> None:
    records = [
        {"id": "late", "answer": "Same  text."},
        {"id": "early", "answer": "same text.", "reason": "duplicate", "duplicate_of": "late"},
        {"id": "other", "answer": "Other text."},
    ]
    resolved = resolve_duplicates(records, {"early": 0, "other": 1, "late": 2})
    assert resolved == [
        {"id": "early", "answer": "same text."},
        {"id": "other", "answer": "Other text."},
        {"id": "late", "answer": "Same  text.", "reason": "duplicate", "duplicate_of": "early"},
    ]


def parse_preset(config: Path) -> Namespace:
    """As `cli.py generate --config CONFIG` parses it."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_function_arguments(generate)
    return parser.parse_args(["--config", str(config)])


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_every_shipped_preset_parses(config: Path) -> None:
    parsed = parse_preset(config)
    assert parsed.k >= 1 and parsed.n >= 1 and parsed.teacher.model


def test_paper_presets_match_the_paper() -> None:
    sizes = {c.stem: parse_preset(c) for c in CONFIGS if c.stem.startswith("paper")}
    assert {name: (p.k, p.n, p.skill_pool) for name, p in sizes.items()} == {
        "paper_d1": (1, 5000, "paper"),
        "paper_d2": (2, 10000, "paper"),
        "paper_d3": (3, 10000, "paper"),
    }
