"""A run killed mid-way resumes to the same files without repeating a finished request; batch mode."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from generation_runs import read_jsonl, run_generate
from llm_servers import ScriptedLLMServer
from scripted_models import ScriptedModels

from graders.cache import ResponseCache
from graders.skillmix_grader import GradingSettings

pytestmark = pytest.mark.timeout(90)

# With a grading seed every request body is distinct (a re-ask would otherwise repeat its first call's body).
SEEDED = GradingSettings(seed=100)
OUTPUT_FILES = ("d1.jsonl", "d1.rejects.jsonl")


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_resume_after_kill_gives_the_uninterrupted_files_without_repeating_a_request(
    models: ScriptedModels, server: ScriptedLLMServer, tmp_path: Path
) -> None:
    out, cache = tmp_path / "resumed", tmp_path / "resumed.sqlite"
    models.hold_after = 20  # answer 20 requests, then hold every further one
    child = multiprocessing.get_context("fork").Process(
        target=run_generate, args=(server.url, out, cache), kwargs={"grading": SEEDED}
    )
    child.start()
    try:
        assert models.holding.wait(timeout=30), "the run never reached the 21st request"
        answered = list(models.answered)
        samples = sum(body.get("n", 1) for body in answered)
        _wait_for(lambda: len(ResponseCache(cache)) == samples, 20, "the answered samples in the cache")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=10)
    assert child.exitcode == -signal.SIGKILL
    partial = read_jsonl(out / "d1.jsonl") + read_jsonl(out / "d1.rejects.jsonl")
    assert 0 < len(partial) < 18, "the kill should land mid-run"

    models.hold_after = None
    models.release.set()
    before = len(server.state.model_requests())
    run_generate(server.url, out, cache, grading=SEEDED)
    resumed = {_canonical(json.loads(r["raw"])) for r in server.state.model_requests()[before:]}
    assert resumed.isdisjoint(_canonical(body) for body in answered)

    whole = tmp_path / "whole"
    run_generate(server.url, whole, tmp_path / "whole.sqlite", grading=SEEDED)
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    resumed_summary, whole_summary = (
        json.loads((f / "summary.json").read_text())["d1"] for f in (out, whole)
    )
    for field in ("finished", "kept", "rejected"):
        assert resumed_summary[field] == whole_summary[field], field


def test_batch_mode_sends_every_stage_through_the_batch_api(
    server: ScriptedLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-generation-key")
    run_generate(server.url, tmp_path / "live", tmp_path / "live.sqlite", grading=SEEDED)
    live_requests = len(server.state.requests)

    out = tmp_path / "batched"
    run_generate(
        server.url, out, tmp_path / "batched.sqlite", grading=SEEDED, batch=True, batch_poll_seconds=0.0,
        client={"provider": "openai"},
    )  # fmt: skip
    requests = server.state.requests[live_requests:]
    assert [r["path"] for r in requests if r["method"] == "POST" and r["path"] == "/v1/batches"] == [
        "/v1/batches"
    ] * 3  # turn 1, turn 2, grading
    rejects = read_jsonl(out / "d1.rejects.jsonl")
    live_calls = [r for r in requests if r["path"] == "/v1/chat/completions"]
    assert len(live_calls) == sum(r["reason"] == "unscored" for r in rejects)  # only the re-asks
    for name in OUTPUT_FILES:
        batched = [(r["id"], r.get("answer"), r.get("reason")) for r in read_jsonl(out / name)]
        live = [(r["id"], r.get("answer"), r.get("reason")) for r in read_jsonl(tmp_path / "live" / name)]
        assert batched == live
    assert b"sk-test-generation-key" not in b"".join(p.read_bytes() for p in out.iterdir())
