"""A scripted LLM provider on 127.0.0.1 for offline tests (and the grading benchmark).

It speaks the wire formats the official SDKs use: OpenAI Chat Completions, Files and Batches; Anthropic
Messages and Message Batches. Faults are queued and consumed one per request, so a test states exactly
which request fails how. Every request is logged; a counter records the most requests in flight at once.
Optionally it enforces a provider's rate limits (`RateLimits`: token buckets for requests and tokens, 429
past them, OpenAI or Anthropic rate-limit headers or none) with latency drawn from a spread.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Reply = Callable[[dict[str, Any], int], str]
"""(request body, sample index) -> reply text; the sample index is seed offset + choice index."""


def echo_reply(body: dict[str, Any], sample: int) -> str:
    return f"{body['messages'][-1]['content']} #{sample}"


class TokenBucket:
    """`capacity` units refilled continuously at `rate` per second; a request takes its cost or is refused."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.at = time.monotonic()

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + self.rate * (now - self.at))
        self.at = now

    def wait_for(self, cost: float) -> float:
        return max(0.0, min(cost, self.capacity) - self.level) / self.rate

    def seconds_to_full(self) -> float:
        return (self.capacity - self.level) / self.rate


@dataclass
class RateLimits:
    """A provider's rate limits, enforced when a request arrives (as OpenAI does): a request costs 1 from
    the request bucket and its prompt tokens plus `max_tokens` per sample from the token bucket.

    Args:
        requests_per_second: Request budget's refill rate (None: unlimited).
        tokens_per_minute: Token budget's refill rate (None: unlimited).
        burst_seconds: Each bucket holds this many seconds of its rate.
        headers: "openai" (x-ratelimit-* and retry-after-ms), "anthropic" (anthropic-ratelimit-* and
            retry-after), or "none" (a bare 429, as many OpenAI-compatible servers send).
    """

    requests_per_second: float | None = None
    tokens_per_minute: float | None = None
    burst_seconds: float = 1.0
    headers: Literal["openai", "anthropic", "none"] = "openai"

    def buckets(self) -> dict[str, TokenBucket]:
        rates = {"requests": self.requests_per_second, "tokens": (self.tokens_per_minute or 0) / 60 or None}
        return {name: TokenBucket(rate, rate * self.burst_seconds) for name, rate in rates.items() if rate}


