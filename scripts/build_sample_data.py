"""Render the hand-written sample answers into the bundled D(k) training file.

    .venv/bin/python scripts/build_sample_data.py

Reads `datamodules/sample_data/answers.jsonl` (one line per example: k, skills, topic, answer1, answer2)
and writes `datamodules/sample_data/skillmix_sample.jsonl` in the D(k) schema (docs/data.md): the user
turns are the protocol's own generation prompts for those skills and that topic, so a sample example is
shaped exactly like one that `cli.py generate` would write with a real teacher.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from datamodules.dk_files import DataFileError, read_skillmix_file  # noqa: E402
from skillmix.catalog import Catalog, load_catalog  # noqa: E402
from skillmix.prompts import render_generation_turn1, render_generation_turn2  # noqa: E402

SAMPLE_DIR = REPO_ROOT / "datamodules" / "sample_data"
ANSWERS = SAMPLE_DIR / "answers.jsonl"
OUTPUT = SAMPLE_DIR / "skillmix_sample.jsonl"
TEACHER = "skillmix-lightning sample (hand-written)"
SOURCE = "bundled sample"


def training_example(raw: dict, line_number: int, catalog: Catalog) -> dict:
    where = f"{ANSWERS}:{line_number}"
    for field in ("k", "skills", "topic", "answer1", "answer2"):
        if field not in raw:
            raise DataFileError(f"{where}: field '{field}': missing. Fix: add it")
    if len(raw["skills"]) != raw["k"]:
        raise DataFileError(f"{where}: field 'skills': {len(raw['skills'])} names but k is {raw['k']}")
    if raw["topic"] not in catalog.topics:
        raise DataFileError(f"{where}: field 'topic': {raw['topic']!r} is not in the catalog's topics")
    skills = [catalog.skill(name) for name in raw["skills"]]
    return {
        "id": f"sample-{line_number:03d}",
        "k": raw["k"],
        "skills": raw["skills"],
        "topic": raw["topic"],
        "messages": [
            {"role": "user", "content": render_generation_turn1(skills, raw["topic"])},
            {"role": "assistant", "content": raw["answer1"]},
            {"role": "user", "content": render_generation_turn2(raw["k"])},
            {"role": "assistant", "content": raw["answer2"]},
        ],
        "teacher": TEACHER,
        "source": SOURCE,
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    catalog = load_catalog()
    with ANSWERS.open(encoding="utf-8") as lines:
        examples = [
            training_example(json.loads(line), line_number, catalog)
            for line_number, line in enumerate(lines, start=1)
            if line.strip()
        ]
    with OUTPUT.open("w", encoding="utf-8") as output:
        for example in examples:
            output.write(json.dumps(example, ensure_ascii=False) + "\n")
    read_skillmix_file(OUTPUT)  # the file must pass the loader's own checks
    counts = Counter(example["k"] for example in examples)
    logging.info("wrote %s: %d examples (%s)", OUTPUT, len(examples), dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
