"""Fixtures shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.tiny import build_pretrained_tiny_dir, build_tiny_model_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def pretrained_tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pretrained_tiny_dir(tmp_path_factory.mktemp("pretrained-tiny-llama"))
