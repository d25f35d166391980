"""Reading and checking D(k) JSONL files and plain-text corpora, line by line.

A D(k) line is one two-turn SKILL-MIX example (schema in docs/data.md):
`{"id", "k", "skills", "topic", "messages": [user, assistant, user, assistant], "teacher", "source"}`;
extra keys are allowed and ignored. Every problem is reported as `file:line: field: what is wrong` plus
how to fix it, because these files come from long generation runs and hand edits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.errors import InputError
from skillmix.jsonl import read_jsonl

EXPECTED_ROLES = ("user", "assistant", "user", "assistant")
STRING_FIELDS = ("id", "topic", "teacher", "source")


class DataFileError(InputError):
    """A training-data file that cannot be used as it is; the message names file, line and field."""


@dataclass(frozen=True)
class SkillMixRecord:
    """The parts of a D(k) line that training uses."""

    id: str
    k: int
    messages: tuple[dict[str, str], ...]


def _fail(path: Path, line_number: int, field: str, problem: str, fix: str) -> DataFileError:
    return DataFileError(f"{path}:{line_number}: field '{field}': {problem}. Fix: {fix}")


def _check_record(raw: Any, path: Path, line_number: int) -> SkillMixRecord:
    def fail(field: str, problem: str, fix: str) -> DataFileError:
        return _fail(path, line_number, field, problem, fix)

    if not isinstance(raw, dict):
        raise fail("<line>", f"expected a JSON object, got {type(raw).__name__}", "write one object per line")
    for field in STRING_FIELDS:
        if field not in raw:
            raise fail(field, "missing", f'add "{field}": "<text>"')
        if not isinstance(raw[field], str) or not raw[field].strip():
            raise fail(field, f"must be a non-empty string, got {raw[field]!r}", f'set "{field}" to text')
    k = raw.get("k")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise fail("k", f"must be an integer >= 1, got {k!r}", "set k to the number of skills")
    skills = raw.get("skills")
    if not isinstance(skills, list) or not all(isinstance(skill, str) and skill for skill in skills):
        raise fail("skills", f"must be a list of skill names, got {skills!r}", "list the example's skills")
    if len(skills) != k:
        raise fail("skills", f"has {len(skills)} names but k is {k}", "make k equal the number of skills")
    messages = raw.get("messages")
    if not isinstance(messages, list) or len(messages) != len(EXPECTED_ROLES):
        raise fail(
            "messages",
            f"must be a list of 4 messages, got {messages!r:.80}",
            "write [user PROMPT1, assistant ANSWER1, user PROMPT2, assistant ANSWER2]",
        )
    for position, (message, role) in enumerate(zip(messages, EXPECTED_ROLES, strict=True)):
        if not isinstance(message, dict):
            raise fail(f"messages[{position}]", "must be an object", 'write {"role": ..., "content": ...}')
        if message.get("role") != role:
            raise fail(
                f"messages[{position}].role",
                f"must be {role!r}, got {message.get('role')!r}",
                "order the turns user, assistant, user, assistant",
            )
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise fail(
                f"messages[{position}].content",
                f"must be non-empty text, got {content!r:.80}",
                "fill in the prompt or the answer",
            )
    return SkillMixRecord(
        id=raw["id"],
        k=k,
        messages=tuple({"role": m["role"], "content": m["content"]} for m in messages),
    )


def _json_lines(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed value) for every non-blank line."""
    if not path.is_file():
        raise DataFileError(f"{path}: no such file. Fix: check the path (relative paths start at the cwd)")
    return read_jsonl(path, fix="write exactly one JSON object per line", error=DataFileError)


def read_skillmix_file(path: str | Path) -> list[SkillMixRecord]:
    """Every example of a D(k) JSONL file, checked; raises `DataFileError` at the first bad line."""
    path = Path(path)
    records: list[SkillMixRecord] = []
    first_line_of_id: dict[str, int] = {}
    for line_number, raw in _json_lines(path):
        record = _check_record(raw, path, line_number)
        if record.id in first_line_of_id:
            raise _fail(
                path,
                line_number,
                "id",
                f"{record.id!r} already used on line {first_line_of_id[record.id]}",
                "give every example its own id",
            )
        first_line_of_id[record.id] = line_number
        records.append(record)
    if not records:
        raise DataFileError(f"{path}: no examples. Fix: point to a D(k) JSONL file with at least one line")
    return records


def read_text_corpus(path: str | Path) -> list[str]:
    """Documents of a plain-text corpus: .jsonl with a "text" field, or any other file with one per line."""
    path = Path(path)
    if path.suffix == ".jsonl":
        documents = []
        for line_number, raw in _json_lines(path):
            text = raw.get("text") if isinstance(raw, dict) else None
            if not isinstance(text, str):
                raise _fail(
                    path, line_number, "text", f"must be a string, got {text!r:.80}", 'write {"text": "..."}'
                )
            if text.strip():
                documents.append(text)
    else:
        if not path.is_file():
            raise DataFileError(f"{path}: no such file. Fix: check the path of the text corpus")
        documents = [line.rstrip("\n") for line in path.open(encoding="utf-8") if line.strip()]
    if not documents:
        raise DataFileError(f"{path}: the text corpus holds no documents. Fix: one document per line")
    return documents
