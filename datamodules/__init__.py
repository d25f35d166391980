"""From D(k) files to training batches: checking, chat-template tokenization, mixtures, batching.

The exports are resolved lazily so that `datamodules.generation` (which needs no torch) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from datamodules.packaged import TINY_LLAMA

if TYPE_CHECKING:
    from datamodules.mixture import DataSource
    from datamodules.skillmix_datamodule import SkillMixDataModule

_EXPORTS = {
    "DataSource": "datamodules.mixture",
    "SkillMixDataModule": "datamodules.skillmix_datamodule",
}

__all__ = ["TINY_LLAMA", "DataSource", "SkillMixDataModule"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'datamodules' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
