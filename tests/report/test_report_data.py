"""`cli.py report`: the data embedded in the page equals `compare --json`, every record is in the transcript
chunks with its own scoring, and untrusted text cannot leave the data elements."""

from __future__ import annotations

import base64
import gzip
import json
import re
import sys
import types
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import cli
from skillmix.compare import read_records
from skillmix.graded import GradedGeneration, Grading
from skillmix.metrics import ScoringOptions, score_generation
from skillmix.prompts import rubric_criteria_for_names
from skillmix.report import build_report, report_data
from skillmix.report.page import render_page, script_safe_json, template_text
from skillmix.report.transcripts import item_detail
from tests.report.conftest import HOSTILE_RUN, REFERENCE_TEST, requires_reference
from tests.report.synthetic_outputs import HOSTILE_ANSWER

_DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.DOTALL)
_CHUNK = re.compile(r'<script type="application/octet-stream" id="chunk-(\d+)">(.*?)</script>', re.DOTALL)


def embedded(html: str) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    """The page's JSON document and its decompressed transcript chunks, as the page's script reads them."""
    (data_text,) = _DATA.findall(html)
    chunks = {int(i): json.loads(gzip.decompress(base64.b64decode(text))) for i, text in _CHUNK.findall(html)}
    return json.loads(data_text), [chunks[i] for i in range(len(chunks))]


