"""The SQLite response cache: keys, round trips, and several processes writing one file at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graders.cache import CachedResponse, ResponseCache, cache_key
from graders.interface import SamplingParams, Usage

pytestmark = pytest.mark.timeout(30)

KEY_FIELDS = {
    "provider": "openai",
    "model": "gpt-4",
    "base_url": "https://api.openai.com/v1",
    "messages": [{"role": "user", "content": "hi"}],
    "params": SamplingParams(temperature=1.0, seed=1),
    "template_version": "grading:gpt",
    "sample_index": 0,
}


@pytest.mark.parametrize(
    "change",
    [
        {"provider": "anthropic"},
        {"model": "gpt-4o"},
        {"base_url": "http://localhost:8000/v1"},
        {"messages": [{"role": "user", "content": "hi!"}]},
        {"messages": [{"role": "system", "content": "hi"}]},
        {"params": SamplingParams(temperature=0.5, seed=1)},
        {"params": SamplingParams(temperature=1.0, seed=2)},
        {"params": SamplingParams(temperature=1.0, seed=1, max_tokens=10)},
        {"template_version": "grading:llama"},
        {"sample_index": 1},
        {"draw": "run=a/step=0/setting=train/k=2/combination_index=0/generation_round=2"},
    ],
)
def test_everything_that_decides_the_response_is_in_the_key(change):
    assert cache_key(**{**KEY_FIELDS, **change}) != cache_key(**KEY_FIELDS)


def test_keys_without_a_draw_are_the_keys_written_before_draws_existed():
    assert cache_key(**{**KEY_FIELDS, "draw": ""}) == cache_key(**KEY_FIELDS)
    assert (
        cache_key(**KEY_FIELDS) == "1324dd0cdb643af66eebb4697d64ef0b8f410936c93641038a840a027af4ba8a"
    )  # main, before


def test_trailing_slash_of_the_base_url_does_not_matter():
    assert cache_key(**{**KEY_FIELDS, "base_url": "https://api.openai.com/v1/"}) == cache_key(**KEY_FIELDS)


def test_round_trip_survives_reopening(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put(
        "k",
        CachedResponse("text ü", Usage(3, 4), "gpt-4-0613", via_batch=True),
        provider="openai",
        model="gpt-4",
    )
    cache.close()
    assert ResponseCache(tmp_path / "c.sqlite").get("k") == CachedResponse(
        "text ü", Usage(3, 4), "gpt-4-0613", True
    )
    assert ResponseCache(tmp_path / "c.sqlite").get("missing") is None


WRITER = """
import sys
from graders.cache import CachedResponse, ResponseCache
from graders.interface import Usage
cache = ResponseCache(sys.argv[1])
for i in range(200):
    cache.put(f"{sys.argv[2]}-{i}", CachedResponse(str(i), Usage(1, 1), "m", False), provider="p", model="m")
"""


def test_concurrent_processes_share_one_cache_file(tmp_path: Path):
    path = tmp_path / "shared.sqlite"
    ResponseCache(path).close()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name]) for name in "abc"]
    assert [w.wait(timeout=25) for w in writers] == [0, 0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 600
    assert cache.get("b-199") == CachedResponse("199", Usage(1, 1), "m", False)
