"""The one rubric parser: a grader's reply -> k+3 points, or *unscored* with the reason.

It reads both reply styles the reference's grading templates ask for: a rubric table ("| Criteria | Points
Earned |", template "gpt") and items ending in "Point earned: N" (template "llama"). Every row or item is
mapped to a criterion by its label (see `criteria_labels`); a table that lists exactly k+3 criteria may
fill a row it cannot name from its position, but only when every row it can name sits at its own position.
The grader's own total ("Total Points Earned", "Grade:") is kept as a cross-check, never used as the score:
real GPT-4 replies add up wrongly.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from skillmix.criteria_labels import AMBIGUOUS, CriteriaLabels

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RubricResult:
    points: tuple[int, ...] | None
    unscored: str | None
    reported_total: float | None
    length_missing: bool = False
    """The reply has no "At most n sentences" row: the last point is a 0 placeholder (the reference pads a
    short parse with zeros), which only the programmatic sentence count may replace."""


@dataclass
class MarkSheet:
    """Everything read from one reply, before deciding whether it is a score."""

    criteria: list[str]
    values: dict[int, list[float]] = field(default_factory=dict)
    unreadable: dict[int, list[str]] = field(default_factory=dict)
    unmatched_labels: list[str] = field(default_factory=list)
    ambiguous_labels: list[str] = field(default_factory=list)
    reported_total: float | None = None

    def add(self, index: int, value: float | None, raw: str) -> None:
        if value is None:
            self.unreadable.setdefault(index, []).append(raw)
        else:
            self.values.setdefault(index, []).append(value)

    def partial(self) -> list[float | None]:
        """Per criterion: the value read when there is exactly one, else None (for inspection and tests)."""
        distinct = [sorted(set(self.values.get(i, []))) for i in range(len(self.criteria))]
        return [values[0] if len(values) == 1 else None for values in distinct]


_NUMBER = r"(?:\d+(?:\.\d+)?|\.\d+|zero|one)"
_CELL_VALUE = re.compile(
    rf"^(?P<num>{_NUMBER})(?:\s*/\s*(?P<den>{_NUMBER}))?(?:\s*(?:points?|pts?)\.?)?\s*(?:\(.*\))?[.!]?$"
)
_LEADING_VALUE = re.compile(rf"^[\s*_'\"`]*(?P<num>{_NUMBER})(?!\w)(?:\s*/\s*(?P<den>{_NUMBER}))?")
_POINT_MARKER = re.compile(
    r"points?\s+earned(?:\s+for\s+(?P<label>[^:\n]{1,200}?))?\s*[:=]\s*(?P<value>[^\n]*)", re.IGNORECASE
)
_ITEM_TOTAL = re.compile(
    r"(?:^|\n)[\s*_#]*(?:final\s+)?(?:grade|total[^:\n]{0,40})[\s*_]*[:=][\s*_]*(?P<value>[^\n]*)",
    re.IGNORECASE,
)
_SEPARATOR_CELL = re.compile(r"^:?-{2,}:?$")
_WORDS = {"zero": 0.0, "one": 1.0}


def parse_rubric(reply: str, criteria: Sequence[str], *, length_optional: bool = False) -> RubricResult:
    """k+3 points when every criterion got exactly one readable 0/1 value; otherwise unscored, with why.

    With `length_optional`, a reply that grades every other criterion but has no row at all for the last
    one (the length criterion) is scored with a 0 placeholder there and `length_missing` set, as the
    reference scores it when its own sentence count replaces the length point.
    """
    sheet = read_marks(reply, criteria)
    problems = []
    points = []
    length = len(sheet.criteria) - 1
    length_missing = length_optional and length not in sheet.values and length not in sheet.unreadable
    for index, criterion in enumerate(sheet.criteria):
        if length_missing and index == length:
            points.append(0)
            continue
        values = sorted(set(sheet.values.get(index, [])))
        if len(values) > 1:
            problems.append(f"conflicting points for {criterion!r}: {', '.join(_fmt(v) for v in values)}")
        elif not values:
            raw = sheet.unreadable.get(index)
            problems.append(
                f"unreadable points for {criterion!r}: {raw[0]!r}" if raw else f"no points for {criterion!r}"
            )
        elif values[0] not in (0.0, 1.0):
            problems.append(f"points for {criterion!r} are {_fmt(values[0])}, not 0 or 1")
        else:
            points.append(int(values[0]))
    if problems:
        if sheet.ambiguous_labels:
            problems.append(f"ambiguous labels: {', '.join(repr(label) for label in sheet.ambiguous_labels)}")
        return RubricResult(points=None, unscored="; ".join(problems), reported_total=sheet.reported_total)
    if sheet.reported_total is not None and sheet.reported_total != sum(points):
        logger.debug(
            "grader's total %s differs from the sum of its points %s", sheet.reported_total, sum(points)
        )
    return RubricResult(
        points=tuple(points),
        unscored=None,
        reported_total=sheet.reported_total,
        length_missing=length_missing,
    )


def read_marks(reply: str, criteria: Sequence[str]) -> MarkSheet:
    """All criterion values found in the reply's rubric tables and "Point earned: N" items."""
    labels = CriteriaLabels(criteria)
    sheet = MarkSheet(criteria=list(criteria))
    table_lines: set[int] = set()
    for table in _tables(reply):
        table_lines.update(line for line, _ in table)
        _read_table([cells for _, cells in table], labels, sheet)
    _read_items(reply, table_lines, labels, sheet)
    return sheet