def compare_json(capsys: pytest.CaptureFixture[str], *arguments: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    cli.main(["compare", *arguments, "--json"])
    return json.loads(capsys.readouterr().out)


@requires_reference
def test_embedded_rows_equal_compare_json_and_every_record_is_a_transcript(outputs, tmp_path, capsys):
    root, written = outputs
    page = tmp_path / "report.html"
    cli.main(["report", str(root), str(REFERENCE_TEST), "--output", str(page), "--name_penalty", "false"])
    data, chunks = embedded(page.read_text(encoding="utf-8"))

    assert data["rows"] == compare_json(capsys, str(root), str(REFERENCE_TEST), "--name_penalty", "false")
    assert data["options"]["name_penalty"] is False and len(data["rows"]) == 2 * 2 * 2 + 3
    assert any("full_marks_delta" in row for row in data["rows"])  # step 100 vs the base model

    records = read_records(root) + read_records(REFERENCE_TEST)
    fields = {name: index for index, name in enumerate(data["item_fields"])}
    items, lookups = data["items"], data["lookups"]
    assert len(items) == len(records) == len(written) + 23 and data["chunk_count"] == len(chunks)
    details = [chunks[chunk][offset] for chunk, offset in (item[fields["chunk"]] for item in items)]
    assert sorted(d["source"] for d in details) == sorted(r.source for r in records)

    # each transcript carries its record's own conversation, answer, grader replies and scoring
    by_source = {record.source: record for record in records}
    options = ScoringOptions(name_penalty=False)
    for item, detail in zip(items, details, strict=True):
        record = by_source[detail["source"]]
        assert lookups["run"][item[fields["run"]]] == record.run and item[fields["k"]] == record.k
        assert [lookups["skill"][i] for i in item[fields["skills"]]] == list(record.skills)
        assert detail["messages"] == [list(m) for m in record.messages] and detail["answer"] == record.answer
        assert [g["raw"] for g in detail["gradings"]] == [g.raw for g in record.gradings]
        score = score_generation(record, options)
        expected = "unscored" if not score.scored else "full marks" if score.full_marks else "not full marks"
        assert lookups["status"][item[fields["status"]]] == expected and detail["named"] is None
    reference_item = next(d for d in details if d["source"].startswith(str(REFERENCE_TEST)))
    roles = [role for role, _ in reference_item["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    unscored = [d for d in details if d["unscored"]]
    assert unscored and all("could be scored" in d["unscored"] for d in unscored)  # llama2's replies

    # with one generation round, a row's full marks is the share of its scored transcripts with full marks
    shares: dict[tuple, list[bool]] = defaultdict(list)
    for item in items:
        status = lookups["status"][item[fields["status"]]]
        if status != "unscored":
            key = (lookups["run"][item[fields["run"]]], lookups["checkpoint"][item[fields["checkpoint"]]])
            shares[(*key, lookups["setting"][item[fields["setting"]]], item[fields["k"]])].append(
                status == "full marks"
            )
    for row in data["rows"]:
        if row["run"] == HOSTILE_RUN:
            flags = shares[(row["run"], row["checkpoint"], row["setting"], row["k"])]
            assert row["full_marks"] == pytest.approx(sum(flags) / len(flags))


def test_untrusted_text_stays_inside_the_data_elements(outputs, tmp_path):
    root, _ = outputs
    summary = build_report([root], tmp_path / "report.html")
    html = summary.path.read_text(encoding="utf-8")
    # the only elements are the template's: its one inline script, the data and one per chunk
    assert html.count("<script") == 2 + summary.chunks and HOSTILE_RUN not in html
    data, chunks = embedded(html)
    assert HOSTILE_RUN in data["lookups"]["run"]
    hostile = [d for chunk in chunks for d in chunk if d["answer"] == HOSTILE_ANSWER]
    assert len(hostile) == 2 * 2  # step 100, k=2: 2 settings x 2 combinations
    assert all(d["messages"][-1][1].startswith(f"Answer: {HOSTILE_ANSWER}") for d in hostile)


def test_script_safe_json_escapes_every_character_that_could_end_the_element():
    value = {"a": "</script><!-- & \u2028 \u2029 >", "b": [1, 0.5, None]}
    text = script_safe_json(value)
    assert not set(text) & set("<>&\u2028\u2029") and json.loads(text) == value


def test_page_script_never_writes_markup():
    script = template_text("report.js")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert sink not in script
    assert "textContent" in script and "DecompressionStream" in script


def test_agreement_section_is_shown_only_when_the_analysis_exists(outputs, monkeypatch):
    root, _ = outputs
    seen: list[list[Path]] = []
    agreement = types.ModuleType("skillmix.agreement")

    def agreement_rows(paths: list[Path]) -> list[dict[str, Any]]:
        seen.append(paths)
        return [{"run": "r", "k": 2, "graders": "a+b", "kappa": 0.5}]

    agreement.agreement_rows = agreement_rows  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "skillmix.agreement", agreement)
    data, _ = report_data([root], ScoringOptions())
    assert data["agreement"] == {"rows": agreement_rows([root]), "note": None} and seen[0] == [root]
    monkeypatch.setitem(sys.modules, "skillmix.agreement", None)  # as if the module did not exist
    assert report_data([root], ScoringOptions())[0]["agreement"] is None


def test_a_template_that_could_end_its_inline_element_is_refused(monkeypatch):
    real = template_text
    monkeypatch.setattr(
        "skillmix.report.page.template_text",
        lambda name: real(name) + ("// </script>" if name == "report.js" else ""),
    )
    with pytest.raises(ValueError, match=r"report\.js holds '</'"):
        render_page({"rows": []}, [])


def test_a_folder_without_records_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["report", str(tmp_path), "--output", str(tmp_path / "r.html")])
    assert stopped.value.code == 2
    assert "no graded records found" in capsys.readouterr().err and not (tmp_path / "r.html").exists()


def test_a_transcript_shows_the_length_and_name_decisions_the_metrics_apply():
    criteria = rubric_criteria_for_names(["metaphor", "red herring"], "Sewing")
    reply = "| Criteria | Points |\n|---|---|\n" + "".join(f"| {c} | 1 |\n" for c in criteria)
    answer = "A metaphor of thread. Then a second sentence. And a third one."
    record = GradedGeneration(
        run="r", setting="train", k=2, skills=("metaphor", "red herring"), topic="Sewing",
        generation_round=0, answer=answer, checkpoint="0",
        gradings=(Grading((1,) * 5, None, "g", reply), Grading(None, "no table", "g", "sorry")),
    )  # fmt: skip
    detail = item_detail(record, ScoringOptions())
    assert (detail["sentences"], detail["sentence_limit"], detail["within_limit"]) == (3, 1, False)
    assert detail["named"] == [True, False] and detail["points"] == [0, 1, 1, 1, 0]
    assert detail["status"] == "not full marks" and detail["metrics"]["skills_fraction"] == 0.0
    assert [g["unscored"] for g in detail["gradings"]] == [None, "no table"]
    lenient = item_detail(record, ScoringOptions(name_penalty=False, programmatic_length=False))
    assert lenient["named"] is None and lenient["points"] == [1] * 5 and lenient["status"] == "full marks"
    by_word = item_detail(replace(record, answer="A metaphorical thread."), ScoringOptions(name_match="word"))
    assert by_word["named"] == [False, False] and by_word["points"] == [1] * 5  # the page shows what scored
    unscored = item_detail(replace(record, gradings=record.gradings[1:]), ScoringOptions())
    assert unscored["status"] == "unscored" and unscored["points"] is None
    assert unscored["unscored"] == "none of its 1 grading rounds could be scored (round 1: no table)"
