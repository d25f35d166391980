"""The converted SmolLM2-135M-Instruct (scripts/get_smollm2.sh), loaded once per test module.

Its tests skip when the model directory is absent, with the command that makes it, unless
SKILLMIX_REQUIRE_SMOLLM2=1 (CI sets it after fetching), which turns the skip into a failure.
SKILLMIX_SMOLLM2_DIR points them at another directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from lightning_modules.hf_model import load_causal_lm

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = Path(os.environ.get("SKILLMIX_SMOLLM2_DIR", REPO / "models" / "smollm2-135m-instruct"))
GGUF_FILE = MODEL_DIR / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def model_dir() -> Path:
    if not (MODEL_DIR / "model.safetensors").is_file() or not GGUF_FILE.is_file():
        reason = f"SmolLM2-135M-Instruct is not in {MODEL_DIR}: run `bash scripts/get_smollm2.sh` (~1 min)"
        if os.environ.get("SKILLMIX_REQUIRE_SMOLLM2") == "1":
            pytest.fail(f"SKILLMIX_REQUIRE_SMOLLM2=1 but {reason}")
        pytest.skip(reason)
    return MODEL_DIR


@pytest.fixture(scope="module")
def tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def model(model_dir: Path) -> PreTrainedModel:
    """The converted weights through the project's one weight loader, in eval mode (nothing trains it)."""
    return load_causal_lm(str(model_dir)).eval()
