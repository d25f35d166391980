"""Convert a GGUF chat model into a plain Hugging Face directory, once, and check it with a greedy reply.

transformers loads a GGUF file (dequantizing it to fp32) but refuses to `save_pretrained` the result
("quantized with gguf and not serializable"), so the weights move into a plain model built from the same
config: every key must match. The directory then loads with `from_pretrained(dir)` like any hub checkpoint,
without `gguf`.

    python scripts/convert_gguf.py GGUF_FILE OUTPUT_DIR
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

log = logging.getLogger("convert_gguf")

CHECK_PROMPT = "Write one sentence about beekeeping that uses a metaphor."
CHECK_TOKENS = 24


def load_gguf(gguf_file: Path) -> PreTrainedModel:
    """The GGUF model dequantized to fp32 (needs the `gguf` package)."""
    return AutoModelForCausalLM.from_pretrained(
        str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.float32
    )


def plain_copy(model: PreTrainedModel) -> PreTrainedModel:
    """A model built from `model`'s config holding exactly its weights (a strict load: no key left over)."""
    config = model.config
    if hasattr(config, "quantization_config"):  # the GGUF marker that makes save_pretrained refuse
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict(), strict=True)
    return plain


def greedy_reply(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_new_tokens: int = CHECK_TOKENS
) -> list[int]:
    """The token ids of a greedy answer to CHECK_PROMPT (no system turn: the template's default applies)."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": CHECK_PROMPT}], tokenize=False, add_generation_prompt=True
    )
    assert isinstance(text, str)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        output = model.generate(  # type: ignore[operator]  # transformers' annotation
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.eos_token_id,
        )
    return output[0, ids.shape[1] :].tolist()


def convert(gguf_file: Path, output_dir: Path) -> None:
    started = time.perf_counter()
    source = load_gguf(gguf_file)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    plain = plain_copy(source)
    plain.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    expected = greedy_reply(source, tokenizer)
    output_dir.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    log.info("converted %s -> %s in %.1f s", gguf_file.name, output_dir, time.perf_counter() - started)
    verify(output_dir, expected)


def verify(output_dir: Path, expected: list[int] | None = None) -> None:
    """Reload the directory and answer CHECK_PROMPT greedily; equal to the GGUF load's tokens if given."""
    model = AutoModelForCausalLM.from_pretrained(output_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    tokens = greedy_reply(model, tokenizer)
    if expected is not None and tokens != expected:
        raise SystemExit(f"the reloaded model answers {tokens}, the GGUF load {expected}")
    log.info("%s answers: %s", CHECK_PROMPT, tokenizer.decode(tokens, skip_special_tokens=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf_file", type=Path)
    parser.add_argument("output_dir", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    convert(args.gguf_file, args.output_dir)


if __name__ == "__main__":
    main()
