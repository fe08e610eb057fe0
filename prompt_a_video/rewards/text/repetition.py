"""Repetition (``REP``): how much of a text is the same words over again.

The failure it catches is the one small refiners fall into: "a crab at dawn, light,
detail, details, detail, detail, detail, ...". A repetition measure after distinct-n
(Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
Models"), on content words only (function words repeat in any fluent sentence), with
inflections merged (``detail``/``details``/``detailed`` are one word):

- ``excess``: the share of content words that are repeats beyond what a fluent prompt
  uses. Each word may occur ``2 + m // 25`` times in a text of ``m`` content words ("a
  dog chases another dog" is fluent, a subject named three times in a long caption
  too); every further use counts.
- ``distinct_2``, ``distinct_3``: distinct n-grams / all n-grams of the content-word
  sequence (a repeated phrase, "soft light, soft light", lowers them).
- ``stutters``: content words said twice in a row, the very same word ("detail, detail",
  "smooth smooth"),
  which fluent text never does; each costs 0.5.

``REP = min(1 - excess, distinct_2, distinct_3, 1 - 0.5 * stutters)``, clamped to
``[0, 1]``; 1 for no repetition (and for texts too short to have n-grams).
"""

from __future__ import annotations

import re
from collections import Counter

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.text.words import STOPWORDS, canonical, content_words, ngrams, words
from prompt_a_video.rewards.text.rendered import rendered_prompts
from prompt_a_video.video import Video

# Content words per extra allowed use of one word.
WORDS_PER_EXTRA_USE = 25
STUTTER_COST = 0.5


def distinct(tokens: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams of ``tokens``; 1.0 when there are none."""
    grams = ngrams(tokens, n)
    return len(set(grams)) / len(grams) if grams else 1.0


def excess_repeats(tokens: list[str]) -> float:
    """Share of ``tokens`` that are uses beyond ``2 + len(tokens) // WORDS_PER_EXTRA_USE`` of a word."""
    if not tokens:
        return 0.0
    allowed = 2 + len(tokens) // WORDS_PER_EXTRA_USE
    return sum(max(0, c - allowed) for c in Counter(tokens).values()) / len(tokens)


def _join_hyphens(text: str) -> str:
    """``pom-pom`` -> ``pompom``: a hyphenated word is one word, not a repeat."""
    return re.sub(r"(?<=\w)-(?=\w)", "", text)


def stutters(text: str) -> int:
    """How many content words repeat the word right before them ("detail, detail")."""
    count = 0
    for sentence in re.split(r"[.!?;:\n]+", text):  # "... canyons. Canyons rise ..." is fluent
        tokens = words(_join_hyphens(sentence))
        # The same word, not the same lemma: "the Eiffel Tower towering" is fluent.
        count += sum(1 for a, b in zip(tokens, tokens[1:]) if b not in STOPWORDS and a == b)
    return count


def repetition_score(text: str) -> float:
    """``REP`` of one text (see the module docstring); 1.0 means no repetition."""
    tokens = [canonical(w) for w in content_words(_join_hyphens(text))]
    score = min(1.0 - excess_repeats(tokens), distinct(tokens, 2), distinct(tokens, 3),
                1.0 - STUTTER_COST * stutters(text))
    return float(max(0.0, score))


class RepetitionReward(Reward):
    """``REP`` of the prompt each video was rendered from (``video.meta["prompt"]``).

    Text only: works with any generator that records the rendered prompt (all of the
    project's do). ``prompts`` (the originals) are not needed and not used.
    """

    VERSION = 3
    dimensions = ("REP",)

    @property
    def fingerprint(self) -> str:
        return f"RepetitionReward/v{self.VERSION}(uses=2,extra_use_per={WORDS_PER_EXTRA_USE},stutter={STUTTER_COST})"

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        return {"REP": torch.tensor([repetition_score(t) for t in rendered_prompts(videos)])}
