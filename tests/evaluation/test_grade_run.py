"""`cli.py grade RUN_OR_EVAL_DIR` without a training run: what evaluation.json keeps, how command-line
fields change the recorded grader, and the folders and graders it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.evaluation_description import EvalDescription, load_description, overridden
from graders.grade_command import grade
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingSettings
from skillmix.catalog import load_catalog
from skillmix.errors import InputError
from skillmix.evaluation.plan import build_plan
from skillmix.metrics import ScoringOptions
from skillmix.splits import make_splits

GRADER = ClientSettings(
    provider="openai-compatible", model="scripted-grader", base_url="http://127.0.0.1:9/v1", concurrency=4
)


def saved_evaluation(root: Path) -> EvalDescription:
    catalog = load_catalog()
    plan = build_plan(catalog, make_splits(catalog, seed=0), ["train", "heldout"], [2, 3], 2, 2, seed=3)
    description = EvalDescription(
        plan, None, None, "tiny/version_0", GRADER, GradingSettings(rounds=2), ScoringOptions(), True, {}
    )
    description.save(root)
    return description


def test_the_saved_evaluation_reads_back_with_its_plan_and_grader(tmp_path: Path):
    saved = saved_evaluation(tmp_path)
    loaded = load_description(tmp_path)
    assert loaded.plan.items == saved.plan.items and len(loaded.plan.items) == 16
    assert loaded.grading == GradingSettings(rounds=2) and loaded.run == "tiny/version_0"
    assert loaded.grader.cache is not None  # the default cache, resolved, so `grade` reads the same file
    assert overridden(loaded.grader, None) == loaded.grader
    changed = overridden(loaded.grader, ClientSettings(concurrency=16))
    assert (changed.model, changed.base_url, changed.concurrency) == ("scripted-grader", GRADER.base_url, 16)


def test_refuses_folders_without_an_evaluation_and_a_second_grader_in_its_records(tmp_path: Path):
    with pytest.raises(InputError, match="not a run or evaluation folder"):
        grade(tmp_path)
    run = tmp_path / "run"
    (run / "skillmix_eval" / "step000000").mkdir(parents=True)
    with pytest.raises(InputError, match=r"no evaluation\.json"):
        grade(run)
    saved_evaluation(run / "skillmix_eval")
    (run / "skillmix_eval" / "step000000" / "records.jsonl").write_text("")
    with pytest.raises(InputError, match="would mix in openai-compatible:another"):
        grade(run, client=ClientSettings(provider="openai-compatible", model="another"))
