"""`cli.py evaluate --checkpoints RUN --serve TEMPLATE`: every checkpoint exported once, served by a real
`transformers serve` on 127.0.0.1, evaluated at its step, stopped; a server that fails is a clear error; a
re-run (after a kill -9, too) finishes the rest; `compare --json` reads one row per step."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli import main
from graders.model_server import ModelServer
from lightning_modules.evaluate_checkpoints import checkpoints_by_step
from skillmix.errors import InputError
from tests.evaluation.rubric_server import RubricServer
from tests.evaluation.served_checkpoints import TRANSFORMERS_SERVE, tiny_run, write_checkpoint
from tests.evaluation.test_evaluate_command import PLANNED, answers, evaluate_argv, keys, lines

REPO = Path(__file__).resolve().parents[2]
GREEDY = ["--student.temperature", "0"]


def sweep_argv(root: Path, grader: RubricServer, serve: str, *extra: str) -> list[str]:
    """`evaluate_argv` with the run's checkpoints as the students, writing to the default output folder."""
    run = ["--checkpoints", str(root / "run"), "--serve", serve, "--export_dtype", "float32"]
    argv = evaluate_argv(root, GREEDY, grader, *run, *extra)
    at = argv.index("--output_dir")
    return argv[:at] + argv[at + 2 :]


def server_starts(log: Path) -> int:
    return sum(line.startswith("$ ") for line in log.read_text().splitlines()) if log.is_file() else 0


def test_checkpoints_are_ordered_by_step_once_per_step(tmp_path: Path):
    checkpoints = tiny_run(tmp_path / "run")
    assert checkpoints_by_step(tmp_path / "run") == [
        (2, checkpoints / "step=2.ckpt"),
        (4, checkpoints / "step=4.ckpt"),  # last.ckpt is at step 4 too
    ]
    assert checkpoints_by_step(checkpoints) == checkpoints_by_step(tmp_path / "run")


@pytest.mark.slow
def test_every_checkpoint_is_served_and_evaluated_at_its_step_and_matches_the_in_process_model(
    tmp_path: Path, fake_key: None, grader: RubricServer, capsys
):
    checkpoints = tiny_run(tmp_path / "run")
    main(sweep_argv(tmp_path, grader, TRANSFORMERS_SERVE))
    out = tmp_path / "run" / "skillmix_evaluate"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["step000002", "step000004"]
    exports = tmp_path / "run" / "exports"
    by_step = {}
    for step, name in ((2, "step-2"), (4, "step-4")):
        records = lines(out / f"step{step:06d}" / "records.jsonl")
        assert len(records) == PLANNED and {r["step"] for r in records} == {step}
        assert {r["checkpoint"] for r in records} == {str(checkpoints / f"step={step}.ckpt")}
        assert {(r["student"]["provider"], r["student"]["model"]) for r in records} == {
            ("openai-compatible", str(exports / name))
        }
        assert server_starts(exports / f"{name}.serve.log") == 1
        by_step[step] = answers(out / f"step{step:06d}" / "records.jsonl")
    assert by_step[2] != by_step[4]  # each checkpoint's own weights answered
    assert sorted(p.name for p in exports.iterdir()) == [
        "step-2",
        "step-2.serve.log",
        "step-4",
        "step-4.serve.log",
    ]  # last.ckpt (step 4 again) was neither exported nor served

    capsys.readouterr()
    main(["compare", str(out), "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert sorted({(r["step"], r["setting"], r["k"]) for r in rows}) == sorted(
        (step, s, k) for step in (2, 4) for s in ("heldout", "train") for k in (2, 3)
    )
    assert {r["run"] for r in rows} == {"/".join((tmp_path / "run").resolve().parts[-2:])}

    stamp = (exports / "step-2" / "model.safetensors").stat().st_mtime_ns
    main(sweep_argv(tmp_path, grader, TRANSFORMERS_SERVE))  # finished: no export, no server, no request
    assert (exports / "step-2" / "model.safetensors").stat().st_mtime_ns == stamp
    assert server_starts(exports / "step-2.serve.log") == server_starts(exports / "step-4.serve.log") == 1
    assert len(lines(out / "step000002" / "records.jsonl")) == PLANNED

    # backend parity: the in-process hf student on the same export gives the same greedy answers
    hf = ["--student.provider", "hf", "--student.model", str(exports / "step-2"), *GREEDY]
    system = ["--student.system_prompt", "You are a helpful assistant."]
    main(evaluate_argv(tmp_path / "hf", hf, grader, *system))
    assert answers(tmp_path / "hf" / "out" / "step000000" / "records.jsonl") == by_step[2]


def test_a_server_that_exits_at_start_is_a_clear_error_naming_the_checkpoint_and_its_log(
    tmp_path: Path, fake_key: None, grader: RubricServer, capsys
):
    tiny_run(tmp_path / "run")
    failing = 'sh -c "echo loading {model} on port {port}; echo CUDA out of memory >&2; exit 3"'
    with pytest.raises(SystemExit) as stopped:
        main(sweep_argv(tmp_path, grader, failing))
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "step=2.ckpt (step 2)" in err and "exited with code 3" in err
    assert "CUDA out of memory" in err and "loading" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "skillmix_evaluate" / "step000002" / "generations.jsonl").exists()
    assert grader.state.requests == []


