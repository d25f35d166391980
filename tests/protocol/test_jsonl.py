"""The one JSONL mechanism: the torn-tail rule shared by every reader and appender."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillmix.jsonl import JsonlAppender, JsonlError, read_jsonl, repair_tail, write_jsonl_atomically


def test_a_torn_last_line_is_skipped_and_a_bad_middle_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3, "b"', encoding="utf-8")
    assert read_jsonl(path) == [(1, {"a": 1}), (3, {"a": 2})]

    path.write_text('{"a": 1}\n{oops\n{"a": 2}\n', encoding="utf-8")
    with pytest.raises(JsonlError, match=r"log\.jsonl:2: not valid JSON .*Fix: delete that line"):
        read_jsonl(path)


def test_a_valid_last_line_without_its_newline_is_an_ordinary_line(tmp_path: Path) -> None:
    path = tmp_path / "edited.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}', encoding="utf-8")
    assert [value for _, value in read_jsonl(path)] == [{"a": 1}, {"a": 2}]
    JsonlAppender(path).append({"a": 3})
    assert path.read_text(encoding="utf-8") == '{"a": 1}\n{"a": 2}\n{"a": 3}\n'


def test_the_appender_cuts_a_torn_tail_once_then_only_appends(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text('{"a": 1}\n{"a": 2, "long": "' + "x" * 200_000, encoding="utf-8")
    appender = JsonlAppender(path)
    appender.append({"a": 3})
    appender.append({"a": "ü"})
    assert [value for _, value in read_jsonl(path)] == [{"a": 1}, {"a": 3}, {"a": "ü"}]
    assert path.read_text(encoding="utf-8").endswith('{"a": "ü"}\n')


def test_repair_of_a_file_that_is_one_torn_line_empties_it(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text('{"half', encoding="utf-8")
    repair_tail(path)
    assert path.read_bytes() == b""
    repair_tail(tmp_path / "absent.jsonl")  # nothing to repair
    assert read_jsonl(tmp_path / "absent.jsonl") == []


def test_atomic_rewrite_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "d1.jsonl"
    path.write_text("old\n", encoding="utf-8")
    write_jsonl_atomically(path, [{"id": "x"}, {"id": "y"}])
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == [
        {"id": "x"},
        {"id": "y"},
    ]
    assert not (tmp_path / "d1.jsonl.tmp").exists()
