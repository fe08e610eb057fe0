"""Tag dumps and list sentences (``TAG``): does the rewrite run on as a list?

The failure it catches: a refiner rewarded for quality words learns to append them, a
comma list that never ends, "a student washing dishes in the kitchen, clear fine detail,
continuous camera flow, high dynamic range, crisp tone, consistent facial expression,
professional, polished and lifelike, carefully composed, focused upon subject, real,
authentic" (the cpu-full GRPO refiner's best-rewarded rollouts, issue 15). Every word is a
real word and none repeats, so :mod:`.repetition` and :mod:`.lexicon` pass it; a reader
sees a tag dump, and no real refiner writes one. Its twin, once short tags are capped, is
the run-on: "a stop sign, with clear and precise motion, shot from a telephoto lens with a
crisp and lifelike quality, capturing every detail, with a professional camera style,
with soft and fine brushstrokes, with minimal background clutter, with realistic
lighting, with careful composition": the items are longer than tags, the list as endless.

Two counts, within one sentence (split at ``. ; : ! ?`` before a space or the end, so
"4:3" and "108.5fps" stay whole), over its comma-separated items; an item the user wrote
(its words appear, in order, in the original prompt) neither counts nor ends a run, so a
user's own list ("market, fruits, people talking, sunny day, colorful") is theirs to keep:

- the longest *tag run*: items of at most ``TAG_WORDS`` words ("and" and "or" not
  counted: "polished and lifelike" is a tag) that follow each other, an item of more words
  ending the run; ``1 - RUN_COST`` per tag past ``FREE_RUN``;
- the most *items* in one sentence, of any length; ``1 - RUN_COST`` per item past
  ``FREE_ITEMS``.

``TAG`` is the lower of the two, at least 0; its floor (``TEXT_FLOORS["TAG"] = 0.5``,
strict) fails a rewrite with a run of 8 tags or a sentence of 9 items. Measured on the
VBench rewrites of ``../shared/data`` by ``scripts/text_checks_calibration.py`` (see
``docs/rewards.md``): the longest run of GPT-4o, Wan2.1's extender and HunyuanVideo's
rewriter is 6, their longest sentence 8 items (2 of 2529 rewrites; 99% hold at most 6).
"""

from __future__ import annotations

import re

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.text.rendered import rendered_prompts
from prompt_a_video.rewards.text.words import words
from prompt_a_video.video import Video

TAG_WORDS = 3
FREE_RUN = 4
FREE_ITEMS = 5
RUN_COST = 0.125

_SENTENCE_END = re.compile(r"[.;:!?](?=\s|$)|\n")
_CONJUNCTIONS = frozenset({"and", "or"})


def _is_users(item: list[str], original: list[str]) -> bool:
    """Whether the item's words appear, in order and next to each other, in the original's."""
    n = len(item)
    return any(original[i:i + n] == item for i in range(len(original) - n + 1))


def _sentence_counts(theirs: list[str], sentence: str) -> list[tuple[int, int]]:
    """``(tag run, items so far)`` after each comma item of one sentence (an item of the
    user's, or an empty one, leaves both as they were)."""
    counts, run, items = [], 0, 0
    for item in sentence.split(","):
        tokens = words(item)
        if tokens and not _is_users(tokens, theirs):
            run = run + 1 if len([t for t in tokens if t not in _CONJUNCTIONS]) <= TAG_WORDS else 0
            items += 1
        counts.append((run, items))
    return counts


def list_shape(original: str, rewrite: str) -> tuple[int, int]:
    """``(longest tag run, most items in one sentence)`` of the rewrite (module docstring)."""
    theirs = words(original)
    counts = [c for sentence in _SENTENCE_END.split(rewrite) for c in _sentence_counts(theirs, sentence)]
    return max(run for run, _ in counts), max(items for _, items in counts)


def tag_run(original: str, rewrite: str) -> int:
    """The rewrite's longest run of consecutive tags (see the module docstring)."""
    return list_shape(original, rewrite)[0]


def trailing_list(original: str, text: str) -> tuple[int, int]:
    """``(tag run, items)`` of the sentence that ends ``text``, its unfinished last item
    counted: what one more comma would extend (what the sampler's
    :class:`~prompt_a_video.modules.answer_penalties.AnswerTagRunCap` looks at)."""
    return _sentence_counts(words(original), _SENTENCE_END.split(text)[-1])[-1]


def score_of(run: int, items: int = 0) -> float:
    """``TAG`` of a rewrite whose longest tag run is ``run`` and longest sentence holds ``items``."""
    over = max(run - FREE_RUN, items - FREE_ITEMS, 0)
    return float(max(0.0, 1.0 - RUN_COST * over))


def tag_list_score(original: str, rewrite: str) -> float:
    """``TAG`` of one rewrite of ``original``; 1.0 means no run longer than ``FREE_RUN``
    and no sentence of more than ``FREE_ITEMS`` items."""
    return score_of(*list_shape(original, rewrite))


class TagListReward(Reward):
    """``TAG`` of the prompt each video was rendered from (``video.meta["prompt"]``)
    against the ORIGINAL prompt given to :meth:`score` (the user's own items are free)."""

    VERSION = 2
    dimensions = ("TAG",)

    @property
    def fingerprint(self) -> str:
        return (f"TagListReward/v{self.VERSION}(words={TAG_WORDS},free={FREE_RUN},items={FREE_ITEMS},"
                f"cost={RUN_COST})")

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        texts = rendered_prompts(videos)
        return {"TAG": torch.tensor([tag_list_score(o, t) for o, t in zip(prompts, texts)])}
