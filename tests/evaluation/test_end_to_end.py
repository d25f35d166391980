"""`fit` with the evaluation callback, `validate` on a checkpoint, and `compare` over the outputs: the tiny
default model as the student and a rubric-table server on 127.0.0.1 as the grader."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli import main
from skillmix.answers import extract_answer
from skillmix.evaluation.reader import read_records_file
from skillmix.metrics import ScoringOptions, aggregate
from skillmix.prompts import render_generation_turn2
from tests.evaluation.conftest import eval_callback, run_config
from tests.evaluation.rubric_server import RubricServer
from tests.training.tiny import logged_steps

STEPS = (0, 2, 4)
PER_STEP = 8  # 2 settings x 2 k x 2 combinations x 1 generation round


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """fit 4 steps, evaluating at 0, 2, 4; then validate the step-2 checkpoint into a folder of its own."""
    root = tmp_path_factory.mktemp("fit")
    with pytest.MonkeyPatch.context() as patch, RubricServer() as server:
        patch.setenv("OPENAI_API_KEY", "sk-test-evaluation")
        patch.delenv("OPENAI_BASE_URL", raising=False)
        callback = eval_callback(server.url, root, every_n_train_steps=2, run_name="tiny")
        main(["fit", "--config", str(run_config(root, callback, max_steps=4, checkpoint_every=2))])
        after_fit = len(server.answered)
        validate_root = root / "validate"
        validate_root.mkdir()
        callback = eval_callback(server.url, root, output_dir=str(validate_root / "skillmix_eval"))
        callback["init_args"]["run_name"] = "tiny-validate"
        config = run_config(validate_root, callback)
        main(["validate", "--config", str(config), "--ckpt_path", str(root / "ckpt" / "step2.ckpt")])
        yield {"root": root, "validate": validate_root, "after_fit": after_fit, "server": server}


def test_fit_writes_records_and_metrics_for_every_evaluated_step(run):
    folders = sorted(p.name for p in (run["root"] / "skillmix_eval").iterdir() if p.is_dir())
    assert folders == [f"step{step:06d}" for step in STEPS]
    combinations, distinct_gradings = None, set()
    for step in STEPS:
        folder = run["root"] / "skillmix_eval" / f"step{step:06d}"
        records = read_jsonl(folder / "records.jsonl")
        assert len(records) == len(read_jsonl(folder / "generations.jsonl")) == PER_STEP
        assert {r["step"] for r in records} == {step}
        for record in records:
            roles = [m["role"] for m in record["messages"]]
            assert roles == ["user", "assistant", "user", "assistant"]
            assert record["messages"][2]["content"] == render_generation_turn2(record["k"])
            assert record["answer"] == extract_answer(record["messages"][3]["content"])
            assert [len(g["points"]) for g in record["gradings"]] == [record["k"] + 3] * 2
            assert record["student"]["sampling"] == {
                "do_sample": True, "temperature": 0.7, "top_k": 50, "top_p": 1.0,
                "repetition_penalty": 1.0, "max_new_tokens": 12,
            }  # fmt: skip
            for grading in record["gradings"]:
                distinct_gradings.add(
                    (tuple(record["skills"]), record["topic"], record["answer"], grading["round"])
                )
        drawn = {(r["setting"], r["combination_index"], tuple(r["skills"]), r["topic"]) for r in records}
        assert combinations in (None, drawn), "every checkpoint is graded on the same combinations"
        combinations = drawn
    # each distinct (answer, round) was asked once; the same answer at another step came from the cache
    answered = run["server"].answered[: run["after_fit"]]
    assert len(answered) == len(set(answered)) == len(distinct_gradings)


def test_logged_metrics_equal_the_protocol_aggregation_of_the_records(run):
    metrics_csv = run["root"] / "version_0" / "metrics.csv"
    for step in STEPS:
        folder = run["root"] / "skillmix_eval" / f"step{step:06d}"
        summaries = aggregate(read_records_file(folder / "records.jsonl"), ScoringOptions())
        assert len(summaries) == 4
        document = json.loads((folder / "metrics.json").read_text())
        assert document["complete"] and document["step"] == step
        for (_, setting, checkpoint, k, _, _), summary in summaries.items():
            assert checkpoint == str(step)
            for name in ("full_marks", "all_skills", "skills_fraction", "n", "unscored"):
                key = f"skillmix/{setting}/k{k}/{name}"
                assert document["logged"][key] == pytest.approx(getattr(summary, name))
                assert logged_steps(metrics_csv, key)[step] == pytest.approx(getattr(summary, name))


def test_validate_on_a_checkpoint_reproduces_its_in_training_evaluation(run):
    fresh = read_jsonl(run["validate"] / "skillmix_eval" / "step000002" / "records.jsonl")
    in_fit = read_jsonl(run["root"] / "skillmix_eval" / "step000002" / "records.jsonl")

    def answers(records: list[dict[str, Any]]) -> dict[tuple, str]:
        return {(r["setting"], r["k"], r["combination_index"]): r["answer"] for r in records}

    assert answers(fresh) == answers(in_fit)  # same weights, batches and sampling seeds
    assert {r["checkpoint"] for r in fresh} == {str(run["root"] / "ckpt" / "step2.ckpt")}
    assert len(run["server"].answered) == run["after_fit"]  # every grading came from the cache


def test_compare_prints_rows_per_step_with_paired_differences_to_the_base_model(run, capsys, tmp_path):
    plot = tmp_path / "steps.png"
    main(["compare", str(run["root"]), "--json", "true", "--plot", str(plot)])
    rows = json.loads(capsys.readouterr().out)
    fit_rows = [row for row in rows if row["run"] == "tiny"]
    assert sorted((r["setting"], r["k"], r["step"]) for r in fit_rows) == sorted(
        (s, k, step) for s in ("heldout", "train") for k in (2, 3) for step in STEPS
    )
    for row in fit_rows:
        assert row["n"] == 2 and 0 <= row["full_marks"] <= 1 and row["unscored"] == 0
        if row["step"] == 0:
            assert "full_marks_delta" not in row
            continue
        base = next(r for r in fit_rows if (r["setting"], r["k"], r["step"]) == (row["setting"], row["k"], 0))
        assert row["paired_n"] == 2
        for name in ("full_marks", "all_skills", "skills_fraction"):
            assert row[f"{name}_delta"] == pytest.approx(row[name] - base[name])
    assert plot.read_bytes().startswith(b"\x89PNG")

    main(["compare", str(run["root"] / "skillmix_eval")])
    table = capsys.readouterr().out
    assert "difference to the base model" in table and "heldout" in table
