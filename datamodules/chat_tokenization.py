"""Render two-turn examples with the model's chat template and mark the answer tokens as labels.

The answers are located in characters, not guessed in tokens: the template renders the conversation cut
after each turn, and since every cut must be a prefix of the whole rendering, the text between "prompt up
to the assistant header" and "conversation up to the end of that answer" is exactly the answer plus its
end-of-turn marker. One tokenizer call on the whole text (so ids equal what the model sees at inference)
returns character offsets, and a token is a target when it overlaps an answer span. Whitespace that a
template writes after the end-of-turn token (ChatML's newline) is not a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from transformers import PreTrainedTokenizerBase

from skillmix.errors import InputError

IGNORE_INDEX = -100
Truncation = Literal["drop", "right"]


class ChatTemplateError(InputError):
    """The tokenizer's chat template cannot render training examples with exact answer spans."""


def render(
    tokenizer: PreTrainedTokenizerBase,
    messages: Sequence[dict[str, str]],
    add_generation_prompt: bool = False,
) -> str:
    text = tokenizer.apply_chat_template(
        list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
    )
    assert isinstance(text, str)
    return text


def answer_spans(
    tokenizer: PreTrainedTokenizerBase, messages: Sequence[dict[str, str]]
) -> tuple[str, list[range]]:
    """The rendered conversation and the character range of each assistant turn (answer + end of turn)."""
    text = render(tokenizer, messages)
    spans = []
    for position, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(tokenizer, messages[:position], add_generation_prompt=True)
        through_answer = render(tokenizer, messages[: position + 1])
        if not (
            text.startswith(prompt) and text.startswith(through_answer) and len(prompt) < len(through_answer)
        ):
            raise ChatTemplateError(
                "the chat template does not render a conversation cut after a turn as a prefix of the whole "
                "conversation, so answer tokens cannot be located. Fix: pass a prefix-stable template via "
                "`data.chat_template`"
            )
        spans.append(range(len(prompt), len(through_answer.rstrip())))
    return text, spans


def with_system_turn(messages: Sequence[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    """The conversation with `system_prompt` as its first turn when it has no system turn of its own.

    None leaves it as stored, so a template that writes a default system turn for a conversation without
    one (SmolLM2's ChatML does) still decides; a string states the system turn instead of leaving it implicit.
    """
    if system_prompt is None or (messages and messages[0]["role"] == "system"):
        return list(messages)
    return [{"role": "system", "content": system_prompt}, *messages]


def mask_labels(
    input_ids: Sequence[int], offsets: Sequence[tuple[int, int]], spans: Sequence[range]
) -> list[int]:
    """Labels equal to the ids on tokens that overlap an answer span, IGNORE_INDEX elsewhere."""
    labels = [IGNORE_INDEX] * len(input_ids)
    for index, (start, end) in enumerate(offsets):
        if any(start < span.stop and end > span.start for span in spans):
            labels[index] = input_ids[index]
    return labels


def count_targets(labels: Sequence[int]) -> int:
    """Tokens that carry loss after the causal shift (position 0 is never predicted)."""
    return sum(label != IGNORE_INDEX for label in labels[1:])


class ChatExampleTokenizer:
    """`datasets.map` function (batched): messages -> input_ids, labels, and how the length cap applied."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        truncation: Truncation,
        system_prompt: str | None = None,
    ) -> None:
        if not tokenizer.is_fast:
            raise ChatTemplateError(
                f"{tokenizer.name_or_path}: a fast tokenizer is needed for character offsets"
            )
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.truncation = truncation
        self.system_prompt = system_prompt

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rendered = [
            answer_spans(self.tokenizer, with_system_turn(messages, self.system_prompt))
            for messages in batch["messages"]
        ]
        encoded = self.tokenizer(
            [text for text, _ in rendered], add_special_tokens=False, return_offsets_mapping=True
        )
        columns: dict[str, list[Any]] = {"input_ids": [], "labels": [], "num_targets": [], "length": []}
        columns |= {"over_length": [], "dropped": []}
        for input_ids, offsets, (_, spans) in zip(
            encoded["input_ids"], encoded["offset_mapping"], rendered, strict=True
        ):
            labels = mask_labels(input_ids, offsets, spans)
            over_length = len(input_ids) > self.max_length
            if over_length and self.truncation == "right":
                input_ids, labels = input_ids[: self.max_length], labels[: self.max_length]
            dropped = (over_length and self.truncation == "drop") or count_targets(labels) == 0
            if dropped:
                input_ids, labels = [], []
            columns["input_ids"].append(input_ids)
            columns["labels"].append(labels)
            columns["num_targets"].append(count_targets(labels))
            columns["length"].append(len(input_ids))
            columns["over_length"].append(over_length)
            columns["dropped"].append(dropped)
        return columns


class TextChunkTokenizer:
    """`datasets.map` function (batched): documents -> chunks of at most max_length tokens, all targets."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        bos = [] if self.tokenizer.bos_token_id is None else [self.tokenizer.bos_token_id]
        eos = [] if self.tokenizer.eos_token_id is None else [self.tokenizer.eos_token_id]
        chunks = []
        for ids in self.tokenizer(batch["text"], add_special_tokens=False)["input_ids"]:
            document = bos + ids + eos
            chunks += [
                document[start : start + self.max_length]
                for start in range(0, len(document), self.max_length)
            ]
        chunks = [chunk for chunk in chunks if len(chunk) > 1]
        return {
            "input_ids": chunks,
            "labels": chunks,
            "num_targets": [len(chunk) - 1 for chunk in chunks],
            "length": [len(chunk) for chunk in chunks],
        }
