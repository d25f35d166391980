"""A student on 127.0.0.1 for `cli.py evaluate` tests: the graders' scripted server answering SKILL-MIX turns.

An answer is a deterministic function of the whole conversation and the requested seed, so re-runs get the
same answers and the generation rounds (samples 0, 1, 2 of one prompt) differ. Every answered request is
logged (`answered`), so tests can assert that none was answered twice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import threading
from typing import Any

from tests.graders.llm_servers import ScriptedLLMServer, ServerState


def student_reply(body: dict[str, Any], sample: int) -> str:
    digest = hashlib.sha256(json.dumps([body["messages"], sample]).encode()).hexdigest()[:10]
    turn = sum(m["role"] == "user" for m in body["messages"])
    return f"Answer {turn}-{digest}: the bees, like a red herring, hum."


class StudentServer(ScriptedLLMServer):
    def __init__(self, port: int = 0, exit_after: int | None = None) -> None:
        self.answered: list[str] = []
        self.exit_after = exit_after
        self._lock = threading.Lock()
        super().__init__(ServerState(reply=self._reply), port)

    def _reply(self, body: dict[str, Any], sample: int) -> str:
        with self._lock:
            if self.exit_after is not None and len(self.answered) >= self.exit_after:
                print(f"answered {self.exit_after} requests: exiting", flush=True)
                os._exit(1)  # a crashed server: no answer, no clean shutdown
            self.answered.append(json.dumps([body["messages"], sample]))
        return student_reply(body, sample)

    def die_after(self, answered: int) -> None:
        """Answer the next `answered` requests, then fail every later one (HTTP 500)."""
        self.state.faults.extend(["ok"] * answered + ["500"] * 10_000)

    def restart(self) -> None:
        self.state.faults.clear()


def main() -> None:
    """`python -m tests.evaluation.student_server --model M --port P [--exit_after N]`: a model server in
    its own process for `evaluate --serve` (any model id) that crashes (exit 1) at request N + 1."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--exit_after", type=int)
    args = parser.parse_args()
    with StudentServer(args.port, args.exit_after):
        threading.Event().wait()


if __name__ == "__main__":
    main()
