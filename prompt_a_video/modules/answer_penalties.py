"""Repetition controls that look at the answer only, never at the prompt.

transformers' ``repetition_penalty`` and ``no_repeat_ngram_size`` count every token of
``input_ids``, the chat prompt included: a refiner sampled with them is pushed away from
the very words the user wrote (measured in issue 11: content kept fell from 78% to 4%).
These two processors apply the same rules to the generated tokens alone. Prompts are
left-padded to one width (:func:`~prompt_a_video.modules.refine.left_pad`), so the answer
of every row starts at column ``prompt_width``.
"""

from __future__ import annotations

import torch


class AnswerRepetitionPenalty:
    """CTRL's repetition penalty (Keskar et al. 2019) over the answer's tokens only.

    A token already generated has its logit divided by ``penalty`` when positive and
    multiplied by it when negative. ``scores`` ``[B, V]``; ``input_ids`` ``[B, prompt_width + t]``.
    """

    def __init__(self, prompt_width: int, penalty: float) -> None:
        if penalty <= 0:
            raise ValueError(f"repetition penalty must be > 0, got {penalty}")
        self.prompt_width = prompt_width
        self.penalty = float(penalty)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        answer = input_ids[:, self.prompt_width:]
        if answer.shape[1] == 0 or self.penalty == 1.0:
            return scores
        picked = scores.gather(1, answer)
        picked = torch.where(picked > 0, picked / self.penalty, picked * self.penalty)
        return scores.scatter(1, answer, picked)


class AnswerNoRepeatNGram:
    """No n-gram of ``size`` tokens occurs twice in the answer (the prompt is not counted).

    After the answer's last ``size - 1`` tokens, every token that would complete an
    n-gram the answer already holds gets ``-inf``.
    """

    def __init__(self, prompt_width: int, size: int) -> None:
        if size < 1:
            raise ValueError(f"no-repeat n-gram size must be >= 1, got {size}")
        self.prompt_width = prompt_width
        self.size = int(size)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        answer = input_ids[:, self.prompt_width:].tolist()
        n = self.size
        for row, tokens in enumerate(answer):
            if len(tokens) < n:
                continue  # not one full n-gram yet (for n == 1 it is never < 1 once a token exists)
            tail = tuple(tokens[len(tokens) - n + 1:]) if n > 1 else ()
            banned = [tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tuple(tokens[i:i + n - 1]) == tail]
            if banned:
                scores[row, banned] = float("-inf")
        return scores


def answer_processors(prompt_width: int, repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0) -> list:
    """The processors for these settings (none for ``1.0`` / ``0``)."""
    out = []
    if repetition_penalty != 1.0:
        out.append(AnswerRepetitionPenalty(prompt_width, repetition_penalty))
    if no_repeat_ngram_size > 0:
        out.append(AnswerNoRepeatNGram(prompt_width, no_repeat_ngram_size))
    return out
