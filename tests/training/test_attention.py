"""Attention kernels: left-padded batched generation agrees with one prompt at a time and stays finite."""

from __future__ import annotations

import torch
from lightning.pytorch import seed_everything
from transformers import AutoTokenizer

from lightning_modules.attention import generation_attention
from lightning_modules.hf_model import load_causal_lm
from lightning_modules.skillmix_eval.generation import BatchGenerator, StudentSampling

PROMPTS = [
    "Write about the harbour.",
    "Explain the metaphor in two sentences and keep the text on the topic of gulls at dawn, please.",
    "Improve it.",
]


def test_generation_chooses_kernels_that_zero_fully_masked_rows():
    with generation_attention():
        assert torch.backends.cuda.mem_efficient_sdp_enabled() and torch.backends.cuda.math_sdp_enabled()
        assert not torch.backends.cuda.cudnn_sdp_enabled() and not torch.backends.cuda.flash_sdp_enabled()
    assert torch.backends.cuda.cudnn_sdp_enabled()  # restored afterwards


def test_left_padded_greedy_generation_equals_one_prompt_at_a_time(tiny_model_dir):
    seed_everything(0)
    model = load_causal_lm(str(tiny_model_dir), random_init=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    generator = BatchGenerator(model, tokenizer, StudentSampling(temperature=0.0, max_new_tokens=12))
    conversations = [[{"role": "user", "content": prompt}] for prompt in PROMPTS]

    batched = generator.reply(conversations, seed=0)
    alone = [generator.reply([conversation], seed=0)[0] for conversation in conversations]
    assert batched == alone
    assert all(batched)  # real answers, not rows that stopped at once

    texts = [
        tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations
    ]
    encoded = tokenizer(
        texts, add_special_tokens=False, padding=True, padding_side="left", return_tensors="pt"
    )
    assert (encoded["attention_mask"] == 0).any()  # the pad rows are fully masked
    with torch.no_grad(), generation_attention():
        logits = model(**encoded).logits
    assert torch.isfinite(logits).all()
