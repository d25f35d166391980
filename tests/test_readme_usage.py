"""README's usage section, command by command as printed there, against a grader on 127.0.0.1: every
command succeeds and leaves what the README says it does."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM

from tests.evaluation.rubric_server import RubricServer

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- usage: tests/test_readme_usage.py runs these commands as written -->"


def usage_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(re.escape(MARKER) + r"\n```bash\n(.*?)\n```", readme, re.DOTALL)
    assert block is not None, "README's usage block is gone"
    return block.group(1).splitlines()


def test_the_usage_block_is_found() -> None:
    commands = usage_commands()
    assert commands[0] == "export OPENAI_API_KEY=..." and commands[1] == "python cli.py fit"
    assert all(command.startswith("python cli.py ") for command in commands[1:])


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_readme_usage_runs_as_written(tmp_path: Path) -> None:
    # a checkout of its own: the repository's code and configs, and nothing of earlier runs
    (tmp_path / "cli.py").symlink_to(REPO / "cli.py")
    (tmp_path / "configs").symlink_to(REPO / "configs")
    commands = usage_commands()
    with RubricServer() as grader:
        environment = {
            **os.environ,
            "OPENAI_API_KEY": "sk-test-readme",
            "OPENAI_BASE_URL": f"{grader.url}/v1",
            "HOME": str(tmp_path),
            "HF_HUB_OFFLINE": "1",
        }
        outputs = []
        for command in commands[1:]:
            arguments = shlex.split(command)
            assert arguments[:2] == ["python", "cli.py"]
            finished = subprocess.run(
                [sys.executable, *arguments[1:]],
                cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert finished.returncode == 0, f"{command}\n{finished.stderr[-3000:]}"
            outputs.append(finished.stdout)
        assert grader.answered  # the evaluation was graded by the loopback server

    run = tmp_path / "runs" / "default" / "version_0"
    fit, base, checkpoint, compared, _, compared_again, _ = outputs
    assert "python cli.py validate --config configs/default.yaml" in fit
    for printed in (base, checkpoint):
        assert "SKILL-MIX results of this run: python cli.py compare runs/default/version_0" in printed
    assert sorted(p.name for p in (run / "skillmix_eval").glob("step*")) == ["step000000", "step000150"]
    assert "difference to the base model" in compared and "difference to the base model" in compared_again
    regraded = run / "skillmix_eval" / "step000150" / "records.graded-by-openai-gpt-4o-2024-08-06.jsonl"
    lines = regraded.read_text().splitlines()
    assert len(lines) == 16 and all(json.loads(line)["gradings"] for line in lines)
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "exports" / "default")
    assert exported.config.num_hidden_layers == 2
    assert [p.name for p in (tmp_path / "runs" / "default").iterdir()] == ["version_0"]
