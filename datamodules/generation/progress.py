"""A live line for a generation run: combinations done, kept, rejected, calls made and spend so far."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class GenerationProgress:
    """Use as a context manager; call `show` whenever a combination finishes."""

    def __init__(self, description: str, total: int, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._task = self._progress.add_task(description, total=total, status="")

    def __enter__(self) -> GenerationProgress:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def show(self, done: int, kept: int, rejected: int, calls: int, spent: str) -> None:
        status = f"kept {kept} | rejected {rejected} | calls {calls} | spent {spent}"
        self._progress.update(self._task, completed=done, status=status)
