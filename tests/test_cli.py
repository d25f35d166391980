"""cli.py's contract for mistakes a user can fix: the message alone on stderr, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
