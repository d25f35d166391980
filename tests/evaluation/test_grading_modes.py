"""The three grading modes of the evaluation callback write the same records and metrics: `inline` (every
rank waits for the grader), `background` (rank 0 grades in a worker thread while training goes on) and
`deferred` (the run only generates, with no grader call and no key; `cli.py grade RUN_DIR` grades it)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cli import main
from graders.evaluation_description import FINISHED_FILE, mark_finished
from graders.evaluation_grading import GradingIncompleteError
from graders.grade_command import grade
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


def step_dir(root: Path, step: int) -> Path:
    return root / "skillmix_eval" / f"step{step:06d}"


def records(root: Path, step: int) -> dict[tuple, dict[str, Any]]:
    lines = [json.loads(line) for line in (step_dir(root, step) / "records.jsonl").read_text().splitlines()]
    return {(r["setting"], r["k"], r["combination_index"], r["generation_round"]): r for r in lines}


def metrics(root: Path, step: int) -> dict[str, Any]:
    return json.loads((step_dir(root, step) / "metrics.json").read_text())


def deferred_fit(root: Path, grader: RubricServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deferred fit with no grader key in the environment; it must not call the grader."""
    answered = len(grader.answered)
    monkeypatch.delenv("OPENAI_API_KEY")
    fit(root, grader.url, "deferred")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-evaluation")
    assert len(grader.answered) == answered
    assert (root / "skillmix_eval" / FINISHED_FILE).is_file()
    for step in STEPS:
        assert len((step_dir(root, step) / "generations.jsonl").read_text().splitlines()) == 8
        assert not (step_dir(root, step) / "records.jsonl").exists()
    return root


@pytest.mark.slow
def test_background_deferred_and_inline_grading_give_the_same_records_and_metrics(
    tmp_path: Path, fake_key: None, grader: RubricServer, monkeypatch: pytest.MonkeyPatch, capsys
):
    inline = fit(tmp_path / "inline", grader.url, "inline")
    background = fit(tmp_path / "background", grader.url, "background")
    deferred = deferred_fit(tmp_path / "deferred", grader, monkeypatch)
    capsys.readouterr()
    grade(deferred)  # the run folder: the grader and settings come from skillmix_eval/evaluation.json
    printed = capsys.readouterr().out
    for step in STEPS:
        assert len(records(inline, step)) == 8
        assert records(background, step) == records(inline, step)
        assert records(deferred, step) == records(inline, step)
        documents = [metrics(root, step) for root in (inline, background, deferred)]
        assert documents[0]["complete"] and documents[2]["complete"]
        assert documents[0]["groups"] == documents[1]["groups"] == documents[2]["groups"]
        for name, value in documents[0]["logged"].items():
            for root in (inline, background):
                assert logged_steps(root / "version_0" / "metrics.csv", name)[step] == pytest.approx(value)
            assert logged_steps(deferred / "skillmix_eval" / "metrics.csv", name)[step] == pytest.approx(
                value
            )
        assert f"SKILL-MIX at step {step}: heldout k=2: full marks" in printed


@pytest.mark.slow
def test_grade_of_a_run_resumes_after_a_failure_and_follows_a_running_job(
    tmp_path: Path, fake_key: None, grader: RubricServer, monkeypatch: pytest.MonkeyPatch
):
    root = deferred_fit(tmp_path / "run", grader, monkeypatch)
    eval_dir = root / "skillmix_eval"
    # the grader dies after 5 answers: what was answered is written, the rest is left for the next run
    grader.die_after(5)
    with pytest.raises(GradingIncompleteError):
        grade(eval_dir)
    written = sum(
        len((step_dir(root, s) / "records.jsonl").read_text().splitlines())
        for s in STEPS
        if (step_dir(root, s) / "records.jsonl").exists()
    )
    assert 0 < written < 24
    grader.restart()
    # a running job: the folder is not finished and step 4's generations have not been written yet
    (eval_dir / FINISHED_FILE).unlink()
    later = tmp_path / "step000004"
    shutil.move(step_dir(root, 4), later)
    follower = threading.Thread(target=grade, args=(root,), kwargs={"follow": True, "poll_seconds": 0.05})
    follower.start()
    deadline = time.monotonic() + 60
    while not all((step_dir(root, s) / "metrics.json").exists() for s in (0, 2)):
        assert time.monotonic() < deadline and follower.is_alive()
        time.sleep(0.05)
    shutil.move(later, step_dir(root, 4))  # the job writes step 4, then ends
    mark_finished(eval_dir, list(STEPS))
    follower.join(timeout=60)
    assert not follower.is_alive()
    for step in STEPS:
        assert len(records(root, step)) == 8 and metrics(root, step)["complete"]
    # 24 generations, 2 grading rounds each: no answered request was sent again
    assert len(grader.answered) == len(set(grader.answered)) == 48
    assert sorted(logged_steps(eval_dir / "metrics.csv", "skillmix/train/k2/full_marks")) == list(STEPS)
