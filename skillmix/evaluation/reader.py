"""Reader for this project's evaluation outputs (`SkillMixEvalCallback`): records JSONL -> `GradedGeneration`.

    RUN_DIR/.../skillmix_eval/step000400/records.jsonl

A record is one graded generation: run, step, setting, k, skills, topic, generation round, the conversation,
the graded `answer`, and per grading round the grader's raw reply with its points or unscored reason. Every
raw reply is parsed again with the project's rubric parser, as for the reference layout, so a parser fix
reaches old records too. The callback computes its logged metrics through this same reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skillmix.errors import InputError
from skillmix.graded import GradedGeneration, Grading
from skillmix.jsonl import iter_jsonl
from skillmix.prompts import rubric_criteria_for_names
from skillmix.rubric import parse_rubric

RECORDS_FILE = "records.jsonl"
REGRADED_FILES = "records.graded-by-*.jsonl"


class EvalRecordsError(InputError):
    """A records file that cannot be read; the message names file, line and field."""


def graded_generation(record: dict[str, Any], source: str = "") -> GradedGeneration:
    """One record as the metrics read it; `checkpoint` is the training step, as a string."""
    try:
        skills = tuple(record["skills"])
        criteria = rubric_criteria_for_names(skills, record["topic"])
        gradings = tuple(_grading(grading, criteria) for grading in record["gradings"])
        return GradedGeneration(
            run=str(record["run"]),
            setting=str(record["setting"]),
            k=int(record["k"]),
            skills=skills,
            topic=str(record["topic"]),
            generation_round=int(record["generation_round"]),
            combination_index=_optional_int(record.get("combination_index")),
            answer=str(record["answer"]),
            gradings=gradings,
            checkpoint=str(int(record["step"])),
            seed=int(record["seed"]),
            source=source,
            messages=tuple((str(m["role"]), str(m["content"])) for m in record.get("messages", ())),
        )
    except KeyError as error:
        raise EvalRecordsError(
            f"{source}: missing field {error}. Fix: restore the record as written."
        ) from None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _grading(grading: dict[str, Any], criteria: list[str]) -> Grading:
    raw, grader, reasked = grading.get("raw"), str(grading["grader"]), bool(grading.get("reasked", False))
    if raw is None:
        return Grading(None, str(grading["unscored"]), grader, reasked=reasked)
    result = parse_rubric(raw, criteria, length_optional=True)
    return Grading(result.points, result.unscored, grader, raw, result.length_missing, reasked)


def records_files(root: Path) -> list[Path]:
    """`root` itself when it is a JSONL file, else every records file below it: the evaluation's
    records.jsonl and those `grade` wrote beside them (records.graded-by-<grader>.jsonl; never their
    .errors.jsonl of failed requests)."""
    if root.is_file():
        return [root] if root.suffix == ".jsonl" else []
    if not root.is_dir():
        return []
    regraded = [p for p in root.rglob(REGRADED_FILES) if not p.name.endswith(".errors.jsonl")]
    return sorted([*root.rglob(RECORDS_FILE), *regraded])


def is_eval_output(root: Path) -> bool:
    return bool(records_files(root))


def read_eval_output(root: Path) -> list[GradedGeneration]:
    """Every record in every `records.jsonl` under `root` (or in `root` itself, a records file)."""
    return [record for path in records_files(root) for record in read_records_file(path)]


def read_records_file(path: Path) -> list[GradedGeneration]:
    return [
        graded_generation(record, f"{path}:{number}")
        for number, record in iter_jsonl(path, fix="delete the line", error=EvalRecordsError)
    ]
