"""`cli.py compare` on the reference layout, and the protocol layer's import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from skillmix.compare import compare_rows, read_records
from skillmix.compare_report import print_table
from skillmix.metrics import ScoringOptions

from .conftest import REFERENCE_DIR, requires_reference

REPO = Path(__file__).resolve().parents[2]
REFERENCE_TEST = REFERENCE_DIR / "test"


def _by_run(rows: list[dict]) -> dict[str, dict]:
    return {row["run"]: row for row in rows}


@requires_reference
@pytest.mark.parametrize("name_penalty", [True, False])
def test_reference_folder_numbers(name_penalty: bool) -> None:
    rows = _by_run(compare_rows([REFERENCE_TEST], ScoringOptions(name_penalty=name_penalty)))
    gpt4 = rows["gpt-4"]
    assert (gpt4["setting"], gpt4["k"], gpt4["seed"], gpt4["grader"], gpt4["n"]) == (
        "reference",
        3,
        10,
        "gpt-4",
        5,
    )
    assert gpt4["full_marks"] == pytest.approx(0.6)
    assert gpt4["all_skills"] == pytest.approx(0.6)
    assert round(gpt4["skills_fraction"], 4) == 0.8667
    assert gpt4["full_marks_se"] == pytest.approx(0.2449, abs=1e-4)
    assert (gpt4["unscored"], gpt4["gradings"], gpt4["warnings"]) == (0, 30, [])
    llama = rows["llama2-7b-chat"]
    assert (llama["n"], llama["full_marks"], llama["unscored"], llama["unscored_combinations"]) == (
        0,
        None,
        36,
        5,
    )
    penalty = [] if not name_penalty else [
        "name penalty: 2 skill names found in the 12 answers by substring matching "
        "(4 by word matching, --name_match word)"  # "self-serving bias" is a name only to the word test
    ]  # fmt: skip
    assert llama["warnings"] == ["generation round 3 has 2 of the 5 combinations", *penalty]
    assert (rows["mistral-7b-chat"]["n"], rows["mistral-7b-chat"]["unscored"]) == (0, 3)


@requires_reference
def test_whole_word_matching_counts_its_own_penalties() -> None:
    rows = _by_run(compare_rows([REFERENCE_TEST], ScoringOptions(name_match="word")))
    assert rows["llama2-7b-chat"]["warnings"][-1] == (
        "name penalty: 4 skill names found in the 12 answers by word matching "
        "(2 by substring matching, --name_match substring)"
    )
    assert rows["gpt-4"]["full_marks"] == pytest.approx(0.6)  # GPT-4's answers name no skill either way


@requires_reference
def test_reference_compat_mode_scores_unscored_gradings_as_zero() -> None:
    rows = _by_run(compare_rows([REFERENCE_TEST], ScoringOptions(reference_compat=True)))
    assert rows["gpt-4"]["full_marks"] == pytest.approx(0.6)
    assert (rows["llama2-7b-chat"]["n"], rows["llama2-7b-chat"]["full_marks"]) == (5, 0.0)
    assert (rows["mistral-7b-chat"]["n"], rows["mistral-7b-chat"]["full_marks_se"]) == (1, None)
    assert all(row["reference_compat"] for row in rows.values())


@requires_reference
def test_rich_table_shows_metrics_with_standard_errors() -> None:
    console = Console(record=True, width=200)
    print_table(compare_rows([REFERENCE_TEST], ScoringOptions()), console)
    text = console.export_text()
    assert "0.600 ± 0.245" in text and "0.867 ± 0.082" in text and "36/36" in text
    assert "warning llama2-7b-chat k=3: generation round 3 has 2 of the 5 combinations" in text


@requires_reference
def test_command_line_json_name_penalty_and_plot(tmp_path: Path) -> None:
    plot = tmp_path / "metrics.png"
    command = [sys.executable, "cli.py", "compare", str(REFERENCE_TEST), "--json"]
    command += ["--name_penalty", "false", "--plot", str(plot)]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    rows = _by_run(json.loads(finished.stdout))
    assert rows["gpt-4"]["full_marks"] == pytest.approx(0.6)
    assert "1 of 5 generations are graded" in finished.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    two_folders = [str(REFERENCE_TEST / "k3_s10_vdefault_r2"), str(REFERENCE_TEST / "k3_s10_vdefault_r3")]
    finished = subprocess.run(
        [sys.executable, "cli.py", "compare", *two_folders, "--json", "true"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    assert _by_run(json.loads(finished.stdout))["gpt-4"]["skills_fraction"] == pytest.approx(13 / 15)


def test_unknown_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"no graded records found\. Fix: pass a folder in one of these layouts"
    ):
        read_records(tmp_path)
