"""D(k) files: valid ones load (also through `datasets`), bad lines fail with file:line, field and a fix."""

from __future__ import annotations

import json

import datasets
import pytest

from datamodules.dk_files import DataFileError, read_skillmix_file, read_text_corpus
from datamodules.packaged import SAMPLE_DATA


def test_bundled_sample_loads_and_datasets_reads_it_too():
    records = read_skillmix_file(SAMPLE_DATA)
    through_datasets = datasets.load_dataset("json", data_files=str(SAMPLE_DATA), split="train")
    assert len(records) == len(through_datasets) >= 40
    assert [record.id for record in records] == through_datasets["id"]
    assert {record.k for record in records} >= {1, 2}
    assert [m["role"] for m in through_datasets[0]["messages"]] == ["user", "assistant", "user", "assistant"]


def test_extra_keys_and_blank_lines_are_ignored(write_jsonl, make_record):
    record = make_record(0, 2) | {"grading": {"points": [1, 1, 1, 1, 1]}}
    path = write_jsonl("d2.jsonl", [record, "", make_record(1, 2)])
    records = read_skillmix_file(path)
    assert [r.id for r in records] == ["test-2-0", "test-2-1"]
    assert records[0].messages[3]["content"].startswith("Answer: word0_0")


def broken(field_edit):
    """A valid line with one edit, for the table below (fixtures are not available at collection time)."""
    record = {"id": "test-2-7", "k": 2, "skills": ["a", "b"], "topic": "T", "teacher": "t", "source": "s"}
    record["messages"] = [{"role": r, "content": "text"} for r in ("user", "assistant", "user", "assistant")]
    field_edit(record)
    return record


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ("{not json", r"d\.jsonl:2: not valid JSON"),
        ("[1, 2]", r"d\.jsonl:2: field '<line>': expected a JSON object"),
        (broken(lambda r: r.pop("topic")), r"d\.jsonl:2: field 'topic': missing"),
        (broken(lambda r: r.update(k="2")), r"d\.jsonl:2: field 'k': must be an integer"),
        (
            broken(lambda r: r.update(skills=["only one"])),
            r"d\.jsonl:2: field 'skills': has 1 names but k is 2",
        ),
        (broken(lambda r: r["messages"].pop()), r"d\.jsonl:2: field 'messages': must be a list of 4"),
        (
            broken(lambda r: r["messages"][1].update(role="user")),
            r"d\.jsonl:2: field 'messages\[1\]\.role': must be 'assistant', got 'user'",
        ),
        (
            broken(lambda r: r["messages"][3].update(content="  ")),
            r"d\.jsonl:2: field 'messages\[3\]\.content': must be non-empty text",
        ),
        (
            broken(lambda r: r.update(id="test-2-0")),
            r"d\.jsonl:2: field 'id': 'test-2-0' already used on line 1",
        ),
    ],
)
def test_bad_line_names_file_line_field_and_fix(write_jsonl, make_record, bad_line, expected):
    path = write_jsonl("d.jsonl", [make_record(0, 2), bad_line])
    with pytest.raises(DataFileError, match=expected) as error:
        read_skillmix_file(path)
    assert str(path) in str(error.value)
    assert "Fix:" in str(error.value)


def test_missing_and_empty_files_are_clear(tmp_path, write_jsonl):
    with pytest.raises(DataFileError, match="no such file"):
        read_skillmix_file(tmp_path / "absent.jsonl")
    with pytest.raises(DataFileError, match="no examples"):
        read_skillmix_file(write_jsonl("empty.jsonl", [""]))


def test_text_corpus_formats(tmp_path, write_jsonl):
    txt = tmp_path / "corpus.txt"
    txt.write_text("first document\n\nsecond document\n")
    assert read_text_corpus(txt) == ["first document", "second document"]
    jsonl = write_jsonl("corpus.jsonl", [{"text": "a doc"}, {"text": "another"}])
    assert read_text_corpus(jsonl) == ["a doc", "another"]
    bad = write_jsonl("bad.jsonl", [{"text": "ok"}, json.dumps({"body": "x"})])
    with pytest.raises(DataFileError, match=r"bad\.jsonl:2: field 'text'"):
        read_text_corpus(bad)
