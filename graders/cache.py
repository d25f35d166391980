"""On-disk response cache: one SQLite file (WAL mode) that several processes may share.

One entry per sample, keyed on everything that decides what the model was asked: provider, model, base
URL, the full messages, sampling parameters, prompt-template version and the sample index (so three
grading rounds are three entries). Entries are written as each response arrives, errors never, so a
re-run of the same evaluation makes zero calls and an interrupted one loses nothing it already paid for.
Batch API jobs are tracked in the same file, so their results fill the same entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from graders.interface import Message, SamplingParams, Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    served_by TEXT NOT NULL,
    via_batch INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_jobs (
    batch_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    base_url TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_entries (
    batch_id TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    keys TEXT NOT NULL,
    PRIMARY KEY (batch_id, custom_id)
);
"""


class CacheMode(str, Enum):
    USE = "use"
    """Read hits, write new responses."""
    REFRESH = "refresh"
    """Ignore existing entries, call the provider, overwrite them."""
    OFF = "off"
    """Neither read nor write."""


def default_cache_path() -> Path:
    """`$SKILLMIX_CACHE_DIR/responses.sqlite`, else under `$XDG_CACHE_HOME` (or ~/.cache)."""
    root = os.environ.get("SKILLMIX_CACHE_DIR")
    if root:
        return Path(root) / "responses.sqlite"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "skillmix-lightning" / "responses.sqlite"


def cache_key(
    *,
    provider: str,
    model: str,
    base_url: str,
    messages: Sequence[Message],
    params: SamplingParams,
    template_version: str,
    sample_index: int,
    draw: str = "",
) -> str:
    """A sha256 hex digest of the canonical JSON of everything that decides the response.

    `draw` names which independent draw of the same prompt this is (a grading's generation), so that two
    generations with the same text get their own gradings; empty, it is left out and older keys stay valid.
    """
    identity: dict[str, object] = {
        "provider": provider,
        "model": model,
        "base_url": base_url.rstrip("/"),
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "params": params.to_dict(),
        "template_version": template_version,
        "sample_index": sample_index,
    }
    if draw:
        identity["draw"] = draw
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    text: str
    usage: Usage
    served_by: str
    """The model id the provider reported."""
    via_batch: bool


@dataclass(frozen=True)
class BatchJob:
    batch_id: str
    provider: str
    model: str
    base_url: str
    status: str
    entries: Mapping[str, tuple[str, ...]]
    """custom_id -> the cache keys of the samples that request produces, in order."""


class ResponseCache:
    """A connection to the cache file. Safe for concurrent processes (WAL + busy timeout); one
    instance per process and event loop."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def get(self, key: str) -> CachedResponse | None:
        row = self._db.execute(
            "SELECT text, input_tokens, output_tokens, served_by, via_batch FROM responses WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return CachedResponse(row[0], Usage(row[1], row[2]), row[3], bool(row[4]))

    def put(self, key: str, response: CachedResponse, *, provider: str, model: str) -> None:
        self.put_many([(key, response)], provider=provider, model=model)

    def put_many(self, entries: Iterable[tuple[str, CachedResponse]], *, provider: str, model: str) -> None:
        """Write entries in one transaction (committed before returning)."""
        rows = [
            (
                key,
                provider,
                model,
                r.text,
                r.usage.input_tokens,
                r.usage.output_tokens,
                r.served_by,
                int(r.via_batch),
                time.time(),
            )
            for key, r in entries
        ]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def add_batch_job(self, job: BatchJob) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO batch_jobs VALUES (?, ?, ?, ?, ?, ?)",
                (job.batch_id, job.provider, job.model, job.base_url, job.status, time.time()),
            )
            self._db.executemany(
                "INSERT INTO batch_entries VALUES (?, ?, ?)",
                [(job.batch_id, cid, json.dumps(list(keys))) for cid, keys in job.entries.items()],
            )

    def open_batch_jobs(self, *, provider: str, model: str, base_url: str) -> list[BatchJob]:
        """Submitted jobs for this provider/model/endpoint whose results are not ingested yet."""
        rows = self._db.execute(
            "SELECT batch_id, status FROM batch_jobs WHERE provider = ? AND model = ? AND base_url = ? "
            "AND status = 'submitted' ORDER BY created_at",
            (provider, model, base_url.rstrip("/")),
        ).fetchall()
        jobs = []
        for batch_id, status in rows:
            entries = {
                cid: tuple(json.loads(keys))
                for cid, keys in self._db.execute(
                    "SELECT custom_id, keys FROM batch_entries WHERE batch_id = ?", (batch_id,)
                )
            }
            jobs.append(BatchJob(batch_id, provider, model, base_url, status, entries))
        return jobs

    def set_batch_status(self, batch_id: str, status: str) -> None:
        with self._db:
            self._db.execute("UPDATE batch_jobs SET status = ? WHERE batch_id = ?", (status, batch_id))

    def close(self) -> None:
        self._db.close()
