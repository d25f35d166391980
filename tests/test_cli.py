"""cli.py's contract for mistakes a user can fix: the message alone on stderr, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_an_input_error_prints_its_message_without_a_traceback(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "cli.py", "compare", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert finished.returncode == 2
    assert f"error: {tmp_path}: no graded records found. Fix: pass a folder" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_missing_credentials_name_the_variable_before_any_work(tmp_path: Path) -> None:
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    output = tmp_path / "d"
    command = [sys.executable, "cli.py", "generate", "--k", "2", "--n", "3", "--output_dir", str(output)]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, env=environment)
    assert finished.returncode == 2
    assert "error: OPENAI_API_KEY is not set: export OPENAI_API_KEY=... first." in finished.stderr
    assert "Traceback" not in finished.stderr
    assert not (output / "d2.jsonl").exists()


BAD_INPUTS = [
    (
        ["generate", "--k", "80", "--n", "5", "--dry_run", "true", "--output_dir", "{tmp}/d"],
        "k=80 needs 1 <= k <= 69 (the size of the skill pool). Fix: choose k <= 69",
    ),
    (
        ["generate", "--k", "2", "--n", "5", "--grading.template", "v9", "--output_dir", "{tmp}/d"],
        "Unknown grading template 'v9'; known: gpt, llama",
    ),
    (
        ["export", "--ckpt_path", "{tmp}/none.ckpt", "--output_dir", "{tmp}/x"],
        "none.ckpt. Fix: pass --ckpt_path",
    ),
    (["grade", "{tmp}/none.jsonl"], "none.jsonl: no such file, and not a run or evaluation folder. Fix:"),
    (["grade", "{tmp}/torn.jsonl"], "torn.jsonl:1: not valid JSON"),
    (
        ["fit", "--data.train_files", "[{tmp}/none.jsonl]", "--trainer.max_steps", "1"],
        "none.jsonl: no such file. Fix: check the path",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("arguments", "message"), BAD_INPUTS, ids=lambda value: str(value)[:40])
def test_every_command_reports_bad_input_with_status_2_and_no_traceback(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    (tmp_path / "torn.jsonl").write_text("{broken\n{}\n", encoding="utf-8")
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OPENAI_API_KEY": "sk-test-not-used"}
    command = [sys.executable, "cli.py", *(a.replace("{tmp}", str(tmp_path)) for a in arguments)]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240, env=environment)
    assert finished.returncode == 2, finished.stderr[-2000:]
    assert message in finished.stderr
    assert "Traceback" not in finished.stderr
    assert "sk-test-not-used" not in finished.stderr + finished.stdout


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "cli.py", *arguments], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_top_level_help_lists_every_command_with_a_line() -> None:
    from cli import PROJECT_COMMANDS, TRAINER_COMMANDS

    for arguments in ((), ("--help",)):
        finished = run_cli(*arguments)
        assert finished.returncode == 0
        listed = [line.split()[0] for line in finished.stdout.splitlines() if line.startswith("  ")]
        assert sorted(listed) == sorted([*TRAINER_COMMANDS, *PROJECT_COMMANDS])
        assert max(map(len, finished.stdout.splitlines())) <= 80


def test_an_unknown_or_unsupported_command_says_what_exists() -> None:
    unknown = run_cli("trian")
    assert unknown.returncode == 2 and "unknown command 'trian'" in unknown.stderr
    assert "  compare" in unknown.stderr and "Traceback" not in unknown.stderr
    test = run_cli("test")
    assert (
        test.returncode == 2 and "`test` is not supported" in test.stderr and "Traceback" not in test.stderr
    )


def test_a_commands_usage_error_points_to_its_own_help() -> None:
    finished = run_cli("export", "--no_such_option", "1")
    assert finished.returncode == 2
    assert "cli.py export --help" in finished.stderr


def test_a_commands_help_keeps_its_whole_description() -> None:
    finished = run_cli("generate", "--help")
    text = " ".join(finished.stdout.split())
    assert "graded, and kept only with full marks." in text
