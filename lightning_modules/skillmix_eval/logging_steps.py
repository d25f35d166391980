"""Logging a checkpoint's metrics at its own step, also where the trainer has moved on since.

Background grading finishes a checkpoint while training is further along, so its metrics reach the loggers
after later steps were logged. TensorBoard, CSV and MLflow take a point at any step. W&B's own step only
increases (a smaller one is dropped with a warning): there the metrics carry `skillmix/step`, declared as
the x-axis of every `skillmix/*` series with `define_metric`, and go in without a W&B step. Every logger
gets `skillmix/step` too, so all of them plot the curve against the same axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from weakref import WeakSet

from lightning.pytorch.loggers import Logger, WandbLogger

STEP_METRIC = "skillmix/step"

_declared: WeakSet[WandbLogger] = WeakSet()
"""The W&B loggers whose run knows the `skillmix/*` x-axis already."""


def log_at_step(logger: Logger, metrics: Mapping[str, float], step: int) -> None:
    """`metrics` of the checkpoint at `step`, with `skillmix/step`, in the way `logger` accepts."""
    logged = {**metrics, STEP_METRIC: step}
    if isinstance(logger, WandbLogger):
        run = logger.experiment
        if logger not in _declared:
            run.define_metric(STEP_METRIC)
            run.define_metric("skillmix/*", step_metric=STEP_METRIC)
            _declared.add(logger)
        run.log(logged)
    else:
        logger.log_metrics(logged, step=step)
