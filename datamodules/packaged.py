"""The assets the project ships (the tiny Llama, the sample data), named relative to the checkout.

Defaults, and so the configs LightningCLI saves beside each run, name them `datamodules/assets/tiny-llama`
rather than one machine's absolute path: a saved config copied to another checkout runs there, from any
working directory, because every loader passes names through `resolve`.
"""

from __future__ import annotations

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
"""The folder that holds the `datamodules` package (the repository root of a checkout)."""
TINY_LLAMA_NAME = "datamodules/assets/tiny-llama"
"""The offline default: the project's own byte-level BPE tokenizer and a 2-layer Llama config (no weights),
built by scripts/build_tiny_assets.py; the data path's tokenizer and the model's architecture."""
SAMPLE_DATA_NAME = "datamodules/sample_data/skillmix_sample.jsonl"
"""The bundled D(1)+D(2)+D(3) sample that the offline default trains on."""
TINY_LLAMA = CHECKOUT / TINY_LLAMA_NAME
SAMPLE_DATA = CHECKOUT / SAMPLE_DATA_NAME


def resolve(name_or_path: str) -> str:
    """`name_or_path` itself when it is absolute, exists from the working directory, or names no packaged
    asset (a hub id); else the packaged asset under the checkout."""
    path = Path(name_or_path)
    if path.is_absolute() or path.exists():
        return name_or_path
    packaged = CHECKOUT / path
    return str(packaged) if packaged.exists() else name_or_path
