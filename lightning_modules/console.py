"""What a Trainer run prints: a progress bar that counts steps, and no known-harmless noise."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import RichProgressBar

HARMLESS_WARNINGS = (
    # torchdata's StatefulDataLoader calls a torch API that torch now deprecates; nothing to do here
    r"'set_vital' is deprecated",
    # Lightning's own pytree helper on newer torch; fixed upstream, no effect on results
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
HARMLESS_LOG_LINES = ("💡 Tip: For seamless cloud uploads and versioning",)
"""Lightning's advertisement for its model registry, printed by every run."""


class _DropLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(HARMLESS_LOG_LINES)


def silence_harmless_noise() -> None:
    """Hide exactly the warnings and tips above; every other warning still shows."""
    for message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropLines())


def silence_resume_warning() -> None:
    """Resuming a run writes into its own checkpoint folder on purpose."""
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")


class StepProgressBar(RichProgressBar):
    """Rich's bar, with "step s/max_steps" instead of "Epoch 9/-2" (runs here stop at `max_steps`) and
    without the logger's `v_num`."""

    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        if trainer.max_steps > 0:
            description = f"Epoch {current_epoch} · step {trainer.global_step}/{trainer.max_steps}"
        elif trainer.max_epochs is not None and trainer.max_epochs > 0:
            description = f"Epoch {current_epoch}/{trainer.max_epochs - 1}"
        else:
            description = f"Epoch {current_epoch}"
        return f"{description:{len(self.validation_description)}}"

    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
