"""The JSON Lines files that long runs append to, resume from and hand to each other: one reading rule, one
durable append, one atomic rewrite, for every such file in the project (evaluation generations and records,
`grade` outputs, `generate` outputs, D(k) training files).

Writers put one whole line, newline included, to disk before the next, so a killed run can leave only its
*last* line cut short. The one rule: a last line without its newline that is not valid JSON is a torn write.
Readers skip it with a warning (its work is redone); an appender cuts it off once, when it first writes, and
never reads the file again. Invalid JSON anywhere else is an error naming the file and line. A last line
without a newline that *is* valid JSON (a file saved by an editor) is an ordinary line.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from skillmix.errors import InputError

log = logging.getLogger(__name__)

_TAIL_CHUNK = 1 << 16


class JsonlError(InputError):
    """A JSONL file that cannot be read as it is; the message names the file, the line and the fix."""


def iter_jsonl(
    path: Path,
    *,
    fix: str = "delete that line; its work is done again by the next run",
    error: type[InputError] = JsonlError,
) -> Iterator[tuple[int, Any]]:
    """(line number, value) for every non-blank line, streamed; a missing file has no lines."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as problem:
                if not line.endswith("\n"):
                    log.warning(
                        "%s:%d: skipping a half-written last line (a run was cut short)", path, number
                    )
                    return
                raise error(
                    f"{path}:{number}: not valid JSON ({problem.msg} at column {problem.colno}). Fix: {fix}"
                ) from None


def read_jsonl(path: Path, **options: Any) -> list[tuple[int, Any]]:
    """`iter_jsonl` as a list."""
    return list(iter_jsonl(path, **options))


def repair_tail(path: Path) -> None:
    """Make `path` end with a whole line: cut off a torn last line, or end a valid one with its newline.
    Reads only the tail of the file."""
    if not path.is_file():
        return
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        start = _last_line_start(handle, size)
        handle.seek(start)
        tail = handle.read()
        try:
            json.loads(tail)
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("%s: removing a half-written last line; its work is done again", path)
            handle.truncate(start)
        else:
            handle.write(b"\n")


def _last_line_start(handle: Any, size: int) -> int:
    """Offset just past the last newline (0 if there is none), scanning backwards in chunks."""
    end = size
    while end > 0:
        begin = max(0, end - _TAIL_CHUNK)
        handle.seek(begin)
        newline = handle.read(end - begin).rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return 0


def json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) + "\n"


class JsonlAppender:
    """Appends lines to a JSONL file, each flushed and fsync'ed before `append` returns, so a kill loses at
    most the line being written. The file is repaired once, before the first append, and never re-read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._repaired = False

    def append(self, value: Any) -> None:
        if not self._repaired:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            repair_tail(self.path)
            self._repaired = True
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json_line(value))
            handle.flush()
            os.fsync(handle.fileno())


def write_jsonl_atomically(path: Path, values: Iterable[Any]) -> None:
    """Replace `path` by these lines all at once: a reader sees the old file or the new one, never a mix."""
    _replace(path, "".join(json_line(value) for value in values))


def write_json_atomically(path: Path, value: Any) -> None:
    """Replace a JSON document (metrics, summaries) all at once."""
    _replace(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_text_atomically(path: Path, text: str) -> None:
    """Replace a text file (a CSV table, say) all at once."""
    _replace(path, text)


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
