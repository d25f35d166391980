"""Answer masks at exact token positions for two unlike chat templates, and Mistral's own token ids."""

from __future__ import annotations

import datasets
import pytest

from datamodules.chat_tokenization import IGNORE_INDEX, ChatExampleTokenizer, ChatTemplateError, count_targets
from datamodules.tokenized_files import tokenize_skillmix_file


def tokenize_one(tokenizer, messages, max_length=4096, truncation="drop", system_prompt=None):
    columns = ChatExampleTokenizer(tokenizer, max_length, truncation, system_prompt)({"messages": [messages]})
    return {name: values[0] for name, values in columns.items()}


def expected_from_segments(tokenizer, segments):
    """Ids and labels built piece by piece: (text, is_target) segments tokenized separately."""
    ids: list[int] = []
    labels: list[int] = []
    for text, is_target in segments:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if is_target else [IGNORE_INDEX] * len(piece)
    return ids, labels


def test_tiny_chatml_template_masks_exactly_the_answers_and_their_end_of_turn(tiny_tokenizer, sample_records):
    messages = sample_records[0]["messages"]
    user1, answer1, user2, answer2 = (m["content"] for m in messages)
    ids, labels = expected_from_segments(
        tiny_tokenizer,
        [
            (f"<|bos|><|im_start|>user\n{user1}<|im_end|>\n<|im_start|>assistant\n", False),
            (f"{answer1}<|im_end|>", True),
            (f"\n<|im_start|>user\n{user2}<|im_end|>\n<|im_start|>assistant\n", False),
            (f"{answer2}<|im_end|>", True),
            ("\n", False),
        ],
    )
    example = tokenize_one(tiny_tokenizer, messages)
    assert example["input_ids"] == ids
    assert example["labels"] == labels
    im_end = tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    targets = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
    assert [ids[i] for i in targets].count(im_end) == 2
    assert labels[-1] == IGNORE_INDEX and ids[-2] == im_end and labels[-2] == im_end
    assert example["num_targets"] == len(targets)


def test_system_prompt_is_rendered_first_and_never_a_target(tiny_tokenizer, sample_records):
    messages = sample_records[0]["messages"]
    plain = tokenize_one(tiny_tokenizer, messages)
    with_system = tokenize_one(tiny_tokenizer, messages, system_prompt="Be brief.")
    system_ids = tiny_tokenizer("<|im_start|>system\nBe brief.<|im_end|>\n", add_special_tokens=False)[
        "input_ids"
    ]
    bos = plain["input_ids"][:1]
    assert with_system["input_ids"] == bos + system_ids + plain["input_ids"][1:]
    assert with_system["labels"] == [IGNORE_INDEX] * (1 + len(system_ids)) + plain["labels"][1:]
    own_system = [{"role": "system", "content": "Stay formal."}, *messages]
    assert tokenize_one(tiny_tokenizer, own_system, system_prompt="Be brief.") == tokenize_one(
        tiny_tokenizer, own_system
    )


def test_mistral_ids_equal_mistral_common_and_mask_matches_its_message_pieces(
    mistral_tokenizer, mistral_reference, sample_records
):
    from mistral_common.protocol.instruct.messages import AssistantMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    reference = mistral_reference
    instruct = reference.instruct_tokenizer
    for record in (sample_records[0], sample_records[-1]):
        user1, answer1, user2, answer2 = (m["content"] for m in record["messages"])
        conversation: list = [UserMessage(content=user1), AssistantMessage(content=answer1)]
        conversation += [UserMessage(content=user2), AssistantMessage(content=answer2)]
        whole = reference.encode_chat_completion(ChatCompletionRequest(messages=conversation)).tokens

        pieces = [
            ([instruct.tokenizer.bos_id], False),
            (instruct.encode_user_message(conversation[0], None, False, True)[0], False),
            (instruct.encode_assistant_message(conversation[1], True), True),
            (instruct.encode_user_message(conversation[2], None, True, False)[0], False),
            (instruct.encode_assistant_message(conversation[3], False), True),
        ]
        assert [token for piece, _ in pieces for token in piece] == whole
        expected_labels = [token if target else IGNORE_INDEX for piece, target in pieces for token in piece]

        example = tokenize_one(mistral_tokenizer, record["messages"])
        assert example["input_ids"] == whole
        assert example["labels"] == expected_labels
        assert example["labels"][-1] == instruct.tokenizer.eos_id


def test_template_that_rewrites_earlier_turns_is_refused(tiny_tokenizer, sample_records):
    tokenizer = type(tiny_tokenizer).from_pretrained(tiny_tokenizer.name_or_path)
    # Renders the number of messages first, so a shorter conversation is not a prefix of the whole one.
    tokenizer.chat_template = "{{ messages|length }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(ChatTemplateError, match="prefix"):
        tokenize_one(tokenizer, sample_records[0]["messages"])


@pytest.mark.parametrize("truncation", ["drop", "right"])
def test_length_cap_is_counted_per_k(tiny_tokenizer, write_jsonl, make_record, tmp_path, truncation):
    rows = [make_record(i, 1, answer_words=5) for i in range(3)] + [make_record(3, 2, answer_words=5)]
    rows += [make_record(4, 2, answer_words=200), make_record(5, 3, answer_words=200)]
    path = write_jsonl("mixed.jsonl", rows)
    lengths = [len(tokenize_one(tiny_tokenizer, row["messages"])["input_ids"]) for row in rows]
    cap = max(lengths[:4]) + 5
    assert min(lengths[4:]) > cap

    kept, report = tokenize_skillmix_file(
        path, tiny_tokenizer, cap, truncation, cache_dir=str(tmp_path / "c")
    )
    assert report.examples == {1: 3, 2: 2, 3: 1}
    assert report.over_length == {2: 1, 3: 1}
    if truncation == "drop":
        assert report.dropped == {2: 1, 3: 1}
        assert kept["length"] == lengths[:4]
    else:
        assert report.dropped == {}
        assert kept["length"] == [*lengths[:4], cap, cap]
        # Cut at the end: answer 2 and its end-of-turn are gone, answer 1 is still a target.
        assert kept["labels"][4][-1] != IGNORE_INDEX
        assert (
            kept["num_targets"][4]
            == count_targets(kept["labels"][4])
            < count_targets(tokenize_one(tiny_tokenizer, rows[4]["messages"])["labels"])
        )


def test_tokenization_is_cached_on_disk(tiny_tokenizer, write_jsonl, make_record, tmp_path):
    path = write_jsonl("d1.jsonl", [make_record(i, 1) for i in range(4)])
    cache = tmp_path / "cache"
    first, _ = tokenize_skillmix_file(path, tiny_tokenizer, 1024, "drop", cache_dir=str(cache))
    files = sorted(cache.iterdir())
    assert len(files) == 1
    again, _ = tokenize_skillmix_file(path, tiny_tokenizer, 1024, "drop", cache_dir=str(cache))
    assert sorted(cache.iterdir()) == files and again["input_ids"] == first["input_ids"]
    tokenize_skillmix_file(path, tiny_tokenizer, 512, "drop", cache_dir=str(cache))
    assert len(list(cache.iterdir())) == 2
    assert isinstance(first, datasets.Dataset)
