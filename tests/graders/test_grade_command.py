"""`python cli.py grade RECORDS.jsonl`: re-grades evaluation records beside them, resumes, keeps failures
out of the records, fails fast on bad input or a missing key, and can go through the Batch API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from grader_fakes import FAKE_OPENAI_KEY, REFERENCE, files_containing, requires_reference
from rich.console import Console

import cli
from graders.credentials import MissingCredentialsError
from graders.grade_command import grade
from graders.settings import ClientSettings
from graders.skillmix_grader import GradingSettings
from skillmix.catalog import load_catalog
from skillmix.compare import compare_rows
from skillmix.compare_report import print_table
from skillmix.metrics import ScoringOptions
from skillmix.prompts import render_grading_prompt
from skillmix.reference_layout import read_reference_layout

SEEDED = GradingSettings(seed=1)

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("fake_keys"), requires_reference]
CATALOG = {"skills_csv": REFERENCE / "skills.csv", "topics_txt": REFERENCE / "topics.txt"}


@pytest.fixture
def records(tmp_path, server) -> Path:
    """Ten evaluation records of the reference's gpt-4 student; the server replays its real gradings."""
    generations = [g for g in read_reference_layout(REFERENCE / "test") if g.run == "gpt-4"]
    path = tmp_path / "eval" / "records.jsonl"
    path.parent.mkdir()
    replies = {}
    with path.open("w") as out:
        for g in generations:
            reply = f"Answer: {g.answer}\n\nExplanation: it does."
            record = {
                "run": "gpt-4", "checkpoint": "step-0", "setting": "reference", "k": g.k,
                "skills": list(g.skills), "topic": g.topic, "generation_round": g.generation_round,
                "messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": reply}],
                "gradings": [{"grader": "openai:gpt-4", "raw": "old", "points": [0] * (g.k + 3)}],
            }  # fmt: skip
            out.write(json.dumps(record) + "\n")
            skills = load_catalog(**CATALOG).skills_named(g.skills)
            replies[render_grading_prompt(skills, g.topic, g.answer)] = [x.raw for x in g.gradings]
    server.state.reply = lambda body, sample: replies[body["messages"][-1]["content"]][sample % 3]
    return path


