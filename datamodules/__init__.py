"""From D(k) files to training batches: checking, chat-template tokenization, mixtures, batching."""

from datamodules.mixture import DataSource
from datamodules.skillmix_datamodule import SkillMixDataModule

__all__ = ["DataSource", "SkillMixDataModule"]
