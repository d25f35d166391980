"""`cli.py generate` end to end, with the scripted server as teacher and grader on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from generation_runs import SCRIPTED_MODEL, expected_fate, read_jsonl, run_generate
from llm_servers import ScriptedLLMServer
from scripted_models import DUPLICATE_TEXT

from datamodules.dk_files import read_skillmix_file
from datamodules.generation.command import RunConfigError
from datamodules.generation.teacher import TeacherSampling
from datamodules.provenance import read_training_data
from graders.credentials import MissingCredentialsError
from graders.settings import ClientSettings
from skillmix.splits import Splits

pytestmark = pytest.mark.timeout(60)


def test_keeps_exactly_the_full_marks_texts(server: ScriptedLLMServer, tmp_path: Path) -> None:
    out = tmp_path / "data"
    run_generate(server.url, out, tmp_path / "cache.sqlite")

    kept = read_jsonl(out / "d1.jsonl")
    rejects = read_jsonl(out / "d1.rejects.jsonl")
    assert len(kept) + len(rejects) == 18
    assert {r["id"] for r in kept}.isdisjoint(r["id"] for r in rejects)
    duplicates = [r for r in kept + rejects if expected_fate(r) == "duplicate"]
    assert len(duplicates) >= 2, "the seed should give the duplicate case at least twice"
    first_duplicate = duplicates[0]["id"]  # files are in plan order
    expected_kept = {r["id"] for r in kept + rejects if expected_fate(r) == "good"} | {first_duplicate}
    assert {r["id"] for r in kept} == expected_kept
    assert [r["answer"] for r in kept if r["id"] == first_duplicate] == [DUPLICATE_TEXT]

    expected_reason = {"weak": "not_full_marks", "named": "not_full_marks", "long": "not_full_marks",
                       "unscored": "unscored", "duplicate": "duplicate"}  # fmt: skip
    for reject in rejects:
        fate = expected_fate(reject)
        assert reject["reason"] == expected_reason[fate], reject["id"]
        failed = " | ".join(reject.get("failed", []))
        if fate == "weak":
            assert failed == f"Correctly illustrates {reject['skills'][0]} (grader)"
        elif fate == "named":
            assert failed == f"names the skill {reject['skills'][0]!r}"
        elif fate == "long":
            assert failed == "At most one sentence (counted 3)"
        elif fate == "unscored":
            assert "round 0:" in reject["detail"] and len(reject["gradings"]) == 3
        else:
            assert reject["duplicate_of"] == first_duplicate

    # the kept file is a D(k) file: it loads in the datamodule, with the protocol's prompts and answers
    examples = read_skillmix_file(out / "d1.jsonl")
    assert [e.id for e in examples] == [r["id"] for r in kept]
    for record in kept:
        assert [m["role"] for m in record["messages"]] == ["user", "assistant", "user", "assistant"]
        assert record["messages"][3]["content"].startswith(f"Answer: {record['answer']}")
        assert record["teacher"] == f"openai-compatible:{SCRIPTED_MODEL}"
        assert [len(g["points"]) for g in record["gradings"]] == [4, 4, 4]

    # the pool: k=1 draws from all skills, topics only from the training half of the saved split
    splits = Splits.load(out / "splits.json")
    assert {r["topic"] for r in kept + rejects} <= set(splits.train_topics)
    assert {r["split"] for r in kept} == {splits.fingerprint}  # each record names the split it came from
    assert read_training_data([out / "d1.jsonl"]).split == splits
    summary = json.loads((out / "summary.json").read_text())["d1"]
    assert (summary["planned"], summary["generated"], summary["kept"]) == (18, 18, len(kept))
    assert sum(summary["rejected"].values()) == len(rejects)
    assert summary["tokens"]["teacher"]["input_tokens"] > 0
    assert summary["last_invocation"]["stopped"] == "completed"


def test_rerun_makes_no_request_and_changes_nothing(server: ScriptedLLMServer, tmp_path: Path) -> None:
    out, cache = tmp_path / "data", tmp_path / "cache.sqlite"
    run_generate(server.url, out, cache)
    files = {name: (out / name).read_bytes() for name in ("d1.jsonl", "d1.rejects.jsonl")}
    requests = len(server.state.model_requests())

    run_generate(server.url, out, cache)
    assert len(server.state.model_requests()) == requests
    assert {name: (out / name).read_bytes() for name in files} == files

    # a larger n extends the plan: only the new combinations are asked for
    run_generate(server.url, out, cache, n=24)
    extended = read_jsonl(out / "d1.jsonl") + read_jsonl(out / "d1.rejects.jsonl")
    assert len(extended) == 24
    new_requests = server.state.model_requests()[requests:]
    assert len(new_requests) >= 6 * 3  # turn 1, turn 2 and grading for each new combination only
    assert len(new_requests) <= 6 * 4  # (plus at most one re-ask each)


def test_teacher_errors_are_rejected_with_the_reason_and_retried(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    out, cache = tmp_path / "data", tmp_path / "cache.sqlite"
    server.state.faults.extend(["500", "500"])  # the first two calls fail; max_attempts=1 gives up at once
    run_generate(server.url, out, cache)
    errors = [r for r in read_jsonl(out / "d1.rejects.jsonl") if r["reason"] == "teacher_error"]
    assert len(errors) == 2 and all("server_error (HTTP 500)" in r["detail"] for r in errors)

    run_generate(server.url, out, cache)
    outcomes = read_jsonl(out / "d1.jsonl") + read_jsonl(out / "d1.rejects.jsonl")
    assert len(outcomes) == 18
    assert [r for r in outcomes if r.get("reason") == "teacher_error"] == []


def test_dry_run_counts_the_calls_and_makes_none(
    server: ScriptedLLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, cache = tmp_path / "data", tmp_path / "cache.sqlite"
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"{SCRIPTED_MODEL}: {{input: 2.5, output: 10.0}}\n")
    run_generate(server.url, out, cache, dry_run=True, client={"prices": prices})
    report = capsys.readouterr().out
    assert server.state.model_requests() == []
    assert not out.exists()
    assert "18 of 18 planned combinations left" in report
    assert "36 calls" in report  # teacher: 2 turns per combination
    assert "18 calls" in report  # grader: 3 rounds in one call (n=3) per combination
    assert "No request was made" in report and "$" in report

    run_generate(server.url, out, cache, n=6)
    run_generate(server.url, out, cache, dry_run=True)
    assert "12 of 18 planned combinations left" in capsys.readouterr().out


def test_dry_run_needs_no_key_and_reads_what_the_cache_already_holds(
    server: ScriptedLLMServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, cache = tmp_path / "data", tmp_path / "cache.sqlite"
    openai = ClientSettings(provider="openai", model="gpt-4o", base_url=f"{server.url}/v1", cache=cache)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    run_generate(server.url, out, cache, n=6, teacher=openai, grader=openai)
    monkeypatch.delenv("OPENAI_API_KEY")
    for outcomes in ("d1.jsonl", "d1.rejects.jsonl"):
        (out / outcomes).unlink()  # the outcomes are gone; the cache still answers every request of the 6
    calls_before = len(server.state.model_requests())
    capsys.readouterr()

    run_generate(server.url, out, cache, teacher=openai, grader=openai, dry_run=True)
    report = capsys.readouterr().out
    assert len(server.state.model_requests()) == calls_before
    assert "18 of 18 planned combinations left to generate (next request needed: cached 6, turn1 12)" in (
        report
    )
    assert "teacher openai:gpt-4o: 24 calls" in report  # only the 12 uncached combinations cost calls
    assert "~$" in report and "at list prices" in report


def test_dry_run_names_an_unpriced_api_model_and_a_local_one_alike_everywhere(
    server: ScriptedLLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache.sqlite"
    unpriced = ClientSettings(provider="openai", model="gpt-99-preview")
    run_generate(server.url, tmp_path / "a", cache, teacher=unpriced, grader=unpriced, dry_run=True)
    report = capsys.readouterr().out
    assert report.count("unknown (no list price)") == 3 and "$" not in report
    assert not cache.exists()

    run_generate(server.url, tmp_path / "b", cache, dry_run=True)  # the scripted server runs on loopback
    report = capsys.readouterr().out
    assert report.count("free (runs locally)") == 3 and "$" not in report and "n/a" not in report


def test_a_resumed_run_shows_the_whole_data_set_in_its_progress_line(
    server: ScriptedLLMServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the whole line, bar and count included
    out, cache = tmp_path / "data", tmp_path / "cache.sqlite"
    run_generate(server.url, out, cache, n=6)
    capsys.readouterr()
    run_generate(server.url, out, cache)
    summary = json.loads((out / "summary.json").read_text())["d1"]
    progress = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"18/18 kept {summary['kept']} | rejected {summary['finished'] - summary['kept']} |" in progress
    assert "spent free (runs locally)" in progress


def test_budget_cap_stops_cleanly_and_the_rerun_finishes(server: ScriptedLLMServer, tmp_path: Path) -> None:
    out, cache = tmp_path / "data", tmp_path / "cache.sqlite"
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"{SCRIPTED_MODEL}: {{input: 100.0, output: 100.0}}\n")
    run_generate(server.url, out, cache, max_cost_usd=1.5, client={"prices": prices})
    summary = json.loads((out / "summary.json").read_text())["d1"]
    assert summary["last_invocation"]["stopped"] == "budget_reached"
    assert 0 < summary["finished"] < 18
    assert summary["last_invocation"]["teacher_and_grader"]["cost_usd"] <= 1.5
    assert "teacher_error" not in summary["rejected"] and "grader_error" not in summary["rejected"]
    assert (
        len(read_jsonl(out / "d1.jsonl")) + len(read_jsonl(out / "d1.rejects.jsonl")) == summary["finished"]
    )

    run_generate(server.url, out, cache, client={"prices": prices})
    summary = json.loads((out / "summary.json").read_text())["d1"]
    assert (summary["finished"], summary["last_invocation"]["stopped"]) == (18, "completed")


def test_max_requests_stops_starting_new_combinations(server: ScriptedLLMServer, tmp_path: Path) -> None:
    out = tmp_path / "data"
    run_generate(server.url, out, tmp_path / "cache.sqlite", max_requests=7, client={"concurrency": 1})
    summary = json.loads((out / "summary.json").read_text())["d1"]
    # one combination at a time costs 3 calls (turn 1, turn 2, grading; 4 with a re-ask): 3 combinations
    # start before the 7th call, and none after
    assert summary["last_invocation"]["stopped"] == "max_requests_reached"
    assert summary["finished"] == 3
    assert 7 <= len(server.state.model_requests()) <= 12


def test_missing_key_fails_before_any_work(server: ScriptedLLMServer, tmp_path: Path) -> None:
    out = tmp_path / "data"
    openai = ClientSettings(provider="openai", model="gpt-4o", base_url=f"{server.url}/v1")
    with pytest.raises(MissingCredentialsError, match="OPENAI_API_KEY"):
        run_generate(server.url, out, tmp_path / "cache.sqlite", teacher=openai, grader=openai)
    assert server.state.requests == [] and not out.exists()


def test_resuming_with_other_settings_is_refused(server: ScriptedLLMServer, tmp_path: Path) -> None:
    out, cache = tmp_path / "data", tmp_path / "cache.sqlite"
    run_generate(server.url, out, cache, n=3)
    with pytest.raises(RunConfigError, match=r"teacher_sampling: .*'temperature': 1\.0.* -> .*0\.2"):
        run_generate(server.url, out, cache, n=3, teacher_sampling=TeacherSampling(temperature=0.2))
