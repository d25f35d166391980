"""Memorization check: how much of each evaluated answer appears word for word in the training answers.

Texts become lower-cased word sequences (`words`). For every answer, two numbers:
- `longest_shared_words`: the length of the longest run of consecutive words that also occurs, in the same
  order, inside one training text (exact, no cap);
- `shared_ngram_fraction`: the share of the answer's word n-grams (n = 13 by default, the size
  contamination studies such as GPT-3's use) that occur in some training text; None below n words.

The index is a polynomial rolling hash over word ids (numpy, 64-bit, wrapping arithmetic), grown one word at
a time: a window of L + 1 words can only be shared if its first L words are, so each level keeps only the
positions still alive on both sides, and the work shrinks fast after the first few words. The longest span
found for an answer is checked word by word against the training text it came from, so a hash collision
cannot report a span that is not there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_TRAIN_SEPARATOR, _UNKNOWN = 0, 1
"""Word ids that can never match: between training texts, and unknown words / between answers."""
_BASE = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2^64


def words(text: str) -> list[str]:
    """Lower-cased words (letters, digits, inner apostrophes); punctuation and case do not matter."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class AnswerOverlap:
    longest_shared_words: int
    shared_ngram_fraction: float | None
    ngrams: int
    """How many word n-grams the answer has."""
    span: str
    """The longest shared span's words ("" when nothing is shared)."""
    training_text: int | None
    """Index (into the training texts) of one text that holds the span."""


