"""Suite-wide test tiers: `api` tests run only with --run-api (and their key), `gpu` tests only with CUDA."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-api", action="store_true", help="run tests that call real provider APIs (cost money)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_api = pytest.mark.skip(reason="calls a real provider API: pass --run-api and set the key")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    run_api = config.getoption("--run-api")
    has_cuda = _cuda_available()
    for item in items:
        if "api" in item.keywords and not run_api:
            item.add_marker(skip_api)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
