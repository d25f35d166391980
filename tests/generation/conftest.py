"""Fixtures for the generation tests: the graders' scripted HTTP server playing teacher and grader.

The server lives in tests/graders (imported, not copied); that folder is not a package, so it goes on
sys.path here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graders"))

from llm_servers import ScriptedLLMServer, ServerState
from scripted_models import ScriptedModels


@pytest.fixture
def models() -> ScriptedModels:
    return ScriptedModels()


@pytest.fixture
def server(models: ScriptedModels) -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer(ServerState(reply=models.reply)) as running:
        yield running


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real keys, base URLs or cache folders from the developer's shell."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKILLMIX_CACHE_DIR", str(tmp_path / "default-cache"))
