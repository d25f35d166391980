"""Evaluation records files (this project's JSONL format) written from chosen points, for analysis tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillmix.prompts import rubric_criteria_for_names


def rubric_table(skills: Sequence[str], topic: str, points: Sequence[int]) -> str:
    """A grader reply that the project's rubric parser reads as `points`."""
    criteria = rubric_criteria_for_names(skills, topic)
    rows = "\n".join(f"| {criterion} | {point} |" for criterion, point in zip(criteria, points, strict=True))
    return f"| Criteria | Points Earned |\n|---|---|\n{rows}\n| Total Points Earned | {sum(points)} |"


def eval_record(
    skills: Sequence[str],
    topic: str,
    answer: str,
    rounds: Sequence[Sequence[int]],
    grader: str = "openai:gpt-4-0613",
    **fields: Any,
) -> dict[str, Any]:
    """One record as the evaluation writes it; `fields` override run, step, setting, indices."""
    record: dict[str, Any] = {
        "run": "default/version_0",
        "step": 100,
        "checkpoint": None,
        "setting": "heldout",
        "k": len(skills),
        "combination_index": 0,
        "generation_round": 1,
        "skills": list(skills),
        "topic": topic,
        "seed": 0,
        "answer": answer,
    } | fields
    record["gradings"] = [
        {"round": index, "grader": grader, "raw": rubric_table(skills, topic, points)}
        for index, points in enumerate(rounds)
    ]
    return record


def write_records(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path
