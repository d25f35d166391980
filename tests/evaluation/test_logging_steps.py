"""A checkpoint graded after training moved on is logged at its own step, in a way each logger accepts."""

from __future__ import annotations

from typing import Any

import pytest
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from lightning_modules.skillmix_eval.logging_steps import log_at_step


class IncreasingStepsRun:
    """A W&B run: its own step only increases (a smaller `step=` is refused), any other field is free."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.rows: list[dict[str, Any]] = []
        self.defined: list[tuple[str, str | None]] = []

    def log(self, data: dict[str, Any], step: int | None = None) -> None:
        if step is not None and step < self.step:
            raise ValueError(f"step {step} < current step {self.step}")
        self.step = self.step + 1 if step is None else step
        self.rows.append(data)

    def define_metric(self, name: str, step_metric: str | None = None) -> None:
        self.defined.append((name, step_metric))


class FakeWandbLogger(WandbLogger):
    def __init__(self, run: IncreasingStepsRun) -> None:  # no wandb package needed
        self.run = run

    @property
    def experiment(self) -> IncreasingStepsRun:  # type: ignore[override]
        return self.run


def test_wandb_gets_an_older_step_as_the_skillmix_step_axis_declared_once():
    run = IncreasingStepsRun(step=150)  # training logged up to step 150
    logger = FakeWandbLogger(run)
    log_at_step(logger, {"skillmix/train/k2/full_marks": 0.25}, step=50)
    log_at_step(logger, {"skillmix/train/k2/full_marks": 0.5}, step=100)
    assert run.rows == [
        {"skillmix/train/k2/full_marks": 0.25, "skillmix/step": 50},
        {"skillmix/train/k2/full_marks": 0.5, "skillmix/step": 100},
    ]
    assert run.defined == [("skillmix/step", None), ("skillmix/*", "skillmix/step")]


def test_other_loggers_get_the_evaluated_step(tmp_path, monkeypatch: pytest.MonkeyPatch):
    logger = CSVLogger(tmp_path)
    calls: list[tuple[dict[str, float], int | None]] = []
    monkeypatch.setattr(logger, "log_metrics", lambda metrics, step=None: calls.append((metrics, step)))
    log_at_step(logger, {"skillmix/all/k3/full_marks": 0.75}, step=50)
    assert calls == [({"skillmix/all/k3/full_marks": 0.75, "skillmix/step": 50}, 50)]
