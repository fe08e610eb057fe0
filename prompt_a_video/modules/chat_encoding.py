"""Tokenise (prompt, answer) chats so that the loss falls on the assistant's tokens only.

Works with any chat template, including ones without ``{% generation %}`` markers: the
prompt part is rendered with ``add_generation_prompt=True`` (exactly what the model sees
at inference), the full chat is rendered too, and the remainder (the answer plus the
template's end-of-turn text) is tokenised on its own and is the only labelled part.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE_INDEX = -100


@dataclass
class TruncationCounts:
    """How many examples had to be cut to fit ``max_length``."""

    prompt_cut: int = 0  # prompt side shortened from the left
    answer_cut: int = 0  # answer alone longer than the budget: its end is cut (rare)


def encode_chat(tokenizer, prompt_messages: list[dict], answer: str, max_length: int,
                counts: TruncationCounts | None = None) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` of one example; labels are ``-100`` outside the answer.

    Overlong policy: the prompt side is cut from the left (the system text goes first),
    the answer is kept whole; only an answer that alone exceeds ``max_length - 16`` tokens
    is cut at its end. Both are counted in ``counts``.
    """
    prefix_text = tokenizer.apply_chat_template(prompt_messages, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(
        [*prompt_messages, {"role": "assistant", "content": answer}], tokenize=False
    )
    if not full_text.startswith(prefix_text):
        raise ValueError("chat template renders the prompt differently with and without an answer; "
                         "cannot locate the assistant tokens")
    prefix = tokenizer(prefix_text, add_special_tokens=False)["input_ids"]
    completion = tokenizer(full_text[len(prefix_text):], add_special_tokens=False)["input_ids"]
    answer_budget = max_length - 16
    if len(completion) > answer_budget:
        completion = completion[:answer_budget]
        if counts is not None:
            counts.answer_cut += 1
    if len(prefix) + len(completion) > max_length:
        prefix = prefix[len(prefix) + len(completion) - max_length:]
        if counts is not None:
            counts.prompt_cut += 1
    return prefix + completion, [IGNORE_INDEX] * len(prefix) + completion


def pad_batch(rows: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-pad ``(input_ids, labels)`` rows into tensors ``[B, T]``."""
    import torch

    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        attention_mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
