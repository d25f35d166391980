"""Reader for the reference SKILL-MIX folder layout.

    k{k}_s{seed}_v{prompt}_r{generation round}/{student}/records.csv                  (generations)
    .../{student}/graded/by_{grader}_on_text_{turn}_{grading round}_{prompt}/records.csv  (gradings)

Grading row i grades generation row i of the same student folder (the reference writes them in that order);
the reader checks that their skills and topic agree. Every grader reply is re-parsed with our parser: the
reference's `points_0` column is never read.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import defaultdict
from pathlib import Path

from skillmix.errors import InputError
from skillmix.graded import GradedGeneration, Grading
from skillmix.prompts import rubric_criteria_for_names
from skillmix.rubric import parse_rubric

logger = logging.getLogger(__name__)

SETTING = "reference"
_ROUND_DIR = re.compile(r"^k(?P<k>\d+)_s(?P<seed>\d+)_v(?P<prompt>.+)_r(?P<round>\d+)$")
_GRADED_DIR = re.compile(r"^by_(?P<grader>.+)_on_(?P<column>text_\d+)_(?P<round>\d+)_(?P<prompt>.+)$")


class ReferenceLayoutError(InputError):
    """A folder that looks like the reference layout but cannot be read; the message names file and row."""


def split_skills_column(value: str) -> list[str]:
    """Skill names from a reference `skills` column ("a, \\nb, \\nc"; graded files use ",  \\n")."""
    return [name.strip() for name in value.split(",") if name.strip()]


def grading_files(root: Path) -> list[Path]:
    """The grading `records.csv` files under `root` that sit where the reference layout puts them."""
    return sorted(
        path
        for path in root.rglob("records.csv")
        if _GRADED_DIR.match(path.parent.name)
        and path.parent.parent.name == "graded"
        and _ROUND_DIR.match(path.parents[3].name)
    )


def is_reference_layout(root: Path) -> bool:
    return root.is_dir() and bool(grading_files(root))


def read_reference_layout(root: Path) -> list[GradedGeneration]:
    """Every graded generation under `root`, one per (generation round, student, generation row)."""
    files = grading_files(root)
    if not files:
        raise ReferenceLayoutError(
            f"{root}: no grading records in the reference layout "
            "(k*_s*_v*_r*/STUDENT/graded/by_*/records.csv)."
        )
    by_student_and_turn: dict[tuple[Path, str], list[Path]] = defaultdict(list)
    for path in files:
        column = _GRADED_DIR.match(path.parent.name)["column"]  # type: ignore[index]
        by_student_and_turn[(path.parents[2], column)].append(path)
    records = []
    for (student_dir, column), paths in sorted(by_student_and_turn.items()):
        records += _read_student(student_dir, column, sorted(paths, key=_grading_round))
    return records


def _grading_round(path: Path) -> int:
    return int(_GRADED_DIR.match(path.parent.name)["round"])  # type: ignore[index]


def _read_student(student_dir: Path, column: str, grading_paths: list[Path]) -> list[GradedGeneration]:
    round_dir = _ROUND_DIR.match(student_dir.parent.name)
    assert round_dir is not None  # grading_files() only returns paths below a matching folder
    generations_path = student_dir / "records.csv"
    if not generations_path.is_file():
        raise ReferenceLayoutError(f"{generations_path}: missing; the gradings next to it need its answers.")
    generations = _read_rows(generations_path)
    gradings: dict[int, list[Grading]] = defaultdict(list)
    for path in grading_paths:
        grader = _GRADED_DIR.match(path.parent.name)["grader"]  # type: ignore[index]
        for index, row in enumerate(_read_rows(path)):
            where = f"{path}, row {index + 1}"
            if index >= len(generations):
                raise ReferenceLayoutError(f"{where}: no generation row {index + 1} in {generations_path}.")
            if _combination(row) != _combination(generations[index]):
                raise ReferenceLayoutError(
                    f"{where}: skills/topic differ from row {index + 1} of {generations_path}; "
                    "the reference layout pairs them by position. Fix: restore the rows' original order."
                )
            skills = split_skills_column(row["skills"])
            criteria = rubric_criteria_for_names(skills, row["topic"])
            result = parse_rubric(row["assistant_0"], criteria, length_optional=True)
            gradings[index].append(
                Grading(result.points, result.unscored, grader, row["assistant_0"], result.length_missing)
            )
    if len(gradings) < len(generations):
        logger.warning(
            "%s: %d of %d generations are graded; the others are left out",
            student_dir,
            len(gradings),
            len(generations),
        )
    return [
        GradedGeneration(
            run=student_dir.name,
            setting=SETTING,
            k=int(round_dir["k"]),
            skills=tuple(split_skills_column(generations[index]["skills"])),
            topic=generations[index]["topic"],
            generation_round=int(round_dir["round"]),
            answer=generations[index][column],
            gradings=tuple(round_gradings),
            seed=int(round_dir["seed"]),
            source=f"{generations_path}, row {index + 1}",
            messages=_conversation(generations[index]),
            combination_index=index,
        )
        for index, round_gradings in sorted(gradings.items())
    ]


def _conversation(row: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The generation row's system prompt and two turns, those of its columns that are there."""
    columns = [("system", "system prompt"), ("user", "user_0"), ("assistant", "assistant_0")]
    columns += [("user", "user_1"), ("assistant", "assistant_1")]
    return tuple((role, row[column]) for role, column in columns if row.get(column))


def _combination(row: dict[str, str]) -> tuple[tuple[str, ...], str]:
    return tuple(split_skills_column(row.get("skills", ""))), row.get("topic", "")


def _read_rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        required = {"skills", "topic"} | ({"assistant_0"} if path.parent.name.startswith("by_") else set())
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise ReferenceLayoutError(f"{path}: missing column(s) {', '.join(sorted(missing))}.")
        return list(reader)
