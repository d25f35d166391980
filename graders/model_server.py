"""A model server started from a command template (vLLM, SGLang, `transformers serve`, ...) for as long as a
`with` block needs it: a free port, its output in a log file, a health check, and a stop that leaves no
process behind.

    with ModelServer("vllm serve {model} --port {port}", "exports/step400", log_path, name="step400") as s:
        ...  # an openai-compatible client at s.base_url, model id s.model

`{model}` is replaced by the model, `{port}` by a free port on `host`, `{host}` by the host. The template is
split like a shell line and run without a shell (leading `NAME=value` words go into its environment, so
`CUDA_VISIBLE_DEVICES=0 vllm serve ...` works), in its own process group: stopping it signals the whole
group, so servers that fork engine workers leave none behind. On Linux the server also gets SIGTERM when
the process that started it dies, even by `kill -9`, so a killed evaluation does not leave a model holding
the GPU.
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from skillmix.errors import InputError

_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

HEALTH_PATH = "/v1/models"
"""Answered with 200 by vLLM, SGLang and `transformers serve` once the model is loaded."""


class ServerFailedError(InputError, RuntimeError):
    """The server did not become healthy, or exited while needed; the message holds its last log lines."""


class ModelServer:
    """One server process for one model, started on `__enter__` and stopped (terminate, then kill) on exit.

    Args:
        template: The command, with `{model}` and `{port}` (and optionally `{host}`) in it.
        model: What `{model}` becomes (a model folder or id); also the model id requests name.
        log_path: File that receives the server's stdout and stderr (appended to).
        name: What the server is for (e.g. a checkpoint), named in every error.
        host: Interface the server must listen on; requests go there.
        startup_timeout: Seconds the server may take to answer the health check.
        stop_timeout: Seconds between the terminate signal and the kill.
    """

    def __init__(
        self,
        template: str,
        model: str,
        log_path: Path,
        *,
        name: str,
        host: str = "127.0.0.1",
        startup_timeout: float = 600.0,
        stop_timeout: float = 30.0,
    ) -> None:
        check_template(template)
        self.template = template
        self.model = model
        self.log_path = log_path
        self.name = name
        self.host = host
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def command(self) -> str:
        return shlex.join(self.argv())

    def argv(self) -> list[str]:
        """The template's words with the fields filled in (a word may hold a field: --model-path={model})."""
        fields = {"{model}": self.model, "{host}": self.host, "{port}": str(self.port)}
        words = shlex.split(self.template)
        for name, value in fields.items():
            words = [word.replace(name, value) for word in words]
        return words

    def environment(self) -> tuple[dict[str, str], list[str]]:
        """This process's environment plus the template's leading NAME=value words, and the command."""
        words = self.argv()
        env = dict(os.environ)
        while words and _ASSIGNMENT.fullmatch(words[0]):
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        if not words:
            raise InputError(f"the serve command {self.template!r} runs nothing")
        return env, words

    def __enter__(self) -> ModelServer:
        self.port = free_port(self.host)
        env, command = self.environment()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"$ {self.command}\n".encode())
            log.flush()
            try:
                self.process = subprocess.Popen(
                    command,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as error:  # not installed, not executable
                raise self.failure(f"the server could not be started: {error}") from None
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def exit_code(self) -> int | None:
        """None while the server runs."""
        assert self.process is not None, "the server was not started"
        return self.process.poll()

    def failure(self, what: str) -> ServerFailedError:
        """An error about this server: what went wrong, its command and the last lines of its log."""
        return ServerFailedError(
            f"{self.name}: {what}.\n  command: {self.command}\n  log: {self.log_path}, last lines:\n"
            + "\n".join(f"    {line}" for line in self.log_tail())
        )

    def log_tail(self, lines: int = 20) -> list[str]:
        if not self.log_path.is_file():
            return []
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]

    def stop(self) -> None:
        """Terminate the server's process group, then kill it if it has not exited after `stop_timeout`."""
        if self.process is None or (self.process.poll() is not None and not _group_alive(self.process.pid)):
            return
        for sent, wait in ((signal.SIGTERM, self.stop_timeout), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.process.pid, sent)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            if not _group_alive(self.process.pid):
                break

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = f"http://{self.host}:{self.port}{HEALTH_PATH}"
        while True:
            code = self.exit_code()
            if code is not None:
                raise self.failure(f"the server exited with code {code} before it was healthy")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening (or not ready) yet
            if time.monotonic() > deadline:
                raise self.failure(
                    f"the server did not answer GET {HEALTH_PATH} within {self.startup_timeout:g} s "
                    "(raise --serve_timeout for a large model)"
                )
            time.sleep(0.5)


def check_template(template: str) -> None:
    """A serve command must say where the model goes and which port to listen on."""
    missing = [field for field in ("{model}", "{port}") if field not in template]
    if missing:
        raise InputError(
            f"the serve command {template!r} has no {' and no '.join(missing)}. Fix: write the command "
            'with both, e.g. "vllm serve {model} --port {port}"'
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: ask Linux for SIGTERM when the parent dies (it outlasts the exec)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
