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
from skillmix.jsonl import iter_jsonl
from skillmix.prompts import rubric_criteria_for_names
from skillmix.records import GradedGeneration, Grading
from skillmix.rubric import parse_rubric

RECORDS_FILE = "records.jsonl"


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
            answer=str(record["answer"]),
            gradings=gradings,
            checkpoint=str(int(record["step"])),
            seed=int(record["seed"]),
            source=source,
        )
    except KeyError as error:
        raise EvalRecordsError(
            f"{source}: missing field {error}. Fix: restore the record as written."
        ) from None


def _grading(grading: dict[str, Any], criteria: list[str]) -> Grading:
    raw = grading.get("raw")
    if raw is None:
        return Grading(None, str(grading["unscored"]), grader=str(grading["grader"]))
    result = parse_rubric(raw, criteria)
    return Grading(result.points, result.unscored, grader=str(grading["grader"]), raw=raw)


def records_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if root.name == RECORDS_FILE else []
    return sorted(root.rglob(RECORDS_FILE)) if root.is_dir() else []


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
