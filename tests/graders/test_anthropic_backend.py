"""The Anthropic backend through ModelClient against a scripted Messages server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import pytest
from grader_fakes import FAKE_ANTHROPIC_KEY

from graders.backends.anthropic_messages import AnthropicBackend
from graders.client import GenerateRequest, ModelClient
from graders.credentials import MissingCredentialsError
from graders.interface import SamplingParams
from graders.retry import RetryPolicy

pytestmark = [pytest.mark.timeout(20), pytest.mark.usefixtures("fake_keys")]


def test_messages_calls_one_per_sample_with_system_and_sampling_in_the_body(server, clock):
    server.state.faults.extend(["529", "429"])
    client = ModelClient(
        AnthropicBackend("claude-3-opus-20240229", base_url=server.url),
        retry=RetryPolicy(max_attempts=3),
        sleep=clock.sleep,
        clock=clock,
    )
    request = GenerateRequest(
        [{"role": "system", "content": "You grade."}, {"role": "user", "content": "rubric"}],
        SamplingParams(max_tokens=64, temperature=0.7),
        sample_indices=(0, 1, 2),
    )
    samples = asyncio.run(client.generate(request))
    assert [s.text for s in samples] == ["rubric #0"] * 3  # the fake answers sample 0 to every call
    bodies = [json.loads(r["raw"]) for r in server.state.model_requests()]
    assert len(bodies) == 5 and client.stats.retries == {"server_error": 1, "rate_limit": 1}
    assert bodies[-1] == {
        "model": "claude-3-opus-20240229",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "rubric"}],
        "system": "You grade.",
        "temperature": 0.7,
    }
    assert server.state.model_requests()[0]["headers"].get("authorization") == f"Bearer {FAKE_ANTHROPIC_KEY}"
    assert samples[0].usage.input_tokens > 0 and samples[0].usage.output_tokens > 0


def test_missing_anthropic_key_names_the_variable_and_the_alternatives(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(MissingCredentialsError, match=r"ANTHROPIC_API_KEY.*provider=openai"):
        AnthropicBackend("claude-3-opus-20240229")


def test_base_url_comes_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url + "/")
    assert AnthropicBackend("claude-3-haiku-20240307").base_url == server.url