@pytest.mark.slow
def test_a_server_that_dies_mid_evaluation_is_named_and_a_rerun_keeps_what_it_answered(
    tmp_path: Path, fake_key: None, grader: RubricServer, capsys
):
    write_checkpoint(tmp_path / "run" / "checkpoints" / "step=2.ckpt", step=2, seed=2)
    scripted = f"PYTHONPATH={REPO} {sys.executable} -m tests.evaluation.student_server"
    scripted += " --model {model} --port {port}"
    one_at_a_time = ["--student.concurrency", "1"]  # 8 first turns, then second turns until the crash
    with pytest.raises(SystemExit) as stopped:
        main(sweep_argv(tmp_path, grader, f"{scripted} --exit_after 10", *one_at_a_time))
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "step=2.ckpt (step 2): the server exited with code 1 during the evaluation" in err
    assert "answered 10 requests: exiting" in err and "the same command resumes" in err
    generations = tmp_path / "run" / "skillmix_evaluate" / "step000002" / "generations.jsonl"
    kept = generations.read_text()
    assert 0 < len(kept.splitlines()) < PLANNED

    main(sweep_argv(tmp_path, grader, scripted, *one_at_a_time))
    assert generations.read_text().startswith(kept)  # what the crashed server answered is kept
    graded = keys(generations.with_name("records.jsonl"))
    assert len(graded) == len(set(graded)) == PLANNED


def test_a_template_is_filled_word_by_word_with_its_leading_assignments_in_the_environment(tmp_path: Path):
    template = "CUDA_VISIBLE_DEVICES=1 vllm serve {model} --host {host} --port={port}"
    server = ModelServer(template, "/exports/step 2", tmp_path / "log", name="x")
    env, command = server.environment()
    assert command == ["vllm", "serve", "/exports/step 2", "--host", "127.0.0.1", "--port=0"]
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    with pytest.raises(InputError, match=r"no \{port\}"):
        ModelServer("vllm serve {model}", "m", tmp_path / "log", name="x")


@pytest.mark.slow
def test_kill_9_mid_evaluation_stops_the_server_and_the_same_command_finishes_with_the_same_answers(
    tmp_path: Path, fake_key: None, grader: RubricServer
):
    whole, root = tmp_path / "whole", tmp_path / "killed"
    for run in (whole, root):  # one checkpoint is enough here
        write_checkpoint(run / "run" / "checkpoints" / "step=2.ckpt", step=2, seed=2)
    main(sweep_argv(whole, grader, TRANSFORMERS_SERVE))

    argv = sweep_argv(root, grader, TRANSFORMERS_SERVE, "--student.concurrency", "1")
    process = subprocess.Popen([sys.executable, "cli.py", *argv], cwd=REPO, stderr=subprocess.DEVNULL)
    generations = root / "run" / "skillmix_evaluate" / "step000002" / "generations.jsonl"
    deadline = time.monotonic() + 120
    while not (generations.is_file() and len(generations.read_text().splitlines()) >= 2):
        assert process.poll() is None and time.monotonic() < deadline, "the evaluation did not get going"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(lines(generations)) < PLANNED
    log = root / "run" / "exports" / "step-2.serve.log"
    port = int(log.read_text().split("--port ")[1].split()[0])
    _wait_until_closed(port)  # the server went with the evaluation that started it

    main(argv)
    graded = keys(generations.with_name("records.jsonl"))
    assert len(graded) == len(set(graded)) == PLANNED and len(keys(generations)) == PLANNED
    expected = whole / "run" / "skillmix_evaluate" / "step000002" / "records.jsonl"
    assert answers(generations.with_name("records.jsonl")) == answers(expected)


def _wait_until_closed(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return
        assert time.monotonic() < deadline, f"the server on port {port} outlived its evaluation"
        time.sleep(0.2)
