"""Live progress lines for long runs: a bar plus a free-text status (done / in flight / retried / failed,
spend so far), on stderr so that stdout stays clean for JSON output."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from graders.accounting import RunStats

_Line = TypeVar("_Line", bound="StatusLine")


class StatusLine:
    """A progress bar with a status column; use as a context manager and call `update` on changes."""

    def __init__(self, description: str, total: int | None = None, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._task = self._progress.add_task(description, total=total, status="")

    def __enter__(self: _Line) -> _Line:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def update(self, completed: int, status: str, total: int | None = None) -> None:
        if total is None:
            self._progress.update(self._task, completed=completed, status=status)
        else:
            self._progress.update(self._task, completed=completed, status=status, total=total)


class RichProgress(StatusLine):
    """Renders a model client's `RunStats`."""

    def show(self, stats: RunStats) -> None:
        level = f"/{stats.rate.level}" if stats.rate is not None and stats.rate.adaptive else ""
        status = (
            f"in flight {stats.calls_in_flight}{level} | cached {stats.samples_cached} | "
            f"retried {sum(stats.retries.values())} | failed {stats.samples_failed} | "
            f"spent {stats.cost_text()}"
        )
        self.update(stats.samples_done, status, total=stats.samples_requested)
