"""From D(k) files to training batches: checking, chat-template tokenization, mixtures, batching.

The exports are resolved lazily so that `datamodules.generation` (which needs no torch) starts fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datamodules.mixture import DataSource
    from datamodules.skillmix_datamodule import SkillMixDataModule

_EXPORTS = {
    "DataSource": "datamodules.mixture",
    "SkillMixDataModule": "datamodules.skillmix_datamodule",
}

__all__ = ["TINY_LLAMA", "DataSource", "SkillMixDataModule"]

TINY_LLAMA = Path(__file__).resolve().parent / "assets" / "tiny-llama"
"""The offline default: the project's own byte-level BPE tokenizer and a 2-layer Llama config (no weights),
built by scripts/build_tiny_assets.py; the data path's tokenizer and the model's architecture."""


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'datamodules' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
