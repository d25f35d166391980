"""The evaluation's split comes from the training data, and its overlap with the training combinations is
known (and can be excluded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datamodules.provenance import SplitMismatchError, read_training_data
from lightning_modules.skillmix_eval.data_ties import evaluation_splits
from skillmix.catalog import load_catalog
from skillmix.evaluation.plan import build_plan, seen_in
from skillmix.evaluation.reporting import metrics_document
from skillmix.metrics import ScoringOptions, Summary
from skillmix.splits import make_splits

CATALOG = load_catalog()


def _dk(folder: Path, splits, combinations, stamp: str | None = "auto") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if splits is not None:
        splits.save(folder / "splits.json")
    split = splits.fingerprint if stamp == "auto" else stamp
    lines = [{"id": f"x{i}", "k": len(s), "skills": list(s), "topic": t, "split": split}
             for i, (s, t) in enumerate(combinations)]  # fmt: skip
    path = folder / "d2.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_the_training_datas_split_is_the_default_and_another_one_is_an_error(tmp_path) -> None:
    seven = make_splits(CATALOG, seed=7)
    data = read_training_data(
        [_dk(tmp_path / "data", seven, [(seven.train_skills[:2], seven.train_topics[0])])]
    )
    assert evaluation_splits(None, data, CATALOG, split_seed=0) == seven  # not the split_seed-0 split
    other = make_splits(CATALOG, seed=0).save(tmp_path / "other.json")
    with pytest.raises(SplitMismatchError) as error:
        evaluation_splits(str(other), data, CATALOG, split_seed=0)
    assert str(other) in str(error.value) and str(tmp_path / "data" / "splits.json") in str(error.value)
    assert "Fix: leave `splits` unset" in str(error.value)
    assert evaluation_splits(None, read_training_data([]), CATALOG, split_seed=3) == make_splits(CATALOG, 3)


def test_records_from_another_split_than_their_splits_json_are_refused(tmp_path) -> None:
    path = _dk(tmp_path / "a", make_splits(CATALOG, 1), [], stamp=None)
    _dk(tmp_path / "a", make_splits(CATALOG, 1), [(("metaphor", "simile"), "Sailing")],
        stamp=make_splits(CATALOG, 2).fingerprint)  # fmt: skip
    with pytest.raises(SplitMismatchError, match=r"restore the splits\.json"):
        read_training_data([path])
    first = _dk(tmp_path / "b", make_splits(CATALOG, 1), [(("metaphor", "simile"), "Sailing")])
    second = _dk(tmp_path / "c", make_splits(CATALOG, 2), [(("metaphor", "simile"), "Sailing")])
    with pytest.raises(SplitMismatchError, match="two splits"):
        read_training_data([first, second])


def test_seen_combinations_are_reported_and_can_be_excluded(tmp_path) -> None:
    splits = make_splits(CATALOG, seed=0)
    plan = build_plan(CATALOG, splits, ["train"], [2], 30, 1, seed=0)
    trained = [(item.skills, item.topic) for item in plan.items[:4]]
    data = read_training_data([_dk(tmp_path / "d", splits, trained)])
    assert seen_in(plan, data.combinations) == {"train/k2": 4}
    fresh = build_plan(CATALOG, splits, ["train"], [2], 30, 1, seed=0, exclude=data.combinations)
    assert seen_in(fresh, data.combinations) == {"train/k2": 0} and len(fresh.items) == 30
    summary = Summary(30, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, gradings=90, unscored=0, unscored_combinations=0)
    document = metrics_document(
        [("train", 2, summary)], run="r", step=0, checkpoint=None, options=ScoringOptions(), planned=30,
        failed=0, grading_summary="", seen_in_training={"train/k2": 4},
    )  # fmt: skip
    assert document["groups"][0]["seen_in_training"] == 4