@dataclass
class ServerState:
    reply: Reply = echo_reply
    latency: float = 0.0
    latency_spread: tuple[float, float] | None = None
    """(median seconds, sigma): each answer takes a log-normal time instead of `latency`."""
    limits: RateLimits | None = None
    admitted: int = 0
    refused: int = 0
    tokens_charged: float = 0.0
    admissions: list[tuple[float, float, float]] = field(default_factory=list)
    """(monotonic time, requests, tokens) charged by each admitted request."""
    answered: Counter[str] = field(default_factory=Counter)
    """Successful answers per prompt (the last message's content)."""
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    faults: deque[str] = field(default_factory=deque)
    """Consumed one per model request: "429", "500", "529", "hang", "malformed", "no_choices", "401"."""
    reorder_choices: bool = False
    ignore_n: bool = False
    retry_after: str = "0.05"
    base_seed: int = 0
    """Sample index = seed - base_seed + choice index (how the client numbers samples)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_polls_until_done: int = 1
    batch_expire_after: int | None = None
    """Answer only the first N requests of a batch; the rest expire."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    release_hangs: threading.Event = field(default_factory=threading.Event)

    _buckets: dict[str, TokenBucket] | None = None

    def model_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] in ("/v1/chat/completions", "/v1/messages")]

    def admit(self, body: dict[str, Any]) -> tuple[bool, dict[str, str]]:
        """Charge the request to the rate limits (call under `lock`): admitted?, and the headers to send."""
        if self.limits is None:
            return True, {}
        if self._buckets is None:
            self._buckets = self.limits.buckets()
        out = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        prompt = sum(len(m["content"]) // 4 + 4 for m in body["messages"])
        costs = {"requests": 1.0, "tokens": float(prompt + out * body.get("n", 1))}
        now = time.monotonic()
        for bucket in self._buckets.values():
            bucket.refill(now)
        wait = max(bucket.wait_for(costs[name]) for name, bucket in self._buckets.items())
        admitted = wait <= 0
        if admitted:
            for name, bucket in self._buckets.items():
                bucket.level -= costs[name]
            self.admitted += 1
            self.tokens_charged += costs["tokens"]
            self.admissions.append((now, costs["requests"], costs["tokens"]))
        else:
            self.refused += 1
        return admitted, self._headers(wait)

    def _headers(self, wait: float) -> dict[str, str]:
        assert self.limits is not None and self._buckets is not None
        style = self.limits.headers
        headers: dict[str, str] = {}
        if style == "none":
            return headers
        for name, bucket in self._buckets.items():
            limit, remaining = str(int(bucket.capacity)), str(max(0, int(bucket.level)))
            if style == "openai":
                headers |= {
                    f"x-ratelimit-limit-{name}": limit,
                    f"x-ratelimit-remaining-{name}": remaining,
                    f"x-ratelimit-reset-{name}": f"{bucket.seconds_to_full():.3f}s",
                }
            else:
                full = datetime.fromtimestamp(time.time() + bucket.seconds_to_full(), timezone.utc)
                headers |= {
                    f"anthropic-ratelimit-{name}-limit": limit,
                    f"anthropic-ratelimit-{name}-remaining": remaining,
                    f"anthropic-ratelimit-{name}-reset": full.isoformat(timespec="milliseconds"),
                }
        if wait > 0:
            headers["retry-after"] = str(math.ceil(wait))
            if style == "openai":
                headers["retry-after-ms"] = str(math.ceil(wait * 1000))
        return headers


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def state(self) -> ServerState:
        return self.server.state

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        self._record(raw)
        if self.path == "/v1/files":
            self._upload_file(raw)
        elif self.path == "/v1/batches":
            self._openai_batch_create(json.loads(raw))
        elif self.path == "/v1/messages/batches":
            self._anthropic_batch_create(json.loads(raw))
        else:
            self._model_request(json.loads(raw))

    def do_GET(self) -> None:
        self._record(b"")
        parts = self.path.strip("/").split("/")
        if parts[:2] == ["v1", "batches"]:
            self._send_json(200, self._poll(parts[2], anthropic=False))
        elif parts[:3] == ["v1", "messages", "batches"] and len(parts) == 4:
            self._send_json(200, self._poll(parts[3], anthropic=True))
        elif parts[:3] == ["v1", "messages", "batches"] and parts[-1] == "results":
            self._send(200, self.state.files[f"results-{parts[3]}"], "application/binary")
        elif parts[:2] == ["v1", "files"] and parts[-1] == "content":
            self._send(200, self.state.files[parts[2]], "application/binary")
        elif parts == ["v1", "models"]:  # what a model server's health check asks
            self._send_json(200, {"object": "list", "data": []})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def _record(self, raw: bytes) -> None:
        with self.state.lock:
            self.state.requests.append(
                {
                    "path": self.path,
                    "method": self.command,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "raw": raw,
                }
            )

    def _model_request(self, body: dict[str, Any]) -> None:
        state = self.state
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            fault = state.faults.popleft() if state.faults else None
            admitted, headers = state.admit(body) if fault is None else (True, {})
            if state.latency_spread is not None:
                median, sigma = state.latency_spread
                latency = state.rng.lognormvariate(math.log(median), sigma)
            else:
                latency = state.latency
        try:
            if not admitted:
                self._send_json(
                    429, {"error": {"message": "Rate limit reached", "type": "requests"}}, headers
                )
                return
            if latency:
                time.sleep(latency)
            self._answer(body, fault, headers)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _answer(self, body: dict[str, Any], fault: str | None, headers: dict[str, str]) -> None:
        if fault == "429":
            self._send_json(
                429, {"error": {"message": "Rate limit reached"}}, {"retry-after": self.state.retry_after}
            )
        elif fault in ("500", "529"):
            self._send_json(int(fault), {"error": {"message": "The server had an error"}})
        elif fault == "401":
            key = self.headers.get("authorization", "") or self.headers.get("x-api-key", "")
            self._send_json(401, {"error": {"message": f"Incorrect API key provided: {key}"}})
        elif fault == "hang":
            self.state.release_hangs.wait(timeout=10)
            self._send_json(200, self._completion(body))
        elif fault == "malformed":
            self._send(200, b'{"choices": [{"index": 0, "message": {"content": "trunc', "application/json")
        elif fault == "no_choices":
            self._send_json(200, {"id": "x", "object": "chat.completion", "choices": []})
        else:
            with self.state.lock:
                self.state.answered[body["messages"][-1]["content"]] += 1
            answer = self._message(body) if self.path == "/v1/messages" else self._completion(body)
            self._send_json(200, answer, headers)

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        n = 1 if self.state.ignore_n else body.get("n", 1)
        first = body.get("seed", self.state.base_seed) - self.state.base_seed
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": self.state.reply(body, first + i)},
                "finish_reason": "stop",
            }
            for i in range(n)
        ]
        if self.state.reorder_choices:
            choices.reverse()
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"] + "-served",
            "choices": choices,
            "usage": _usage(body["messages"], [c["message"]["content"] for c in choices], openai=True),
        }

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.state.reply(body, 0)
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": _usage(body["messages"], [text], openai=False),
        }

    def _upload_file(self, raw: bytes) -> None:
        boundary = self.headers["content-type"].split("boundary=")[1].encode()
        content = next(
            part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
            for part in raw.split(b"--" + boundary)
            if b'name="file"' in part
        )
        file_id = f"file-{len(self.state.files)}"
        self.state.files[file_id] = content
        self._send_json(
            200,
            {"id": file_id, "object": "file", "bytes": len(content), "created_at": 0, "filename": "in.jsonl",
             "purpose": "batch", "status": "processed"},
        )  # fmt: skip

    def _openai_batch_create(self, body: dict[str, Any]) -> None:
        lines = [json.loads(line) for line in self.state.files[body["input_file_id"]].splitlines()]
        batch_id = f"batch_{len(self.state.batches)}"
        self.state.batches[batch_id] = {"lines": lines, "polls": 0, "anthropic": False}
        self._send_json(200, self._openai_batch(batch_id, "validating"))

    def _anthropic_batch_create(self, body: dict[str, Any]) -> None:
        batch_id = f"msgbatch_{len(self.state.batches)}"
        lines = [{"custom_id": r["custom_id"], "body": r["params"]} for r in body["requests"]]
        self.state.batches[batch_id] = {"lines": lines, "polls": 0, "anthropic": True}
        self._send_json(200, self._anthropic_batch(batch_id, ended=False))

    def _poll(self, batch_id: str, *, anthropic: bool) -> dict[str, Any]:
        batch = self.state.batches[batch_id]
        batch["polls"] += 1
        done = batch["polls"] >= self.state.batch_polls_until_done
        if done and "finished" not in batch:
            self._finish_batch(batch_id, batch)
        if anthropic:
            return self._anthropic_batch(batch_id, ended=done)
        status = (
            ("expired" if self.state.batch_expire_after is not None else "completed")
            if done
            else "in_progress"
        )
        return self._openai_batch(batch_id, status)

    def _finish_batch(self, batch_id: str, batch: dict[str, Any]) -> None:
        answered = batch["lines"][: self.state.batch_expire_after]
        expired = batch["lines"][len(answered) :]
        if batch["anthropic"]:
            results = [
                {
                    "custom_id": line["custom_id"],
                    "result": {"type": "succeeded", "message": self._message(line["body"])},
                }
                for line in answered
            ] + [{"custom_id": line["custom_id"], "result": {"type": "expired"}} for line in expired]
            self.state.files[f"results-{batch_id}"] = _jsonl(reversed(results))
        else:
            output = [
                {"id": "r", "custom_id": line["custom_id"], "error": None,
                 "response": {"status_code": 200, "request_id": "q", "body": self._completion(line["body"])}}
                for line in answered
            ]  # fmt: skip
            errors = [
                {"id": "r", "custom_id": line["custom_id"], "response": None,
                 "error": {"code": "batch_expired", "message": "not executed before the window expired"}}
                for line in expired
            ]  # fmt: skip
            self.state.files[f"out-{batch_id}"] = _jsonl(reversed(output))
            self.state.files[f"err-{batch_id}"] = _jsonl(errors)
        batch["finished"] = True

    def _openai_batch(self, batch_id: str, status: str) -> dict[str, Any]:
        done = status in ("completed", "expired")
        return {
            "id": batch_id, "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file-0",
            "completion_window": "24h", "status": status, "created_at": 0,
            "output_file_id": f"out-{batch_id}" if done else None,
            "error_file_id": f"err-{batch_id}" if done and status == "expired" else None,
        }  # fmt: skip

    def _anthropic_batch(self, batch_id: str, *, ended: bool) -> dict[str, Any]:
        host = f"http://127.0.0.1:{self.server.server_port}"
        return {
            "id": batch_id, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
            "request_counts": {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "created_at": "2024-01-01T00:00:00Z", "expires_at": "2024-01-02T00:00:00Z",
            "ended_at": "2024-01-01T01:00:00Z" if ended else None,
            "results_url": f"{host}/v1/messages/batches/{batch_id}/results" if ended else None,
        }  # fmt: skip

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _usage(messages: list[dict[str, str]], replies: list[str], *, openai: bool) -> dict[str, int]:
    """Plausible token counts: ~4 characters per token plus a few per message."""
    prompt = sum(len(m["content"]) // 4 + 4 for m in messages)
    completion = sum(len(r) // 4 + 1 for r in replies)
    if openai:
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {"input_tokens": prompt, "output_tokens": completion}


def _jsonl(rows: Any) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connect at once

    def __init__(self, state: ServerState, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


class ScriptedLLMServer:
    """Run with `with ScriptedLLMServer() as server:`; `server.state` scripts and observes it."""

    def __init__(self, state: ServerState | None = None, port: int = 0) -> None:
        self.state = state or ServerState()
        self._server = _Server(self.state, port)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> ScriptedLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.release_hangs.set()
        self._server.shutdown()
        self._server.server_close()