def _tables(reply: str) -> list[list[tuple[int, list[str]]]]:
    """Runs of consecutive lines containing "|", as (line number, cells) without separator rows."""
    tables: list[list[tuple[int, list[str]]]] = []
    current: list[tuple[int, list[str]]] = []
    for number, line in enumerate(reply.splitlines()):
        if "|" not in line:
            if current:
                tables.append(current)
            current = []
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not all(_SEPARATOR_CELL.match(cell) or not cell for cell in cells):
            current.append((number, cells))
    if current:
        tables.append(current)
    return tables


def _read_table(rows: list[list[str]], labels: CriteriaLabels, sheet: MarkSheet) -> None:
    value_column = None
    header = rows[0]
    if all(_read_cell(cell) is None for cell in header[1:]) and any(
        re.search(r"criteri|point|score|earned", cell, re.IGNORECASE) for cell in header
    ):
        rows = rows[1:]
        value_column = next(
            (i for i, cell in enumerate(header) if re.search(r"point|score|earned", cell, re.IGNORECASE)),
            None,
        )
    criterion_rows: list[tuple[int | None, str, str]] = []
    for cells in rows:
        label = cells[0]
        raw = _value_cell(cells, value_column)
        if re.search(r"\btotal\b", label, re.IGNORECASE):
            total = _read_cell(raw)
            sheet.reported_total = total[0] if total is not None else sheet.reported_total
            continue
        index = labels.match(label)
        if index == AMBIGUOUS:
            sheet.ambiguous_labels.append(label)
            index = None
        criterion_rows.append((index, label, raw))
    _fill_by_position(criterion_rows, len(labels.criteria))
    for index, label, raw in criterion_rows:
        if index is None:
            sheet.unmatched_labels.append(label)
            continue
        cell = _read_cell(raw)
        sheet.add(index, None if cell is None else _as_point(cell), raw)


def _fill_by_position(rows: list[tuple[int | None, str, str]], size: int) -> None:
    """Name unmatched rows by position, only in a table of `size` rows whose named rows are all in place."""
    if len(rows) != size or any(index is not None and index != pos for pos, (index, _, _) in enumerate(rows)):
        return
    for position, (index, label, raw) in enumerate(rows):
        if index is None:
            rows[position] = (position, label, raw)


def _value_cell(cells: list[str], value_column: int | None) -> str:
    if value_column is not None and value_column < len(cells):
        return cells[value_column]
    return next(
        (cell for cell in cells[1:] if _read_cell(cell) is not None), cells[1] if len(cells) > 1 else ""
    )


def _read_items(reply: str, table_lines: set[int], labels: CriteriaLabels, sheet: MarkSheet) -> None:
    segment_start = 0
    for marker in _POINT_MARKER.finditer(reply):
        line_start = reply.rfind("\n", 0, marker.start()) + 1
        if reply.count("\n", 0, marker.start()) in table_lines:
            segment_start = marker.end()
            continue
        before_on_line = reply[line_start : marker.start()]
        value = _read_leading(marker.group("value"))
        if re.search(r"\btotal\b", before_on_line, re.IGNORECASE):
            sheet.reported_total = value[0] if value is not None else sheet.reported_total
        else:
            segment = reply[segment_start : marker.start()]
            index = (
                labels.match(marker.group("label"))
                if marker.group("label")
                else _segment_label(segment, labels)
            )
            if index == AMBIGUOUS or index is None:
                (sheet.ambiguous_labels if index == AMBIGUOUS else sheet.unmatched_labels).append(
                    _first_line(segment) if not marker.group("label") else marker.group("label")
                )
            else:
                sheet.add(index, None if value is None else _as_point(value), marker.group("value").strip())
        segment_start = marker.end()
    if sheet.reported_total is None and (total := _ITEM_TOTAL.search(reply)):
        value = _read_leading(total.group("value"))
        sheet.reported_total = value[0] if value is not None else None


def _segment_label(segment: str, labels: CriteriaLabels) -> int | None:
    """The criterion named by the first header-like line of an item ("**Metaphor**:", "2. Pertains to X:")."""
    for line in segment.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        candidates = []
        if bold := re.match(r"^[\W\d]*\*\*(.+?)\*\*", stripped):
            candidates.append(bold.group(1))
        head, colon, _ = stripped.partition(":")
        if colon and len(head.split()) <= 15:
            candidates.append(head)
        if re.match(r"^(?:\d+\s*[.)]|[-•+]|\(?[a-z]\))\s", stripped):
            candidates.append(stripped)
        for candidate in candidates:
            index = labels.match(candidate)
            if index is not None:
                return index
    return None


def _first_line(segment: str) -> str:
    return next((line.strip() for line in segment.splitlines() if line.strip()), "")


def _read_cell(text: str) -> tuple[float, float | None] | None:
    """(numerator, denominator) of a cell that holds only a number ("1", "**1**", "1/1", "one point")."""
    match = _CELL_VALUE.match(re.sub(r"[*_`]", "", text).strip().lower())
    return _number_pair(match) if match else None


def _read_leading(text: str) -> tuple[float, float | None] | None:
    """The number an item's value starts with ("0.", "1/1 - correct", "'0'.")."""
    match = _LEADING_VALUE.match(text.lower())
    return _number_pair(match) if match else None


def _number_pair(match: re.Match[str]) -> tuple[float, float | None]:
    denominator = match.group("den")
    return _to_float(match.group("num")), None if denominator is None else _to_float(denominator)


def _to_float(token: str) -> float:
    return _WORDS[token] if token in _WORDS else float(token)


def _as_point(value: tuple[float, float | None]) -> float | None:
    """A "n/d" fraction as n/d ("1/1" is 1); None for a zero denominator."""
    numerator, denominator = value
    if denominator is None:
        return numerator
    return numerator / denominator if denominator else None


def _fmt(value: float) -> str:
    return f"{value:g}"
