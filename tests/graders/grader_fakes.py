"""Small test doubles shared by the graders tests: fake keys, an instant clock, a key scanner."""

from __future__ import annotations

from pathlib import Path

import pytest

FAKE_OPENAI_KEY = "sk-test-0penai-SECRET-4f9a2c"
FAKE_ANTHROPIC_KEY = "sk-ant-test-SECRET-77b1e0"
REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "skillmix-reference"
requires_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"the SKILL-MIX reference material is not at {REFERENCE}"
)


class InstantClock:
    """`sleep` that returns at once and advances `now` by the time asked for, so backoff is testable."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under `root` whose bytes contain `needle` (for the "keys are never written" checks)."""
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]
