"""Repetition (``REP``): how much of a text is the same words over again.

The failure it catches is the one small refiners fall into: "a crab at dawn, light,
detail, details, detail, detail, detail, ...". A repetition measure after distinct-n
(Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
Models"), on content words only (function words repeat in any fluent sentence), with
inflections merged (``detail``/``details``/``detailed`` are one word):

- ``excess``: the share of content words that are repeats beyond what a fluent prompt
  uses. Each word may occur ``1 + m // 15`` times in a text of ``m`` content words (a
  subject named twice in a long caption is fine); every further use counts.
- ``distinct_2``, ``distinct_3``: distinct n-grams / all n-grams of the content-word
  sequence (a repeated phrase, "soft light, soft light", lowers them).

``REP = min(1 - excess, distinct_2, distinct_3)`` in ``[0, 1]``, 1 for no repetition
(and for texts too short to have n-grams).
"""

from __future__ import annotations

from collections import Counter

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.text.words import canonical, content_words, ngrams
from prompt_a_video.rewards.text.rendered import rendered_prompts
from prompt_a_video.video import Video

# Content words per extra allowed use of one word.
WORDS_PER_EXTRA_USE = 15


def distinct(tokens: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams of ``tokens``; 1.0 when there are none."""
    grams = ngrams(tokens, n)
    return len(set(grams)) / len(grams) if grams else 1.0


def excess_repeats(tokens: list[str]) -> float:
    """Share of ``tokens`` that are uses beyond ``1 + len(tokens) // WORDS_PER_EXTRA_USE`` of a word."""
    if not tokens:
        return 0.0
    allowed = 1 + len(tokens) // WORDS_PER_EXTRA_USE
    return sum(max(0, c - allowed) for c in Counter(tokens).values()) / len(tokens)


def repetition_score(text: str) -> float:
    """``REP`` of one text (see the module docstring); 1.0 means no repetition."""
    tokens = [canonical(w) for w in content_words(text)]
    return float(min(1.0 - excess_repeats(tokens), distinct(tokens, 2), distinct(tokens, 3)))


class RepetitionReward(Reward):
    """``REP`` of the prompt each video was rendered from (``video.meta["prompt"]``).

    Text only: works with any generator that records the rendered prompt (all of the
    project's do). ``prompts`` (the originals) are not needed and not used.
    """

    VERSION = 1
    dimensions = ("REP",)

    @property
    def fingerprint(self) -> str:
        return f"RepetitionReward/v{self.VERSION}(extra_use_per={WORDS_PER_EXTRA_USE})"

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        return {"REP": torch.tensor([repetition_score(t) for t in rendered_prompts(videos)])}
