"""A scripted teacher and grader for the generation tests, as a reply function for `ScriptedLLMServer`.

Each k=1 combination gets a fate from a hash of its turn-1 prompt, and the teacher's improved answer
shows it; the grader reads the answer back and grades accordingly, so a test knows which texts deserve
full marks without trusting the code under test:
- good: one clean sentence, all points.
- weak: the grader withholds the skill point.
- named: all points from the grader, but the text spells the skill's name (the name penalty).
- long: all points from the grader, but three sentences (the programmatic length check).
- unscored: the grader's reply has no rubric table (also on the re-ask).
- duplicate: the same text for every such combination; only the first in plan order may be kept.
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any

from skillmix.prompts import rubric_criteria_for_names
from skillmix.text_checks import explicit_name

FATES = ("good", "weak", "named", "long", "unscored", "duplicate")
DUPLICATE_TEXT = "Every ending here is a beginning in disguise."

_TURN1 = re.compile(
    r"in the context of (?P<topic>.*) that illustrates all of the following skills: (?P<skill>.*)\. "
    r"Please keep"
)
_GRADING = re.compile(
    r"in the context of (?P<topic>.*)\. This single piece of text should illustrate all of the following "
    r"skills: (?P<skill>.*)\.\"\n\nThe student's answer was: \"(?P<answer>.*)\"\n\n",
    re.DOTALL,
)


def fate_of(turn1_prompt: str) -> str:
    return FATES[int(hashlib.sha256(turn1_prompt.encode()).hexdigest(), 16) % len(FATES)]


def improved_answer(turn1_prompt: str) -> str:
    """The text the teacher's second reply puts after "Answer:"."""
    found = _TURN1.search(turn1_prompt)
    assert found, turn1_prompt[:200]
    topic, skill = found["topic"], found["skill"]
    tag = hashlib.sha256(turn1_prompt.encode()).hexdigest()[:6]
    return {
        "good": f"Around {topic}, every morning felt like a promise kept ({tag}).",
        "weak": f"Around {topic}, nothing much happened today ({tag}).",
        "named": f"Around {topic}, the {explicit_name(skill)} was plain to see ({tag}).",
        "long": f"Around {topic}, it rained. Then it stopped. Then it rained again ({tag}).",
        "unscored": f"Around {topic}, xyzzy ({tag}).",
        "duplicate": DUPLICATE_TEXT,
    }[fate_of(turn1_prompt)]


class ScriptedModels:
    """`reply(body, sample)` for the server. With `hold_after` set, every request after that many answered
    ones waits (until `release` is set), to freeze a run mid-way. `answered` holds the bodies of the
    requests that got a reply."""

    def __init__(self) -> None:
        self.answered: list[dict[str, Any]] = []
        self.hold_after: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self._seen: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def reply(self, body: dict[str, Any], sample: int) -> str:
        with self._lock:
            first_sample = id(body) not in self._seen
            self._seen[id(body)] = body  # kept alive, so ids stay unique
            hold = first_sample and self.hold_after is not None and len(self.answered) >= self.hold_after
            if first_sample and not hold:
                self.answered.append(body)
        if hold:
            self.holding.set()
            self.release.wait(timeout=20)
        return self._text(body["messages"])

    def _text(self, messages: list[dict[str, str]]) -> str:
        users = [m["content"] for m in messages if m["role"] == "user"]
        if "grade the following answer" in users[-1]:
            return _grading_reply(users[-1])
        if len(users) == 1:
            return f"Answer: A first draft ({fate_of(users[0])}).\n\nExplanation: It tries."
        return f"Answer: {improved_answer(users[0])}\n\nExplanation: It shows the skill on the topic."


def _grading_reply(prompt: str) -> str:
    found = _GRADING.search(prompt)
    assert found, prompt[:300]
    if "xyzzy" in found["answer"]:
        return "I am not sure how to grade this one."
    criteria = rubric_criteria_for_names([found["skill"]], found["topic"])
    points = [0 if "nothing much happened" in found["answer"] and i == 0 else 1 for i in range(len(criteria))]
    rows = "".join(f"| {c} | {p} |\n" for c, p in zip(criteria, points, strict=True))
    return (
        "Here's the grading table:\n\n| Criteria | Points Earned |\n|---|---|\n"
        f"{rows}| Total Points Earned | {sum(points)} |\n\nExplanation: graded by script."
    )