def _member(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """values[i] in pool, for a sorted, non-empty `pool` (searching the big side into the small one)."""
    import numpy as np

    if not len(pool):
        return np.zeros(len(values), dtype=bool)
    return pool[np.minimum(np.searchsorted(pool, values), len(pool) - 1)] == values


class _Corpus:
    """Word-id sequences concatenated with a separator, with prefix hashes for any window in O(1)."""

    def __init__(self, sequences: Sequence[Sequence[int]], separator: int) -> None:
        import numpy as np

        lengths = np.array([len(s) + 1 for s in sequences], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        flat = [token for sequence in sequences for token in (*sequence, separator)]
        self.ids = np.array(flat, dtype=np.uint64)
        size = len(self.ids)
        powers = np.full(size + 1, _BASE, dtype=np.uint64)
        powers[0] = 1
        self.powers = np.cumprod(powers, dtype=np.uint64)  # _BASE^i mod 2^64
        inverse = np.full(size, pow(_BASE, -1, 1 << 64), dtype=np.uint64)
        inverse[0] = 1
        inverse_powers = np.cumprod(inverse, dtype=np.uint64)
        self.prefix = np.zeros(size + 1, dtype=np.uint64)  # sum of ids[j] * _BASE^-j for j < i
        self.prefix[1:] = np.cumsum(self.ids * inverse_powers, dtype=np.uint64)

    def hashes(self, positions: np.ndarray, length: int) -> np.ndarray:
        """Hash of the `length` words at each position: sum of ids[j] * _BASE^(end - j)."""
        return (self.prefix[positions + length] - self.prefix[positions]) * self.powers[
            positions + length - 1
        ]

    def owner(self, positions: np.ndarray) -> np.ndarray:
        """Which sequence each position lies in."""
        import numpy as np

        return np.searchsorted(self.starts, positions, side="right") - 1


class TrainingIndex:
    """The training texts' words, indexed for `overlap` queries."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.vocabulary: dict[str, int] = {}
        sequences = []
        for text in texts:
            sequences.append([self.vocabulary.setdefault(w, len(self.vocabulary) + 2) for w in words(text)])
        self.corpus = _Corpus(sequences, _TRAIN_SEPARATOR)

    def ids(self, text: str) -> list[int]:
        return [self.vocabulary.get(word, _UNKNOWN) for word in words(text)]

    def overlap(self, answers: Sequence[str], n: int = 13) -> list[AnswerOverlap]:
        """Per answer: its longest span shared with a training text and its shared n-gram fraction."""
        import numpy as np

        answer_ids = [self.ids(answer) for answer in answers]
        query = _Corpus(answer_ids, _UNKNOWN)
        train = self.corpus
        train_alive = np.flatnonzero(_member(train.ids, np.unique(query.ids[query.ids > _UNKNOWN])))
        query_alive = np.flatnonzero(query.ids > _UNKNOWN)
        best_length = np.zeros(len(answers), dtype=np.int64)
        best_start = np.zeros(len(answers), dtype=np.int64)
        best_train = np.full(len(answers), -1, dtype=np.int64)
        shared_ngrams = np.zeros(len(answers), dtype=np.int64)
        length = 1
        while train_alive.size and query_alive.size:
            # Only the answers' side (the small one) is ever sorted; the training side is searched into it.
            train_hashes = train.hashes(train_alive, length)
            query_hashes = query.hashes(query_alive, length)
            pool = np.unique(query_hashes)
            slot = np.minimum(np.searchsorted(pool, train_hashes), len(pool) - 1)
            train_hit = pool[slot] == train_hashes
            source = np.full(len(pool), -1, dtype=np.int64)  # per pooled hash: a training position holding it
            source[slot[train_hit]] = train_alive[train_hit]
            query_slot = np.searchsorted(pool, query_hashes)
            query_hit = source[query_slot] >= 0
            train_alive = train_alive[train_hit]
            query_alive, query_slot = query_alive[query_hit], query_slot[query_hit]
            if not query_alive.size:
                break
            owners = query.owner(query_alive)
            answers_here, first = np.unique(owners, return_index=True)  # one shared window per answer
            best_length[answers_here] = length  # the levels only grow: the last one seen is the longest
            best_start[answers_here] = query_alive[first]
            best_train[answers_here] = source[query_slot[first]]
            if length == n:
                shared_ngrams += np.bincount(owners, minlength=len(answers))
            length += 1  # a longer window needs its shorter prefix shared: keep the survivors, one word more
            train_alive = train_alive[train_alive + length <= len(train.ids)]
            query_alive = query_alive[query_alive + length <= len(query.ids)]
        reverse = {index: word for word, index in self.vocabulary.items()}
        results = []
        for index, ids in enumerate(answer_ids):
            size, start, where = int(best_length[index]), int(best_start[index]), int(best_train[index])
            ngrams = max(0, len(ids) - n + 1)
            span_ids = query.ids[start : start + size]
            if size and not np.array_equal(span_ids, train.ids[where : where + size]):
                raise AssertionError(f"answer {index}: hash collision in the overlap index")  # 2^-64 odds
            results.append(
                AnswerOverlap(
                    longest_shared_words=size,
                    shared_ngram_fraction=float(shared_ngrams[index]) / ngrams if ngrams else None,
                    ngrams=ngrams,
                    span=" ".join(reverse[int(i)] for i in span_ids),
                    training_text=int(train.owner(np.array([where]))[0]) if size else None,
                )
            )
        return results

    def texts_containing(self, phrases: Sequence[str]) -> dict[str, list[int]]:
        """Per phrase: the indices of the training texts that contain its words in order (whole words)."""
        import numpy as np

        train = self.corpus
        found: dict[str, list[int]] = {}
        by_length: dict[int, list[tuple[str, list[int]]]] = {}
        for phrase in phrases:
            ids = self.ids(phrase)
            if not ids or _UNKNOWN in ids:
                found[phrase] = []
            else:
                by_length.setdefault(len(ids), []).append((phrase, ids))
        for length, members in by_length.items():
            positions = np.arange(0, max(0, len(train.ids) - length + 1), dtype=np.int64)
            hashes = train.hashes(positions, length)
            for phrase, ids in members:
                target = _Corpus([ids], _UNKNOWN).hashes(np.array([0], dtype=np.int64), length)[0]
                owners = train.owner(positions[hashes == target])
                found[phrase] = sorted({int(owner) for owner in owners})
        return found
