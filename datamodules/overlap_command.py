"""`python cli.py overlap EVAL_PATH --train_files '[d1.jsonl, ...]'`: is "composition" copying?

For every evaluated answer: the longest word span it shares with a training answer and the share of its word
13-grams found in the training answers (`skillmix.overlap`, an n-gram index: ~14k D(k) examples x 3600
answers in seconds), summaries per (run, step, setting, k), and the longest copied spans. Then a leakage
check: held-out skill names (as the name penalty cuts them, at "(") and held-out topics (those of the
`heldout` setting's records) appearing, as whole words, anywhere in a training example (prompts included).

It lives here, not in `skillmix/`, because it reads D(k) files with the datamodules' own checked reader.
"""

from __future__ import annotations

import json as json_lib
import logging
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser

from datamodules.dk_files import read_skillmix_file
from skillmix.compare import read_records
from skillmix.errors import InputError
from skillmix.overlap import TrainingIndex
from skillmix.text_checks import explicit_name

logger = logging.getLogger(__name__)


def overlap_report(
    eval_paths: Sequence[Path], train_files: Sequence[Path], n: int = 13, top: int = 10
) -> dict[str, Any]:
    """What `overlap --json` prints: `answers` (one row per evaluated answer), `summaries` (per run, step,
    setting, k), `top_spans` (the `top` longest shared spans) and `leakage` (held-out names in training)."""
    if not train_files:
        raise InputError("overlap: no --train_files. Fix: --train_files '[data/skillmix/d1.jsonl, ...]'.")
    records = [record for path in eval_paths for record in read_records(Path(path))]
    examples = [(path, example) for path in train_files for example in read_skillmix_file(path)]
    answer_refs = [
        f"{path}#{example.id}"
        for path, example in examples
        for m in example.messages
        if m["role"] == "assistant"
    ]
    began = time.perf_counter()
    index = TrainingIndex(
        [m["content"] for _, example in examples for m in example.messages if m["role"] == "assistant"]
    )
    results = index.overlap([record.answer for record in records], n)
    logger.info(
        "%d answers against %d training answers (%d words) in %.1f s",
        len(records),
        len(answer_refs),
        len(index.corpus.ids) - len(answer_refs),
        time.perf_counter() - began,
    )
    fraction = f"shared_{n}gram_fraction"
    answers: list[dict[str, Any]] = []
    for record, result in zip(records, results, strict=True):
        answers.append(
            {
                "run": record.run,
                "step": _step(record.checkpoint),
                "setting": record.setting,
                "k": record.k,
                "combination_index": record.combination_index,
                "generation_round": record.generation_round,
                "longest_shared_words": result.longest_shared_words,
                fraction: result.shared_ngram_fraction,
                "ngrams": result.ngrams,
                "span": result.span,
                "training_example": None
                if result.training_text is None
                else answer_refs[result.training_text],
            }
        )
    top_spans = sorted(answers, key=lambda row: -int(row["longest_shared_words"]))[:top]
    return {
        "n": n,
        "training_answers": len(answer_refs),
        "answers": answers,
        "summaries": _summaries(answers, fraction),
        "top_spans": [row for row in top_spans if row["longest_shared_words"]],
        "leakage": _leakage(records, examples, index),
    }


def _step(checkpoint: str | None) -> int | None:
    return int(checkpoint) if checkpoint is not None and checkpoint.isdigit() else None


def _summaries(answers: Sequence[dict[str, Any]], fraction: str) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in answers:
        groups[(row["run"], row["step"], row["setting"], row["k"])].append(row)
    summaries = []
    for (run, step, setting, k), rows in sorted(groups.items(), key=lambda item: repr(item[0])):
        longest = [row["longest_shared_words"] for row in rows]
        fractions = [row[fraction] for row in rows if row[fraction] is not None]
        summaries.append(
            {
                "run": run,
                "step": step,
                "setting": setting,
                "k": k,
                "answers": len(rows),
                f"mean_{fraction}": statistics.fmean(fractions) if fractions else None,
                "answers_sharing_an_ngram": sum(1 for value in fractions if value > 0),
                "median_longest_shared_words": statistics.median(longest),
                "max_longest_shared_words": max(longest),
            }
        )
    return summaries


