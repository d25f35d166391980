"""Grading in a worker thread on rank 0 while training goes on (`grading_mode: background`).

One worker thread grades one checkpoint at a time, in the order they were generated, with an event loop of
its own (`asyncio.run` inside `grade_checkpoint`), so the training loop never waits on the grader's network
calls. Its results are handed back to the training thread, which logs them (loggers are not thread-safe):
`finished()` between steps, `wait_all()` at the end of `fit`. At most `max_pending` checkpoints wait for or
are in grading; submitting one more first waits for the oldest, and says so.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from skillmix.errors import InputError

log = logging.getLogger(__name__)

Metrics = dict[str, Any]


class BackgroundGrading:
    """A bounded queue of checkpoint gradings, done one at a time by a single worker thread."""

    def __init__(self, max_pending: int) -> None:
        if max_pending < 1:
            raise InputError(f"max_pending_gradings must be at least 1, got {max_pending}")
        self.max_pending = max_pending
        self.pending: deque[tuple[int, Future[Metrics]]] = deque()
        self.blocked_seconds = 0.0
        """Time the training thread spent waiting for grading (a full queue, or the end of `fit`)."""
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, step: int, grade: Callable[[], Metrics]) -> list[tuple[int, Metrics]]:
        """Queue `grade` for `step`; returns what finished meanwhile (waiting first if the queue is full)."""
        finished = self.finished()
        while len(self.pending) >= self.max_pending:
            oldest = self.pending[0][0]
            log.info(
                "SKILL-MIX: %d checkpoint(s) wait for grading (max_pending_gradings=%d); step %d waits "
                "for step %d's grading to finish",
                len(self.pending),
                self.max_pending,
                step,
                oldest,
            )
            finished.append(self._take_oldest())
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skillmix-grading")
        self.pending.append((step, self._executor.submit(grade)))
        return finished

    def finished(self) -> list[tuple[int, Metrics]]:
        """Gradings done so far, oldest first (an error in one is raised here, in the caller's thread)."""
        done = []
        while self.pending and self.pending[0][1].done():
            done.append(self._take_oldest())
        return done

    def wait_all(self) -> list[tuple[int, Metrics]]:
        """Every remaining grading, waited for with a progress line per checkpoint."""
        done = []
        while self.pending:
            log.info(
                "SKILL-MIX: finishing the grading of %d checkpoint(s) (step %s)",
                len(self.pending),
                ", ".join(str(step) for step, _ in self.pending),
            )
            done.append(self._take_oldest())
        return done

    def close(self) -> None:
        """Let the grading in progress finish (it writes as it goes); drop the queued ones."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self.pending.clear()

    def _take_oldest(self) -> tuple[int, Metrics]:
        step, future = self.pending[0]
        start = time.perf_counter()
        try:
            return step, future.result()
        finally:
            self.blocked_seconds += time.perf_counter() - start
            self.pending.popleft()
