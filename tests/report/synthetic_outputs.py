"""Evaluation outputs written without a model: the callback's folder layout and record format, with the real
prompts of the packaged catalog, invented answers, and rubric tables from the evaluation tests' scripted
grader (`tests.evaluation.rubric_server.rubric_reply`), so every reply goes through the real parser.

    <root>/skillmix_eval/step000100/records.jsonl

Used by the report tests (a few items) and by `benchmarks/report_scale.py` (the paper's 9 checkpoints x 3600).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from skillmix.catalog import load_catalog
from skillmix.combinations import sample_combinations
from skillmix.prompts import render_generation_turn1, render_generation_turn2, render_grading_prompt
from tests.evaluation.rubric_server import rubric_reply

HOSTILE_ANSWER = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> & </div>'
"""Model output that a report must show as text: run as markup, it would set `window.__pwned`."""


def _catalog_words() -> list[str]:
    """English words at their frequency in the catalog's definitions and examples, so that the invented
    text compresses about as well as real answers do (what the report's size depends on)."""
    catalog = load_catalog()
    return " ".join(f"{skill.definition} {skill.example}" for skill in catalog.skills).split()


_WORDS = _catalog_words()

AnswerText = Callable[[random.Random, int, int], str]
"""(rng, step, k) -> the graded text of one answer."""


def plain_answer(rng: random.Random, step: int, k: int) -> str:
    """About the length of a real SKILL-MIX answer: k-1 sentences of 15-30 words."""
    sentences = []
    for _ in range(max(1, k - 1)):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(15, 30))]
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def _explanation(rng: random.Random, skills: Sequence[str]) -> str:
    return "\n\n".join(
        f"**{skill}**: " + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(25, 45))) + "."
        for skill in skills
    )


def write_eval_outputs(
    root: Path,
    *,
    run: str = "synthetic/version_0",
    steps: Sequence[int] = (0, 100),
    settings: Sequence[str] = ("train", "heldout"),
    ks: Sequence[int] = (2, 3),
    combinations_per_k: int = 2,
    generation_rounds: int = 1,
    grading_rounds: int = 2,
    answer: AnswerText = plain_answer,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Write one records.jsonl per step under `root/skillmix_eval`; return every record written."""
    catalog = load_catalog()
    skill_names = [skill.name for skill in catalog.skills]
    written = []
    for step in steps:
        rng = random.Random(f"{seed}/{step}")
        folder = root / "skillmix_eval" / f"step{step:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "records.jsonl").open("w", encoding="utf-8") as out:
            for setting in settings:
                for k in ks:
                    drawn = sample_combinations(skill_names, catalog.topics, k, combinations_per_k, seed + k)
                    for index, combination in enumerate(drawn):
                        for generation_round in range(generation_rounds):
                            record = _record(
                                catalog, rng, answer, run, step, setting, k, index, generation_round,
                                combination.skills, combination.topic, grading_rounds, seed,
                            )  # fmt: skip
                            out.write(json.dumps(record, ensure_ascii=False) + "\n")
                            written.append(record)
    return written


def _record(
    catalog: Any,
    rng: random.Random,
    answer: AnswerText,
    run: str,
    step: int,
    setting: str,
    k: int,
    index: int,
    generation_round: int,
    skill_names: Sequence[str],
    topic: str,
    grading_rounds: int,
    seed: int,
) -> dict[str, Any]:
    skills = catalog.skills_named(skill_names)
    first, second = plain_answer(rng, step, k), answer(rng, step, k)
    explanation = _explanation(rng, skill_names)
    grading_prompt = render_grading_prompt(skills, topic, second)
    gradings = []
    for grading_round in range(grading_rounds):
        raw = (
            rubric_reply(grading_prompt, grading_round + 17 * step) + "\n\n" + _explanation(rng, skill_names)
        )
        gradings.append({"round": grading_round, "grader": "openai:scripted-grader", "raw": raw})
    return {
        "format": "skillmix-lightning/eval-record/1", "run": run, "step": step, "checkpoint": None,
        "setting": setting, "k": k, "combination_index": index, "generation_round": generation_round,
        "skills": list(skill_names), "topic": topic, "seed": seed,
        "messages": [
            {"role": "user", "content": render_generation_turn1(skills, topic)},
            {"role": "assistant", "content": f"Answer: {first}\n\nExplanation:\n{explanation}"},
            {"role": "user", "content": render_generation_turn2(k)},
            {"role": "assistant", "content": f"Answer: {second}\n\nExplanation:\n{explanation}"},
        ],
        "answer": second, "gradings": gradings,
    }  # fmt: skip
