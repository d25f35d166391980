"""A live progress line for long runs: done / in flight / retried / failed, and spend so far."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from graders.accounting import RunStats


class RichProgress:
    """Renders `RunStats` on stderr; use as a context manager around a run and call `show` on changes."""

    def __init__(self, description: str, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._task = self._progress.add_task(description, total=None, status="")

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def show(self, stats: RunStats) -> None:
        status = (
            f"in flight {stats.calls_in_flight} | cached {stats.samples_cached} | "
            f"retried {sum(stats.retries.values())} | failed {stats.samples_failed} | "
            f"spent {stats.cost_text()}"
        )
        self._progress.update(
            self._task, total=stats.samples_requested, completed=stats.samples_done, status=status
        )
