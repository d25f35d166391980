"""Fixtures for the evaluation tests: a rubric-table grader on 127.0.0.1 and small fit/validate configs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.evaluation.rubric_server import RubricServer

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"


@pytest.fixture
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-evaluation")


@pytest.fixture
def grader() -> Iterator[RubricServer]:
    with RubricServer() as server:
        yield server


def eval_callback(server_url: str, root: Path, **overrides: Any) -> dict[str, Any]:
    """The callback: 2 settings x k=2,3 x 2 combinations x 1 round = 8 short answers, graded twice."""
    init_args: dict[str, Any] = {
        "grader": {
            "provider": "openai-compatible",
            "model": "scripted-grader",
            "base_url": f"{server_url}/v1",
            "cache": str(root / "responses.sqlite"),
            "max_attempts": 1,
        },
        "grading": {"rounds": 2},
        "student": {"max_new_tokens": 12},
        "settings": ["train", "heldout"],
        "ks": [2, 3],
        "combinations_per_k": 2,
        "generation_rounds": 1,
        "batch_size": 3,
        "output_dir": str(root / "skillmix_eval"),
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            init_args[key] = {**init_args.get(key, {}), **value}
        else:
            init_args[key] = value
    return {"class_path": "lightning_modules.skillmix_eval.SkillMixEvalCallback", "init_args": init_args}


def run_config(
    root: Path,
    callback: dict[str, Any],
    *,
    max_steps: int = 1,
    checkpoint_every: int | None = None,
    trainer: dict[str, Any] | None = None,
) -> Path:
    """configs/default.yaml, writing under `root`, with the evaluation callback (and checkpoints if asked)."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["trainer"].update(max_steps=max_steps, log_every_n_steps=1, enable_model_summary=False)
    config["trainer"].update(enable_progress_bar=False, **(trainer or {}))
    config["trainer"]["logger"]["init_args"]["save_dir"] = str(root)
    callbacks = [callback]
    if checkpoint_every is not None:
        (checkpoint,) = config["trainer"]["callbacks"]
        checkpoint["init_args"].update(dirpath=str(root / "ckpt"), every_n_train_steps=checkpoint_every)
        callbacks.insert(0, checkpoint)
    config["trainer"]["callbacks"] = callbacks
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