def settings(server, tmp_path, **changes) -> ClientSettings:
    return ClientSettings(
        provider="openai",
        model="gpt-4-0613",
        base_url=f"{server.url}/v1",
        cache=tmp_path / "cache.sqlite",
        **changes,
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_grades_every_record_beside_the_originals_then_resumes_with_zero_calls(server, tmp_path, records):
    grade(records, client=settings(server, tmp_path), grading=SEEDED, progress=False, **CATALOG)
    output = records.with_name("records.graded-by-openai-gpt-4-0613.jsonl")
    graded = read_jsonl(output)
    assert len(graded) == 10 and len(server.state.model_requests()) == 10
    first = graded[0]
    assert [r["round"] for r in first["gradings"]] == [0, 1, 2]
    assert all(len(r["points"]) == 6 and r["grader"] == "openai:gpt-4-0613" for r in first["gradings"])
    assert first["grading_config"] == {
        "grader": "openai:gpt-4-0613", "template": "gpt", "rounds": 3, "temperature": 1.0, "seed": 1,
        "max_tokens": 512, "reask": True, "length_row": "optional",
    }  # fmt: skip
    assert first["regraded_from"].startswith(str(records)) and first["topic"]
    # interrupted run: the last 4 records missing and a half-written line
    output.write_text("".join(line + "\n" for line in output.read_text().splitlines()[:6]) + '{"run": "gp')
    uncached = settings(server, tmp_path, cache_mode="off")
    grade(records, client=uncached, grading=SEEDED, progress=False, **CATALOG)
    assert len(server.state.model_requests()) == 14
    resumed = read_jsonl(output)
    assert len(resumed) == 10 and len({(r["topic"], r["generation_round"]) for r in resumed}) == 10
    grade(records, client=settings(server, tmp_path), grading=SEEDED, progress=False, **CATALOG)
    assert len(server.state.model_requests()) == 14
    assert files_containing(tmp_path, FAKE_OPENAI_KEY) == []


def test_failed_requests_go_to_an_errors_file_and_are_retried_next_time(server, tmp_path, records):
    server.state.faults.append("500")
    client = settings(server, tmp_path, max_attempts=1, concurrency=1)
    grade(records, client=client, progress=False, **CATALOG)
    output = records.with_name("records.graded-by-openai-gpt-4-0613.jsonl")
    errors = read_jsonl(output.with_suffix(".errors.jsonl"))
    assert len(read_jsonl(output)) == 9 and len(errors) == 1
    assert all(
        r["unscored"].startswith("request failed: server_error (HTTP 500)") for r in errors[0]["gradings"]
    )
    grade(records, client=client, progress=False, **CATALOG)
    assert len(read_jsonl(output)) == 10 and not output.with_suffix(".errors.jsonl").exists()


def test_batch_submit_then_collect_grades_without_live_calls(server, tmp_path, records):
    client = settings(server, tmp_path)
    grade(records, client=client, batch="submit", progress=False, **CATALOG)
    output = records.with_name("records.graded-by-openai-gpt-4-0613.jsonl")
    assert not output.exists() and len(server.state.batches["batch_0"]["lines"]) == 10
    grade(records, client=client, batch="collect", progress=False, **CATALOG)
    assert len(read_jsonl(output)) == 10 and server.state.model_requests() == []


def test_cli_runs_the_command(server, tmp_path, records):
    out = tmp_path / "regraded.jsonl"
    cli.main(
        ["grade", str(records), "--output", str(out), "--client.base_url", f"{server.url}/v1",
         "--client.cache", str(tmp_path / "c.sqlite"), "--grading.rounds", "1", "--progress", "false",
         "--skills_csv", str(CATALOG["skills_csv"]), "--topics_txt", str(CATALOG["topics_txt"])]
    )  # fmt: skip
    assert [len(r["gradings"]) for r in read_jsonl(out)] == [1] * 10


def test_a_missing_key_fails_before_any_request(server, tmp_path, records, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MissingCredentialsError, match="OPENAI_API_KEY"):
        grade(records, client=settings(server, tmp_path), progress=False, **CATALOG)
    assert server.state.requests == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r"records.jsonl:2: not valid JSON"),
        ('{"skills": ["metaphor"], "answer": "x"}', r"records.jsonl:2: field 'topic'"),
        (
            '{"skills": ["no such skill"], "topic": "Sewing", "answer": "x"}',
            r"records.jsonl:2: Unknown skill.*--skills_csv",
        ),
        ('{"skills": ["red herring"], "topic": "Sewing"}', r"records.jsonl:2: needs field 'answer'"),
        (
            '{"skills": ["red herring"], "topic": "Sewing", "k": 2, "answer": "x"}',
            r"records.jsonl:2: field 'k' is 2",
        ),
    ],
)
def test_bad_records_are_named_by_file_line_and_field(server, tmp_path, records, line, message):
    records.write_text(records.read_text().splitlines()[0] + "\n" + line + "\n")
    with pytest.raises(ValueError, match=message):
        grade(records, client=settings(server, tmp_path), progress=False, **CATALOG)
    assert server.state.requests == []


def test_defaults_to_the_records_grading_settings_prints_metrics_and_compare_shows_both_graders(
    server, tmp_path, records, capsys, caplog
):
    original = read_jsonl(records)
    for record in original:
        record |= {"step": 0, "seed": 0, "answer": record["messages"][-1]["content"].split("\n\n")[0][8:]}
        record["grading_config"] = {"grader": "openai:gpt-4", "template": "gpt", "rounds": 1, "seed": 1}
    records.write_text("".join(json.dumps(record) + "\n" for record in original))
    caplog.set_level("INFO", logger="graders.grade_command")
    grade(records, client=settings(server, tmp_path), progress=False, **CATALOG)
    graded = read_jsonl(records.with_name("records.graded-by-openai-gpt-4-0613.jsonl"))
    assert [len(r["gradings"]) for r in graded] == [1] * 10
    assert {r["grading_config"]["seed"] for r in graded} == {1}
    assert "grading settings from the records: 1 rounds, template 'gpt'" in caplog.text
    printed = capsys.readouterr().out
    assert "records.graded-by-openai-gpt-4-0613.jsonl: reference k=3: full marks" in printed
    assert f"python cli.py compare {records.parent}" in printed
    rows = compare_rows([records.parent], ScoringOptions())
    assert {row["grader"] for row in rows} == {"openai:gpt-4", "openai:gpt-4-0613"}
    console = Console(record=True, width=250)
    print_table(rows, console)
    text = console.export_text()
    assert "grader" in text and "openai:gpt-4-0613" in text


def test_help_names_the_default_grader(capsys):
    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    assert "openai gpt-4-0613" in " ".join(capsys.readouterr().out.split())
