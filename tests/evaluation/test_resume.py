"""A grader that dies part-way, then comes back: nothing is lost, nothing is generated or asked twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main
from tests.evaluation.conftest import eval_callback, run_config
from tests.evaluation.rubric_server import RubricServer

PLANNED = 8


def keys(path: Path) -> list[tuple]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [(r["setting"], r["k"], r["combination_index"], r["generation_round"]) for r in lines]


def test_a_grader_outage_then_a_rerun_grades_every_item_once_without_repeating_a_request(
    tmp_path: Path, fake_key: None, grader: RubricServer, capsys: pytest.CaptureFixture[str]
):
    config = run_config(tmp_path, eval_callback(grader.url, tmp_path))
    folder = tmp_path / "skillmix_eval" / "step000000"
    grader.die_after(3)
    with pytest.raises(SystemExit) as stopped:
        main(["validate", "--config", str(config)])
    assert stopped.value.code == 2  # a clear message, no traceback
    assert "could not be graded" in capsys.readouterr().err
    assert len(keys(folder / "generations.jsonl")) == PLANNED  # generation finished before grading began
    assert len(keys(folder / "records.jsonl")) == 3
    assert not json.loads((folder / "metrics.json").read_text())["complete"]
    with (folder / "records.jsonl").open("a") as records:
        records.write('{"format": "skillmix-lightning/eval-rec')  # a crash in the middle of a write

    grader.restart()
    main(["validate", "--config", str(config)])
    graded = keys(folder / "records.jsonl")
    assert len(graded) == len(set(graded)) == PLANNED
    assert len(keys(folder / "generations.jsonl")) == PLANNED  # nothing generated again
    assert len(grader.answered) == len(set(grader.answered)) == PLANNED * 2  # 2 grading rounds each
    assert json.loads((folder / "metrics.json").read_text())["complete"]

    main(["validate", "--config", str(config)])  # everything done: no generation, no request
    assert len(keys(folder / "records.jsonl")) == PLANNED
    assert len(grader.answered) == PLANNED * 2


def test_missing_grader_credentials_fail_at_setup_before_any_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    callback = eval_callback("http://127.0.0.1:9", tmp_path)
    callback["init_args"]["grader"] = {"provider": "openai", "model": "gpt-4-0613"}
    with pytest.raises(SystemExit) as stopped:
        main(["fit", "--config", str(run_config(tmp_path, callback))])
    assert stopped.value.code == 2
    assert "error: OPENAI_API_KEY is not set" in capsys.readouterr().err
    assert not (tmp_path / "skillmix_eval" / "step000000").exists()


@pytest.mark.slow
def test_a_generation_killed_part_way_resumes_to_the_answers_of_an_uninterrupted_run(
    tmp_path: Path, fake_key: None, grader: RubricServer
):
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    whole.mkdir(), resumed.mkdir()
    main(["validate", "--config", str(run_config(whole, eval_callback(grader.url, whole)))])
    written = (whole / "skillmix_eval" / "step000000" / "generations.jsonl").read_text().splitlines()
    # killed after 4 of 8 lines: batch 0 (items 0-2) whole, batch 1 (items 3-5) one item in, then a torn line
    folder = resumed / "skillmix_eval" / "step000000"
    folder.mkdir(parents=True)
    (folder / "generations.jsonl").write_text("\n".join(written[:4]) + "\n" + written[4][:40])

    main(["validate", "--config", str(run_config(resumed, eval_callback(grader.url, resumed)))])

    def answers(root: Path, name: str) -> dict[tuple, list]:
        path = root / "skillmix_eval" / "step000000" / name
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]
        by_key = {(g["setting"], g["k"], g["combination_index"], g["generation_round"]): g for g in lines}
        assert len(by_key) == len(lines), "no item written twice"
        return {key: line["messages"] for key, line in by_key.items()}

    assert len(answers(whole, "generations.jsonl")) == PLANNED
    assert answers(resumed, "generations.jsonl") == answers(whole, "generations.jsonl")
    assert answers(resumed, "records.jsonl") == answers(whole, "records.jsonl")
    metrics = [
        json.loads((r / "skillmix_eval" / "step000000" / "metrics.json").read_text())
        for r in (whole, resumed)
    ]
    assert metrics[0]["logged"] == metrics[1]["logged"]
