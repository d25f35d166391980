"""Fixtures for the graders tests: a scripted provider on 127.0.0.1, instant retry waits, fake keys.

Real-provider tests (marker `api`) are enabled suite-wide by `--run-api` (tests/conftest.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from grader_fakes import FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY, InstantClock
from llm_servers import ScriptedLLMServer


@pytest.fixture
def clock() -> InstantClock:
    return InstantClock()


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as running:
        yield running


@pytest.fixture
def fake_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake keys in the environment, and no real ones or base URLs leaking in from the developer's shell."""
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_ANTHROPIC_KEY)


@pytest.fixture
def real_api_key() -> str:
    key = os.environ.get("OPENAI_API_KEY", "")
    if not key:
        pytest.skip("OPENAI_API_KEY is not set")
    return key
