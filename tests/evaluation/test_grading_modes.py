"""`grading_mode: background` (rank 0 grades in a worker thread while training goes on) writes the records
and logs the metrics that `inline` does, at the evaluated steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli import main
from tests.evaluation.conftest import eval_callback, run_config
from tests.evaluation.rubric_server import RubricServer
from tests.training.tiny import logged_steps

STEPS = (0, 2, 4)


def fit(root: Path, url: str, mode: str) -> Path:
    root.mkdir()
    callback = eval_callback(
        url, root, every_n_train_steps=2, run_name="tiny", grading_mode=mode, max_pending_gradings=1
    )
    main(["fit", "--config", str(run_config(root, callback, max_steps=4, checkpoint_every=2))])
    return root


def records(root: Path, step: int) -> dict[tuple, dict[str, Any]]:
    path = root / "skillmix_eval" / f"step{step:06d}" / "records.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {(r["setting"], r["k"], r["combination_index"], r["generation_round"]): r for r in lines}


@pytest.mark.slow
def test_background_grading_gives_the_records_and_logged_metrics_of_inline_grading(
    tmp_path: Path, fake_key: None, grader: RubricServer
):
    inline = fit(tmp_path / "inline", grader.url, "inline")
    background = fit(tmp_path / "background", grader.url, "background")
    for step in STEPS:
        assert len(records(inline, step)) == 8
        assert records(background, step) == records(inline, step)
        documents = [
            json.loads((root / "skillmix_eval" / f"step{step:06d}" / "metrics.json").read_text())
            for root in (inline, background)
        ]
        assert documents[0]["complete"] and documents[0]["groups"] == documents[1]["groups"]
        for name, value in documents[0]["logged"].items():
            for root in (inline, background):
                assert logged_steps(root / "version_0" / "metrics.csv", name)[step] == pytest.approx(value)
