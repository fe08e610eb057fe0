"""Coined words (``LEX``): does the rewrite write words that no word list knows?

The failure it catches: a refiner pushed towards one stem glues it to any ending, "...,
lifelike, lifeless, lifetacular, lifely, lifepersonal" (the cpu-full GRPO refiner, issue
15). Each coinage is a new word, so :mod:`.repetition` sees no repeat, and a small LM
finds it likely after "lifelike"; a video model renders it as noise.

A *coined word* is a distinct word of the rewrite that

- is in the Latin script, 3+ letters, no digits (``4k``, ``1080p`` and words of other
  scripts are not judged: CJK has no spaces to split words at);
- is not among the original prompt's words (a user's name, typo or slang is theirs to
  keep);
- is not a proper name (every use of it in the rewrite is capitalised: "Jinmao Tower");
- and is unknown to wordfreq's word list (Speer et al., https://github.com/rspeer/wordfreq)
  of English and of the rewrite's own language, itself and without a trailing ``s``
  or ``'s`` (wordfreq lacks some plurals: "pegboards").

``LEX = max(0, 1 - COINAGE_COST * coined)``: 1 with none, 0.5 with one, 0 with two or
more. Its floor (``TEXT_FLOORS["LEX"] = 0.5``, strict) fails a rewrite with any coined
word. Measured on the VBench rewrites of ``../shared/data`` by
``scripts/text_checks_calibration.py`` (see ``docs/rewards.md``).
"""

from __future__ import annotations

import re
from functools import lru_cache

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.text.rendered import rendered_prompts
from prompt_a_video.rewards.text.words import STOPWORDS, words
from prompt_a_video.video import Video

COINAGE_COST = 0.5

# Letters of the Latin script (ASCII and Latin-1/Extended-A/B), lower case.
_LATIN_WORD = re.compile(r"[a-z\u00df-\u024f]{3,}")
_CAPITALISED = re.compile(r"\b[A-Z\u00c0-\u00de][\w\u00c0-\u024f]*")


@lru_cache(maxsize=131072)
def listed(word: str, language: str = "en") -> bool:
    """Whether wordfreq knows ``word`` in English or in ``language`` (as is or without an ``s``)."""
    from wordfreq import zipf_frequency

    forms = [word] + ([word[:-1]] if word.endswith("s") else [])
    languages = ["en"] + ([language] if language != "en" else [])
    return any(zipf_frequency(form, lang) > 0 for form in forms for lang in languages)


def coined_words(original: str, rewrite: str) -> list[str]:
    """The rewrite's coined words (see the module docstring), distinct, in order."""
    from prompt_a_video.rewards.language import detect_language

    theirs = set(words(original))
    names = {w.lower() for w in _CAPITALISED.findall(rewrite)}
    lower_uses = set(words(_CAPITALISED.sub(" ", rewrite)))  # words used at least once in lower case
    language = detect_language(rewrite) or "en"
    out = []
    for word in dict.fromkeys(words(rewrite)):
        word = re.sub(r"'s$", "", word)
        if word in STOPWORDS or word in theirs or not _LATIN_WORD.fullmatch(word):
            continue
        if word in names and word not in lower_uses:
            continue
        if not listed(word, language):
            out.append(word)
    return list(dict.fromkeys(out))


def score_of(coined: list[str]) -> float:
    """``LEX`` of a rewrite holding these coined words."""
    return float(max(0.0, 1.0 - COINAGE_COST * len(coined)))


def lexicon_score(original: str, rewrite: str) -> float:
    """``LEX`` of one rewrite of ``original``; 1.0 means every word is a listed word."""
    return score_of(coined_words(original, rewrite))


class LexiconReward(Reward):
    """``LEX`` of the prompt each video was rendered from (``video.meta["prompt"]``)
    against the ORIGINAL prompt given to :meth:`score` (its words are never coinages)."""

    VERSION = 1
    dimensions = ("LEX",)

    @property
    def fingerprint(self) -> str:
        from importlib.metadata import version

        return f"LexiconReward/v{self.VERSION}(wordfreq={version('wordfreq')},cost={COINAGE_COST})"

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        texts = rendered_prompts(videos)
        return {"LEX": torch.tensor([lexicon_score(o, t) for o, t in zip(prompts, texts)])}
