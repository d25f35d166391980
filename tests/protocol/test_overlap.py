"""The overlap index against brute force, and `cli.py overlap` on written records and D(k) files."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from skillmix.overlap import TrainingIndex, words

from .eval_record_files import eval_record, write_records

REPO = Path(__file__).resolve().parents[2]


def _longest_common_run(answer: list[str], text: list[str]) -> int:
    """Longest common substring of two word lists, by dynamic programming (the definition, no index)."""
    best, previous = 0, [0] * (len(text) + 1)
    for a in answer:
        current = [0] * (len(text) + 1)
        for j, t in enumerate(text, start=1):
            if a == t:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def test_hand_made_spans_and_fractions() -> None:
    index = TrainingIndex(
        ["The quick brown fox jumps over the lazy dog, and runs away!", "Hello world again"]
    )
    quick, short, hello, unknown = index.overlap(
        ["A quick brown FOX jumps over it", "nothing here", "hello world", "zebra crossing"], n=3
    )
    assert (quick.longest_shared_words, quick.span, quick.training_text) == (
        5,
        "quick brown fox jumps over",
        0,
    )
    assert (quick.ngrams, quick.shared_ngram_fraction) == (5, pytest.approx(3 / 5))  # 3 of its 5 trigrams
    assert (short.longest_shared_words, short.shared_ngram_fraction) == (0, None)  # too short for a trigram
    assert (hello.longest_shared_words, hello.training_text) == (2, 1)
    assert unknown.longest_shared_words == 0 and unknown.span == ""
    # a window across two training texts ("... away hello world") is not a shared span
    assert index.overlap(["runs away hello world"], n=2)[0].longest_shared_words == 2


def test_index_matches_brute_force_on_random_texts() -> None:
    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(12)]  # few words: many shared runs of every length
    texts = [" ".join(rng.choices(vocabulary, k=rng.randint(5, 40))) for _ in range(30)]
    answers = [" ".join(rng.choices(vocabulary, k=rng.randint(1, 30))) for _ in range(40)]
    answers.append(texts[3] + " " + texts[4])  # a whole text copied, then another
    n = 4
    grams = {tuple(words(t)[i : i + n]) for t in texts for i in range(len(words(t)) - n + 1)}
    for answer, result in zip(answers, TrainingIndex(texts).overlap(answers, n), strict=True):
        tokens = words(answer)
        assert result.longest_shared_words == max(_longest_common_run(tokens, words(t)) for t in texts)
        own = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        expected = sum(g in grams for g in own) / len(own) if own else None
        assert result.shared_ngram_fraction == (pytest.approx(expected) if own else None)
        if result.longest_shared_words:
            assert result.span in " ".join(words(texts[result.training_text]))  # type: ignore[index]


def test_texts_containing_matches_whole_words() -> None:
    index = TrainingIndex(["An ad hominem attack.", "Tomatoes and ad hoc plans", "no match"])
    found = index.texts_containing(["ad hominem", "tomato", "ad", "unseen word"])
    assert found == {"ad hominem": [0], "tomato": [], "ad": [0, 1], "unseen word": []}


def _example(index: int, answer: str, prompt: str = "Write about the topic.") -> dict:
    messages = [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "Now make it shorter."},
        {"role": "assistant", "content": answer},
    ]
    return {"id": f"ex-{index}", "k": 1, "skills": ["metaphor"], "topic": "Knots", "messages": messages,
            "teacher": "gpt-4", "source": "test"}  # fmt: skip


@pytest.mark.slow
def test_command_reports_copied_answers_and_leaked_heldout_names(tmp_path: Path) -> None:
    copied = " ".join(f"word{i}" for i in range(20))
    train = tmp_path / "d1.jsonl"
    lines = [
        _example(0, f"Start {copied} end."),
        _example(1, "Something else.", "Use red herring about Knots."),
    ]
    train.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    skills = ("red herring (a distraction)", "modus tollens")
    records = [
        eval_record(skills, "Volcanoes", f"Here {copied} there.", [(1,) * 5], combination_index=7, step=200),
        eval_record(skills, "Volcanoes", "Fresh words only.", [(1,) * 5], combination_index=8, step=200),
    ]
    path = write_records(tmp_path / "eval" / "step000200" / "records.jsonl", records)
    command = [sys.executable, "cli.py", "overlap", str(path), "--train_files", f"[{train}]", "--json"]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    first, second = report["answers"]
    identity = ("setting", "k", "combination_index", "generation_round", "step")
    assert tuple(first[field] for field in identity) == ("heldout", 2, 7, 1, 200)
    assert first["longest_shared_words"] == 20 and first["shared_13gram_fraction"] == pytest.approx(8 / 10)
    assert first["training_example"] == f"{train}#ex-0"
    assert (second["longest_shared_words"], second["shared_13gram_fraction"]) == (0, None)
    (summary,) = report["summaries"]
    assert (summary["answers"], summary["max_longest_shared_words"], summary["answers_sharing_an_ngram"]) == (
        2,
        20,
        1,
    )
    assert report["top_spans"][0]["span"] == copied
    leaked = {row["name"]: row["training_examples"] for row in report["leakage"]}
    assert leaked == {"red herring (a distraction)": 1, "Volcanoes": 0, "modus tollens": 0}
