#!/usr/bin/env bash
# The one-GPU readiness check (benchmarks/gpu_check.py says what it measures): one command, a few minutes on one
# H100/H200, nothing downloaded. Prints one table and writes it to runs/gpu_check/gpu_check.txt (and .json).
#   bash benchmarks/gpu_check.sh            # on a CUDA machine
#   bash benchmarks/gpu_check.sh --tiny     # the 2-layer offline model on CPU: a smoke run of the script
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}"
# offline: the model is random-init from a shipped config, the tokenizer and data are the project's own
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$PYTHON" -m benchmarks.gpu_check "$@"
