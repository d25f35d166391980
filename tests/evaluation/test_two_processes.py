"""`validate` with the evaluation on two CPU processes (gloo, FSDP2-sharded model) equals one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main
from tests.evaluation.conftest import eval_callback, run_config
from tests.evaluation.rubric_server import RubricServer
from tests.two_processes import run_cli_on_two_processes


def outputs(root: Path) -> tuple[list[dict], dict]:
    folder = root / "skillmix_eval" / "step000000"
    lines = [json.loads(line) for line in (folder / "generations.jsonl").read_text().splitlines()]
    return lines, json.loads((folder / "metrics.json").read_text())


@pytest.mark.slow
def test_two_ranks_split_the_prompts_and_give_the_metrics_of_one_process(
    tmp_path: Path, fake_key: None, grader: RubricServer
):
    single, double = tmp_path / "one", tmp_path / "two"
    single.mkdir(), double.mkdir()
    main(["validate", "--config", str(run_config(single, eval_callback(grader.url, single)))])
    config = run_config(double, eval_callback(grader.url, double))
    run_cli_on_two_processes("validate", "--config", str(config))

    one_lines, one_metrics = outputs(single)
    two_lines, two_metrics = outputs(double)
    assert {line["rank"] for line in two_lines} == {0, 1}  # both ranks generated
    by_item = {(g["setting"], g["k"], g["combination_index"]): g["messages"] for g in one_lines}
    assert len(two_lines) == len(by_item) == 8  # gathered once: every item exactly once
    assert {(g["setting"], g["k"], g["combination_index"]): g["messages"] for g in two_lines} == by_item
    assert two_metrics["logged"] == one_metrics["logged"]
    assert (double / "version_0" / "metrics.csv").read_text().count("skillmix/") > 0


@pytest.mark.slow
def test_gathered_parameters_give_the_greedy_answers_of_per_layer_gathering(
    tmp_path: Path, fake_key: None, grader: RubricServer
):
    """In `fit`: step 0 gathers before the model's first forward, step 2 after training resumed from a
    gathered generation (so resharding left training intact), both equal to per-layer gathering."""
    answers = {}
    for gather in (True, False):
        root = tmp_path / f"gather-{gather}"
        root.mkdir()
        callback = eval_callback(
            grader.url,
            root,
            student={"temperature": 0},
            every_n_train_steps=2,
            gather_parameters=gather,
            progress=False,
        )
        run_cli_on_two_processes("fit", "--config", str(run_config(root, callback, max_steps=2)))
        answers[gather] = {
            (step, g["setting"], g["k"], g["combination_index"]): g["messages"]
            for step in (0, 2)
            for g in step_generations(root, step)
        }
    assert len(answers[True]) == 16
    assert answers[True] == answers[False]


def step_generations(root: Path, step: int) -> list[dict]:
    path = root / "skillmix_eval" / f"step{step:06d}" / "generations.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]
