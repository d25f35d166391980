"""The checkout's own hygiene: what a run writes is ignored, and nothing the project ships is."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs a git checkout"
)


def git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=REPO, capture_output=True, text=True, check=True).stdout


def test_no_tracked_file_matches_an_ignore_rule() -> None:
    """A rule matching a source folder (`data/` matched tests/data) would drop new files there silently."""
    assert git("ls-files", "--cached", "--ignored", "--exclude-standard") == ""


@pytest.mark.parametrize(
    "output",
    [
        "runs/default/version_0/config.yaml",
        "data/skillmix/d1.jsonl",
        "exports/hf/model.safetensors",
        "models/smollm2-135m-instruct/config.json",
    ],
)
def test_what_the_readme_commands_write_is_ignored(output: str) -> None:
    assert git("check-ignore", "--no-index", output).strip() == output
