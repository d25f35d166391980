"""`python cli.py fit` with no config: the offline default trains end to end from any directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.training.tiny import logged_steps

CLI = Path(__file__).resolve().parents[2] / "cli.py"


@pytest.mark.slow
def test_default_fit_trains_and_writes_metrics_config_and_checkpoint(tmp_path: Path):
    steps = 50  # the default's checkpoint interval; the full default runs 150
    command = [sys.executable, str(CLI), "fit", "--trainer.max_steps", str(steps)]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-4000:]

    out = tmp_path / "runs" / "default"
    losses = logged_steps(out / "version_0" / "metrics.csv", "train/loss")
    assert max(losses) == steps - 1
    assert losses[max(losses)] < losses[min(losses)] - 1.0
    config = yaml.safe_load((out / "version_0" / "config.yaml").read_text())
    assert config["model"]["random_init"] is True
    assert {"last.ckpt", f"step{steps}.ckpt"} <= {p.name for p in (out / "checkpoints").iterdir()}