def _leakage(
    records: Sequence[Any], examples: Sequence[tuple[Path, Any]], answers: TrainingIndex
) -> list[dict[str, Any]]:
    """Held-out names found in the training examples: their answers (the index already built) and prompts."""
    heldout = [record for record in records if record.setting == "heldout"]
    if not heldout:
        logger.info("no `heldout` records: the leakage check has no held-out skills or topics to look for")
        return []
    phrases = {explicit_name(skill): ("skill", skill) for record in heldout for skill in record.skills}
    phrases |= {record.topic.lower(): ("topic", record.topic) for record in heldout}
    owners: dict[str, list[int]] = {
        "assistant": [],
        "user": [],
    }  # per message of each role: the index of its example
    texts: dict[str, list[str]] = {"user": []}
    for number, (_, example) in enumerate(examples):
        for message in example.messages:
            owners[message["role"]].append(number)
            if message["role"] == "user":
                texts["user"].append(message["content"])
    found: dict[str, set[int]] = {phrase: set() for phrase in phrases}
    for role, index in (("assistant", answers), ("user", TrainingIndex(texts["user"]))):
        for phrase, messages in index.texts_containing(sorted(phrases)).items():
            found[phrase] |= {owners[role][message] for message in messages}
    rows = []
    for phrase, numbers in sorted(found.items(), key=lambda item: (-len(item[1]), item[0])):
        kind, name = phrases[phrase]
        first = min(numbers, default=None)
        where = None if first is None else f"{examples[first][0]}#{examples[first][1].id}"
        rows.append(
            {
                "kind": kind,
                "name": name,
                "searched": phrase,
                "training_examples": len(numbers),
                "first": where,
            }
        )
    return rows


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    fraction = f"shared_{report['n']}gram_fraction"
    table = Table(
        title=f"overlap with {report['training_answers']} training answers (word {report['n']}-grams)"
    )
    for column in ("run", "step", "setting", "k", "answers", f"mean {report['n']}-gram share", "sharing one",
                   "median longest", "max longest"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("run", "setting") else "right")
    for row in report["summaries"]:
        mean = row[f"mean_{fraction}"]
        table.add_row(
            str(row["run"]), "-" if row["step"] is None else str(row["step"]), row["setting"], str(row["k"]),
            str(row["answers"]), "-" if mean is None else f"{mean:.3f}", str(row["answers_sharing_an_ngram"]),
            f"{row['median_longest_shared_words']:g}", str(row["max_longest_shared_words"]),
        )  # fmt: skip
    console.print(table)
    spans = Table(title="longest spans shared with a training answer")
    for column in ("words", "span", "answer", "training example"):
        spans.add_column(column, justify="right" if column == "words" else "left")
    for row in report["top_spans"]:
        where = f"{row['setting']} k={row['k']} #{row['combination_index']} r{row['generation_round']}"
        spans.add_row(str(row["longest_shared_words"]), row["span"], where, str(row["training_example"]))
    console.print(spans)
    leaked = [row for row in report["leakage"] if row["training_examples"]]
    console.print(
        f"leakage: {len(leaked)} of {len(report['leakage'])} held-out skill names / topics occur in "
        "training examples"
        + "".join(
            f"\n  {r['kind']} {r['name']!r}: {r['training_examples']} examples, e.g. {r['first']}"
            for r in leaked
        )
    )


def overlap(
    paths: Sequence[Path], train_files: Sequence[Path], json: bool = False, n: int = 13, top: int = 10
) -> None:
    report = overlap_report(paths, train_files, n, top)
    if json:
        sys.stdout.write(json_lib.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        print_report(report)


def overlap_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="cli.py overlap",
        description=(
            "Memorization check: per evaluated answer, the longest word span shared with a training answer "
            "and the share of its word n-grams found in the training answers; then held-out skill names and "
            "topics found in the training examples (leakage)."
        ),
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        help="Evaluation outputs (or reference-layout folders) whose answers to check.",
    )
    parser.add_argument(
        "--train_files", type=list[Path], required=True, help="The D(k) JSONL files trained on."
    )
    parser.add_argument(
        "--json", type=bool, nargs="?", const=True, default=False, help="Print one JSON document."
    )
    parser.add_argument("--n", type=int, default=13, help="Words per n-gram for the shared n-gram fraction.")
    parser.add_argument("--top", type=int, default=10, help="How many of the longest shared spans to list.")
    return parser


def main(argv: list[str]) -> None:
    overlap(**overlap_parser().parse_args(argv).as_dict())
