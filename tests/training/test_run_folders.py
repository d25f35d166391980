"""Each training run gets its own folder: two fits never mix checkpoints, `--ckpt_path last` resumes the
latest run in its folder, a run's checkpoint path resumes an older one, and `validate` lands in its run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from cli import main
from lightning_modules.run_folders import choose_run, remove_if_unused
from tests.training.tiny import logged_steps, small_fit_config

REPO = Path(__file__).resolve().parents[2]


def checkpoint_names(run: Path) -> set[str]:
    return {path.name for path in (run / "checkpoints").iterdir()}


@pytest.mark.slow
def test_two_fits_keep_their_checkpoints_apart_and_resume_picks_the_run(tmp_path: Path) -> None:
    config = str(small_fit_config(tmp_path, checkpoint_every=2, max_steps=2))
    main(["fit", "--config", config])
    main(["fit", "--config", config])
    first, second = tmp_path / "version_0", tmp_path / "version_1"
    assert checkpoint_names(first) == checkpoint_names(second) == {"step2.ckpt", "last.ckpt"}  # no "-v1"

    main(["fit", "--config", config, "--trainer.max_steps", "4", "--ckpt_path", "last"])  # the latest run
    assert checkpoint_names(second) == {"step2.ckpt", "step4.ckpt", "last.ckpt"}
    assert checkpoint_names(first) == {"step2.ckpt", "last.ckpt"}
    assert sorted(logged_steps(second / "metrics.csv", "train/loss")) == [0, 1, 2, 3]  # appended

    older = str(first / "checkpoints" / "last.ckpt")
    main(["fit", "--config", config, "--trainer.max_steps", "4", "--ckpt_path", older])  # an older run
    assert checkpoint_names(first) == {"step2.ckpt", "step4.ckpt", "last.ckpt"}
    assert torch.load(first / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    assert sorted(path.name for path in tmp_path.glob("version_*")) == ["version_0", "version_1"]


def test_the_rule_puts_base_and_checkpoint_evaluations_of_a_run_together(tmp_path: Path) -> None:
    assert choose_run(tmp_path, "validate", None).version == 0  # nothing yet: the first run's folder
    (tmp_path / "version_0" / "skillmix_eval" / "step000000").mkdir(parents=True)
    assert choose_run(tmp_path, "fit", None).version == 0  # trains beside that base-model evaluation
    (tmp_path / "version_0" / "checkpoints").mkdir()
    (tmp_path / "version_0" / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert choose_run(tmp_path, "fit", None).version == 1  # a trained run is never reused
    assert choose_run(tmp_path, "validate", None).version == 0  # base model: the latest run
    (tmp_path / "version_1").mkdir()
    assert choose_run(tmp_path, "validate", None).version == 1
    checkpoint = str(tmp_path / "version_0" / "checkpoints" / "last.ckpt")
    assert choose_run(tmp_path, "validate", checkpoint).version == 0  # the checkpoint's own run
    assert choose_run(tmp_path, "fit", "last").ckpt_path == checkpoint
    elsewhere = str(tmp_path.parent / "other.ckpt")
    assert choose_run(tmp_path, "validate", elsewhere).version == 1


def test_a_run_folder_with_nothing_in_it_but_its_config_is_removed(tmp_path: Path) -> None:
    (tmp_path / "version_0").mkdir()
    (tmp_path / "version_0" / "validate_config.yaml").write_text("{}")
    remove_if_unused(tmp_path / "version_0")
    assert not (tmp_path / "version_0").exists()
    (tmp_path / "version_1" / "checkpoints").mkdir(parents=True)
    (tmp_path / "version_1" / "checkpoints" / "last.ckpt").write_bytes(b"")
    remove_if_unused(tmp_path / "version_1")
    assert (tmp_path / "version_1").is_dir()


@pytest.mark.slow
def test_a_failed_validate_leaves_no_empty_run_folder(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    config["trainer"]["logger"]["init_args"]["save_dir"] = str(tmp_path / "runs")
    (tmp_path / "default.yaml").write_text(yaml.safe_dump(config))
    environment = {key: value for key, value in os.environ.items() if key != "OPENAI_API_KEY"}
    command = [sys.executable, "cli.py", "validate", "--config", str(tmp_path / "default.yaml")]
    command += ["--config", "configs/eval/skillmix_small.yaml"]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240, env=environment)
    assert finished.returncode == 2, finished.stderr[-2000:]
    assert "OPENAI_API_KEY is not set" in finished.stderr
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
