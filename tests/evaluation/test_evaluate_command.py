"""`cli.py evaluate`: a student behind a loopback OpenAI-compatible server (and an in-process tiny HF model),
a loopback grader; the callback's folder layout, records and metrics, read by `compare --json`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from cli import main
from tests.evaluation.rubric_server import RubricServer
from tests.evaluation.student_server import StudentServer

PLANNED = 8  # 2 settings x k=2,3 x 1 combination x 2 generation rounds
REPO = Path(__file__).resolve().parents[2]
ASSET = REPO / "datamodules" / "assets" / "tiny-llama"


@pytest.fixture
def student() -> StudentServer:
    with StudentServer() as server:
        yield server


def evaluate_argv(root: Path, student: list[str], grader: RubricServer, *extra: str) -> list[str]:
    return [
        "evaluate",
        *student,
        "--student.cache", str(root / "responses.sqlite"),
        "--student.max_attempts", "1",
        "--student.max_new_tokens", "24",
        "--grader.provider", "openai-compatible",
        "--grader.model", "scripted-grader",
        "--grader.base_url", f"{grader.url}/v1",
        "--grader.cache", str(root / "responses.sqlite"),
        "--grader.max_attempts", "1",
        "--grading.rounds", "2",
        "--settings", "[train, heldout]",
        "--ks", "[2, 3]",
        "--combinations_per_k", "1",
        "--generation_rounds", "2",
        "--progress", "false",
        "--output_dir", str(root / "out"),
        *extra,
    ]  # fmt: skip


def api_student(server: StudentServer) -> list[str]:
    return [
        "--student.provider", "openai-compatible",
        "--student.model", "scripted-student",
        "--student.base_url", f"{server.url}/v1",
        "--student.temperature", "0.5",
    ]  # fmt: skip


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def keys(path: Path) -> list[tuple]:
    return [(r["setting"], r["k"], r["combination_index"], r["generation_round"]) for r in lines(path)]


def answers(path: Path) -> dict[tuple, str]:
    return dict(zip(keys(path), (r["answer"] for r in lines(path)), strict=True))


@pytest.mark.slow
def test_an_api_student_is_evaluated_in_the_callbacks_layout_and_compare_reads_it(
    tmp_path: Path, fake_key: None, grader: RubricServer, student: StudentServer, capsys
):
    main(evaluate_argv(tmp_path, api_student(student), grader))
    folder = tmp_path / "out" / "step000000"
    records = lines(folder / "records.jsonl")
    assert sorted(keys(folder / "records.jsonl")) == sorted(set(keys(folder / "generations.jsonl")))
    assert len(records) == PLANNED and (tmp_path / "out" / "splits.json").is_file()
    first = records[0]
    assert first["student"] | {"base_url": None} == {
        "provider": "openai-compatible",
        "model": "scripted-student",
        "base_url": None,
        "system_prompt": "You are a helpful assistant.",
        "generation_template": "default",
        "temperature": 0.5,
        "top_p": 1.0,
        "max_new_tokens": 24,
    }
    roles = [m["role"] for m in first["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    # turn 2 is asked after the student's own first answer, and the graded answer is its second one
    turn2 = [json.loads(a)[0] for a in student.answered if len(json.loads(a)[0]) == 4]
    assert first["messages"][:4] in turn2
    assert first["answer"] == first["messages"][-1]["content"] and first["answer"].startswith("Answer 2-")
    # the two generation rounds of a combination are different samples of the same prompt
    rounds = {r["generation_round"]: r["answer"] for r in records if (r["setting"], r["k"]) == ("train", 2)}
    assert rounds[1] != rounds[2]
    assert len(student.answered) == PLANNED * 2 and len(grader.answered) == PLANNED * 2
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["complete"] and metrics["run"] == "scripted-student" and len(metrics["groups"]) == 4

    capsys.readouterr()
    main(["compare", str(tmp_path / "out"), "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert {(r["run"], r["setting"], r["k"], r["n"]) for r in rows} == {
        ("scripted-student", s, k, 1) for s in ("train", "heldout") for k in (2, 3)
    }
    by_group = {(g["setting"], g["k"]): g["full_marks"] for g in metrics["groups"]}
    assert all(r["full_marks"] == by_group[(r["setting"], r["k"])] for r in rows)

    main(evaluate_argv(tmp_path, api_student(student), grader))  # done: no generation, no request
    assert len(lines(folder / "records.jsonl")) == PLANNED
    assert len(student.answered) == PLANNED * 2 and len(grader.answered) == PLANNED * 2


def test_an_interrupted_evaluation_resumes_every_item_once_with_the_same_answers(
    tmp_path: Path, fake_key: None, grader: RubricServer, student: StudentServer, capsys
):
    main(evaluate_argv(tmp_path / "whole", api_student(student), grader))
    whole = answers(tmp_path / "whole/out/step000000/records.jsonl")
    student.answered.clear()

    root = tmp_path / "broken"
    student.die_after(11)  # 8 first turns and 3 second ones, then the server goes away
    with pytest.raises(SystemExit) as stopped:
        main(evaluate_argv(root, api_student(student), grader))
    assert stopped.value.code == 2
    assert "could not be generated" in capsys.readouterr().err
    folder = root / "out" / "step000000"
    assert 0 < len(lines(folder / "generations.jsonl")) < PLANNED
    with (folder / "generations.jsonl").open("a") as generations:
        generations.write('{"format": "skillmix-lightning/eval-rec')  # a kill in the middle of a write

    student.restart()
    main(evaluate_argv(root, api_student(student), grader))
    graded = keys(folder / "records.jsonl")
    assert len(graded) == len(set(graded)) == PLANNED
    assert answers(folder / "records.jsonl") == whole
    answered = student.answered
    assert len(answered) == len(set(answered)) == PLANNED * 2  # no request answered twice (the cache)


def test_the_dry_run_counts_the_work_and_makes_no_request(
    tmp_path: Path, fake_key: None, grader: RubricServer, student: StudentServer, capsys
):
    main(evaluate_argv(tmp_path, api_student(student), grader, "--dry_run", "true"))
    out = capsys.readouterr().out
    assert f"{PLANNED} planned generations" in out and f"up to {2 * PLANNED} calls" in out
    assert f"up to {2 * PLANNED} gradings" in out
    assert student.state.requests == [] and grader.state.requests == []
    assert not (tmp_path / "out").exists()


def test_a_missing_student_model_is_a_clear_error(tmp_path: Path, fake_key: None, grader, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(evaluate_argv(tmp_path, ["--student.provider", "openai"], grader))
    assert stopped.value.code == 2
    assert "--student.model" in capsys.readouterr().err


@pytest.mark.slow
def test_a_local_hf_student_is_evaluated_through_the_in_process_backend(
    tmp_path: Path, fake_key: None, grader: RubricServer, capsys
):
    model_dir = tmp_path / "tiny"
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(ASSET)).save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(ASSET).save_pretrained(model_dir)
    hf = ["--student.provider", "hf", "--student.model", str(model_dir), "--student.temperature", "0"]
    main(evaluate_argv(tmp_path, hf, grader, "--student.max_new_tokens", "6"))
    records = lines(tmp_path / "out" / "step000000" / "records.jsonl")
    assert len(records) == PLANNED
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] * 2 for r in records)
    assert {r["student"]["provider"] for r in records} == {"hf"}
    assert {r["checkpoint"] for r in records} == {str(model_dir)} and records[0]["run"] == "tiny"
    capsys.readouterr()
    main(["compare", str(tmp_path / "out"), "--json"])
    assert {(r["run"], r["n"]) for r in json.loads(capsys.readouterr().out)} == {("tiny", 1)}


@pytest.mark.slow
def test_kill_9_mid_generation_then_the_same_command_gives_every_item_once_with_the_same_answers(
    tmp_path: Path, fake_key: None, grader: RubricServer, student: StudentServer
):
    main(evaluate_argv(tmp_path / "whole", api_student(student), grader))
    whole = answers(tmp_path / "whole/out/step000000/records.jsonl")

    root = tmp_path / "killed"
    student.state.faults.extend(["ok"] * 11 + ["hang"] * 100)  # 3+ conversations finish, the rest hang
    argv = evaluate_argv(root, api_student(student), grader)
    process = subprocess.Popen([sys.executable, "cli.py", *argv], cwd=REPO, stderr=subprocess.DEVNULL)
    generations = root / "out" / "step000000" / "generations.jsonl"
    deadline = time.monotonic() + 120
    while not (generations.is_file() and len(generations.read_text().splitlines()) >= 3):
        assert process.poll() is None and time.monotonic() < deadline, "the evaluation did not get going"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (root / "out" / "step000000" / "records.jsonl").exists()  # killed before grading began
    student.restart()
    student.state.release_hangs.set()

    main(argv)
    graded = keys(generations.with_name("records.jsonl"))
    assert len(graded) == len(set(graded)) == PLANNED
    assert len(keys(generations)) == PLANNED
    assert answers(generations.with_name("records.jsonl")) == whole
