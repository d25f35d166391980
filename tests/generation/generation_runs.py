"""Running `generate` in-process against the scripted server, and reading back what it wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scripted_models import fate_of

from datamodules.generation.command import generate
from graders.settings import ClientSettings

SCRIPTED_MODEL = "scripted-teacher"


def scripted_client(url: str, cache: Path, **overrides: Any) -> ClientSettings:
    settings: dict[str, Any] = {
        "provider": "openai-compatible",
        "model": SCRIPTED_MODEL,
        "base_url": f"{url}/v1",
        "cache": cache,
        "concurrency": 4,
        "timeout": 20.0,
        "max_attempts": 1,
    }
    return ClientSettings(**(settings | overrides))


def run_generate(url: str, output_dir: Path, cache: Path, **options: Any) -> None:
    """D(1) for 18 combinations with the scripted model as teacher and grader (seeded, so that every
    request body is distinct)."""
    client = scripted_client(url, cache, **options.pop("client", {}))
    arguments: dict[str, Any] = {
        "k": 1,
        "n": 18,
        "seed": 2,  # every fate at least once and the duplicate three times, with the packaged catalog
        "output_dir": output_dir,
        "teacher": client,
        "grader": client,
    }
    generate(**(arguments | options))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def expected_fate(record: dict[str, Any]) -> str:
    return fate_of(record["messages"][0]["content"])
