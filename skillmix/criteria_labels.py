"""Which rubric criterion a grader's row label means.

Graders do not copy the criteria verbatim: GPT-4 shortens long skill names ("Correctly illustrates complex
question"), drops or changes the verb, adds bold, numbering and quotes, or writes "Relevance to topic" for
"Pertains to Sewing". Labels are matched in tiers, most specific first, and a tie inside a tier is reported
as ambiguous rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

AMBIGUOUS = -1
"""Returned by `CriteriaLabels.match` when a label fits two criteria equally well."""

_LIST_MARKER = re.compile(r"^(?:\d+\s*[.):]|[-•+>]|\(?[a-z]\)|criterion\s*\d*\s*[:.-]?)\s*")
_LEADING_VERB = re.compile(
    r"^(?:correctly\s+|correct\s+)?(?:illustrates?|illustration\s+of|demonstrates?|demonstration\s+of|"
    r"contains|uses?|use\s+of|shows?)\s+(?:the\s+|an?\s+)?(?:skill\s+(?:of\s+)?)?"
)
_TOPIC_WORDS = ("pertain", "topic", "relevan", "on-topic", "context")
_SENSE_WORDS = ("makes sense", "make sense", "sense", "coheren", "understandable", "clarity", "logical flow")
_LENGTH_WORDS = ("at most", "sentence", "length", "concise", "brevity")


def normalize_label(text: str) -> str:
    """Lower-case, markdown-free, single-spaced text with list markers and trailing punctuation removed."""
    text = text.lower()
    text = re.sub(r"[‘’`´]", "'", text)
    text = re.sub(r"[“”]", '"', text)
    text = re.sub(r"[*_#\"]", " ", text)
    text = re.sub(r"(?<=\w)'(?!\w)|(?<!\w)'(?=\w)|(?<!\w)'(?!\w)", " ", text)  # quotes, not apostrophes
    text = re.sub(r"(?<=\w)[-‐–](?=\w)", " ", text)
    text = " ".join(text.split())
    text = text.replace("( ", "(").replace(" )", ")")
    text = _LIST_MARKER.sub("", text)
    return text.strip(" :.,;-–")


def _starts_with_words(text: str, phrase: str) -> bool:
    return re.match(rf"{re.escape(phrase)}(?!\w)", text) is not None


def _contains_words(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


@dataclass(frozen=True)
class _Criterion:
    full: str
    core: str
    base: str


class CriteriaLabels:
    """The k+3 criteria of one grading: k skills, then topic, sense and length, in that order."""

    def __init__(self, criteria: Sequence[str]) -> None:
        if len(criteria) < 4:
            raise ValueError(
                f"a SKILL-MIX rubric has k+3 >= 4 criteria, got {len(criteria)}: {list(criteria)}"
            )
        self.criteria = list(criteria)
        self.k = len(criteria) - 3
        self._parsed = []
        for criterion in criteria:
            full = normalize_label(criterion)
            core = _LEADING_VERB.sub("", full)
            self._parsed.append(_Criterion(full, core, core.split("(")[0].strip()))
        self._topic = re.sub(r"^pertains\s+to\s+", "", self._parsed[self.k].full)

    def match(self, label: str) -> int | None:
        """Index of the criterion `label` names, None for no criterion, `AMBIGUOUS` for a tie."""
        text = normalize_label(label)
        if not text:
            return None
        core = _LEADING_VERB.sub("", text)
        skills = range(self.k)
        tiers = (
            [
                (i, len(c.full))
                for i, c in enumerate(self._parsed)
                if text in (c.full, c.core) or core == c.core
            ],
            [(i, len(self._parsed[i].base)) for i in skills if core == self._parsed[i].base],
            [
                (i, len(self._parsed[i].base))
                for i in skills
                if _starts_with_words(core, self._parsed[i].base)
            ],
            [(i, len(self._parsed[i].base)) for i in skills if _contains_words(text, self._parsed[i].base)],
            self._fixed_criterion_matches(text),
            [
                (i, len(core))
                for i in skills
                if len(core) >= 6 and _contains_words(self._parsed[i].core, core)
            ],
        )
        for matches in tiers:
            if matches:
                return _best(matches)
        return None

    def _fixed_criterion_matches(self, text: str) -> list[tuple[int, int]]:
        topic, sense, length = self.k, self.k + 1, self.k + 2
        matches = []
        if any(word in text for word in _TOPIC_WORDS) or _contains_words(text, self._topic):
            matches.append((topic, 1))
        if any(word in text for word in _SENSE_WORDS):
            matches.append((sense, 1))
        if any(word in text for word in _LENGTH_WORDS):
            matches.append((length, 1))
        return matches


def _best(matches: list[tuple[int, int]]) -> int:
    """The single criterion with the longest matched text; `AMBIGUOUS` when that is not unique."""
    candidates = {index for index, _ in matches}
    if len(candidates) == 1:
        return candidates.pop()
    longest = max(size for _, size in matches)
    best = {index for index, size in matches if size == longest}
    return best.pop() if len(best) == 1 else AMBIGUOUS
