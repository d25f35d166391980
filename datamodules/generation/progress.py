"""A live line for a generation run: combinations done, kept, rejected, calls made and spend so far."""

from __future__ import annotations

from graders.progress import StatusLine


class GenerationProgress(StatusLine):
    """Use as a context manager; call `show` whenever a combination finishes."""

    def show(self, done: int, kept: int, rejected: int, calls: int, spent: str, in_flight: str = "") -> None:
        flight = f" | in flight {in_flight}" if in_flight else ""
        self.update(done, f"kept {kept} | rejected {rejected} | calls {calls}{flight} | spent {spent}")
