"""A grader on 127.0.0.1 for the evaluation tests: the graders' scripted server, replying with rubric tables.

Points are a deterministic function of the graded prompt and the grading round, so different answers get
different scores and a re-run gets the same ones. Every answered request is logged (`answered`), so tests
can assert that none was answered twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any

from tests.graders.llm_servers import ScriptedLLMServer, ServerState

_CRITERIA = re.compile(r"The criteria are: (?P<items>.*?)\. The table should only have", re.DOTALL)
_ITEM_START = re.compile(r", (?=Correctly illustrates |Pertains to |Text makes sense|At most )")


def rubric_reply(prompt: str, sample: int) -> str:
    match = _CRITERIA.search(prompt)
    assert match is not None, "not a SKILL-MIX grading prompt"
    rows = []
    for index, criterion in enumerate(_ITEM_START.split(match["items"])):
        digest = hashlib.sha256(f"{prompt}/{sample}/{index}".encode()).digest()
        rows.append((criterion, int(digest[0] < 210)))
    table = "\n".join(f"| {criterion} | {point} |" for criterion, point in rows)
    return (
        "Here's the grading table:\n\n| Criteria | Points Earned |\n|---|---|\n"
        f"{table}\n| Total Points Earned | {sum(p for _, p in rows)} |\n\nExplanation: scripted."
    )


class RubricServer(ScriptedLLMServer):
    def __init__(self) -> None:
        self.answered: list[str] = []
        self._lock = threading.Lock()
        super().__init__(ServerState(reply=self._reply))

    def _reply(self, body: dict[str, Any], sample: int) -> str:
        with self._lock:
            self.answered.append(json.dumps([body["messages"], sample]))
        return rubric_reply(body["messages"][-1]["content"], sample)

    def die_after(self, answered: int) -> None:
        """Answer the next `answered` requests, then fail every later one (HTTP 500)."""
        self.state.faults.extend(["ok"] * answered + ["500"] * 10_000)

    def restart(self) -> None:
        self.state.faults.clear()
