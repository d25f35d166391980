"""Runs `cli.py` on two CPU processes (gloo) with the model sharded by FSDP2, for the distributed tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TWO_FSDP2_PROCESSES = (
    "--trainer.devices", "2",
    "--trainer.strategy", "lightning.pytorch.strategies.ModelParallelStrategy",
    "--trainer.strategy.data_parallel_size", "2",
    "--trainer.strategy.tensor_parallel_size", "1",
)  # fmt: skip


def run_cli_on_two_processes(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`python cli.py ARGS...` on 2 ranks; fails the test with the end of stderr if it exits non-zero."""
    command = [sys.executable, "cli.py", *args, *TWO_FSDP2_PROCESSES]
    # one thread per rank: two ranks on two cores, no oversubscription
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-4000:]
    return run
