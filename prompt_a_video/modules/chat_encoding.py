"""Tokenise (prompt, answer) chats so that the loss falls on the assistant's tokens only.

Works with any chat template, including ones without ``{% generation %}`` markers: the
prompt part is rendered with ``add_generation_prompt=True`` (exactly what the model sees
at inference), the full chat is rendered too, and the remainder (the answer plus the
template's end-of-turn text) is tokenised on its own and is the only labelled part.
An example longer than ``max_length`` is refused, never cut (:class:`ExampleTooLongError`);
:func:`check_examples_fit` finds the longest before a fit starts.
"""

from __future__ import annotations

IGNORE_INDEX = -100


class ExampleTooLongError(ValueError):
    """An example (chat prompt + answer) does not fit ``max_length`` tokens.

    Never cut: a prompt cut from the left loses its chat header and system text, so the
    model would train on a prompt it never sees at inference; an answer cut at its end
    loses the end-of-turn token, so it would learn not to stop.
    """


def encode_chat(tokenizer, prompt_messages: list[dict], answer: str,
                max_length: int) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` of one example; labels are ``-100`` outside the answer.

    Raises :class:`ExampleTooLongError` when prompt + answer exceed ``max_length`` tokens.
    """
    prefix, completion = chat_parts(tokenizer, prompt_messages, answer)
    if len(prefix) + len(completion) > max_length:
        raise ExampleTooLongError(
            f"max_length={max_length} is too short for an example of {len(prefix) + len(completion)} tokens "
            f"(chat prompt {len(prefix)}, answer {len(completion)}): {_user_text(prompt_messages)!r:.120}; "
            "raise model.init_args.max_length (examples are never cut)")
    return prefix + completion, [IGNORE_INDEX] * len(prefix) + completion


def _user_text(messages: list[dict]) -> str:
    return next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")


def chat_parts(tokenizer, prompt_messages: list[dict], answer: str) -> tuple[list[int], list[int]]:
    """Token ids of the chat prompt (up to the assistant's turn) and of the answer + end of turn."""
    prefix_text = tokenizer.apply_chat_template(prompt_messages, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(
        [*prompt_messages, {"role": "assistant", "content": answer}], tokenize=False
    )
    if not full_text.startswith(prefix_text):
        raise ValueError("chat template renders the prompt differently with and without an answer; "
                         "cannot locate the assistant tokens")
    prefix = tokenizer(prefix_text, add_special_tokens=False)["input_ids"]
    completion = tokenizer(full_text[len(prefix_text):], add_special_tokens=False)["input_ids"]
    return prefix, completion


def check_examples_fit(tokenizer, backbone, examples, answer_keys: tuple[str, ...], max_length: int,
                       what: str) -> int:
    """Raise :class:`ExampleTooLongError` naming the longest example if any exceeds ``max_length``.

    Args:
        examples: dicts with ``"prompt"`` and each of ``answer_keys`` (the training data).
        what: where the examples come from, for the message (``"train data"``).

    Returns:
        the length in tokens of the longest example (0 for none).
    """
    longest, where = 0, ""
    for example in examples:
        for key in answer_keys:
            prefix, completion = chat_parts(tokenizer, backbone.messages(example["prompt"]), example[key])
            if len(prefix) + len(completion) > longest:
                longest, where = len(prefix) + len(completion), example["prompt"]
    if longest > max_length:
        raise ExampleTooLongError(
            f"model.init_args.max_length={max_length} is too short for the {what}: its longest example "
            f"(chat prompt + answer) is {longest} tokens, prompt {where!r:.120}; set max_length >= {longest} "
            "(examples are never cut: a cut prompt is one the refiner never sees at inference)")
    return longest


def check_datamodule_fits(module, answer_keys: tuple[str, ...]) -> None:
    """At fit start: every train/val example of the trainer's datamodule fits ``max_length``."""
    datamodule = getattr(module.trainer, "datamodule", None)
    for side in ("train", "val"):
        dataset = getattr(datamodule, side, None) if datamodule is not None else None
        if dataset is not None:
            check_examples_fit(module.tokenizer, module.backbone, iter(dataset), answer_keys,
                               module.hparams.max_length, f"{side} data")


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
