"""Audit the catalog's skill names against the explicit-name penalty (see `skillmix.name_audit`).

    .venv/bin/python scripts/audit_skill_names.py datamodules/sample_data/skillmix_sample.jsonl \
        ../shared/skillmix-reference/test [--words WORDS.txt] [--skills_csv skills.csv]

Each PATH is a D(k) JSONL file (its final answers are read) or anything `cli.py compare` reads. It prints,
per PATH and matching mode, how many skill points the penalty takes from the answers' own skills, which
catalog names fire anywhere in those answers, and, with `--words` (a word list, one per line, most frequent
first), which names are substrings of other words.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from skillmix.answers import extract_answer  # noqa: E402
from skillmix.catalog import load_catalog  # noqa: E402
from skillmix.compare import read_records  # noqa: E402
from skillmix.name_audit import Answer, catalog_hits, penalties, word_collisions  # noqa: E402

log = logging.getLogger("audit_skill_names")


def answers_of(path: Path) -> list[Answer]:
    if path.suffix == ".jsonl" and path.name != "records.jsonl":
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [(line["skills"], extract_answer(line["messages"][-1]["content"])) for line in lines]
    return [(record.skills, record.answer) for record in read_records(path)]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--words", type=Path, help="A word list, one word per line.")
    parser.add_argument("--skills_csv", type=Path)
    parser.add_argument("--topics_txt", type=Path)
    args = parser.parse_args()
    names = [skill.name for skill in load_catalog(args.skills_csv, args.topics_txt).skills]
    for path in args.paths:
        answers = answers_of(path)
        log.info("%s: %d answers; penalties on their own skills: %s", path, len(answers), penalties(answers))
        for mode, hits in catalog_hits([text for _, text in answers], names).items():
            log.info("  catalog names found (%s): %s", mode, dict(hits.most_common()) or "none")
    if args.words:
        collisions = word_collisions(names, args.words.read_text(encoding="utf-8").splitlines())
        for name, words in collisions.items():
            log.info("%r is inside %d other words: %s", name, len(words), ", ".join(words[:8]))


if __name__ == "__main__":
    main()
