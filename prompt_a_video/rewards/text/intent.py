"""Intent kept (``INT``): is what the user wrote still in the rewrite?

A refiner may add detail; it must not drop or swap the subjects, attributes, counts,
actions or setting the user asked for. A text-only check, the same on any backbone:

``INT`` = the share of the original's content words (:data:`~.words.STOPWORDS` removed:
function words and request words such as "make a video of") that the rewrite still
contains, where a word is contained when

- it shares a lemma with a word of the rewrite (``running`` ~ ``runs``, ``dogs`` ~
  ``dog``, ``3`` ~ ``three``), or
- it shares a stem with a word of the rewrite: a common prefix of at least 5 letters
  that leaves at most 3 letters of the shorter word (``cheerleading`` ~ ``cheerleader``,
  ``laughing`` ~ ``laughter``), or
- it names a person (``person``, ``people``, ``someone``) and the rewrite names one
  (``woman``, ``boy``, ``individual``...): a more specific person keeps the subject, or
- it is not a dictionary word (a typo or an unknown name: ``dgo``, ``runing``) and a
  word of the rewrite is within one edit of it (a rewrite that fixes a typo keeps it).

Range ``[0, 1]``; 1 when every content word is kept, and for an original without
content words. Paraphrase by synonyms ("puppy" -> "young dog") counts as a loss: refiners
are asked to keep the user's words. (Word embeddings were tried and dropped: MiniLM puts
"two"/"three" at 0.81 and "dog"/"cat" at 0.66, above "beach"/"shore", so they cannot tell
a synonym from a swapped subject or count.)
"""

from __future__ import annotations

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.text.rendered import rendered_prompts
from prompt_a_video.rewards.text.words import content_words, known, lemmas, words
from prompt_a_video.video import Video


def within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance <= 1 (one insertion, deletion, substitution or swap)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    i = next((k for k in range(len(short)) if short[k] != long_[k]), len(short))
    return short[i:] == long_[i + 1:]


# Generic person words of a prompt, and the words a rewrite may name that person by.
PERSON_WORDS = frozenset("person people someone somebody human individual".split())
PERSON_NAMES = PERSON_WORDS | frozenset(
    "man men woman women boy boys girl girls child children kid kids guy guys lady ladies gentleman adult "
    "teenager teen figure worker athlete dancer player individuals persons humans crowd family couple".split())

STEM_MIN, STEM_SLACK = 5, 3


def same_stem(a: str, b: str) -> bool:
    """A common prefix of >= ``STEM_MIN`` letters leaving <= ``STEM_SLACK`` letters of the shorter word."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n >= STEM_MIN and n >= min(len(a), len(b)) - STEM_SLACK


def missing_words(original: str, rewrite: str) -> list[str]:
    """The original's content words (distinct, in order) that the rewrite does not keep."""
    rewrite_words = set(words(rewrite))
    rewrite_lemmas = set().union(*(lemmas(w) for w in rewrite_words)) if rewrite_words else set()
    missing = []
    for word in dict.fromkeys(content_words(original)):
        if lemmas(word) & rewrite_lemmas or any(same_stem(word, w) for w in rewrite_words):
            continue
        if word in PERSON_WORDS and rewrite_words & PERSON_NAMES:
            continue
        if not known(word) and len(word) >= 3 and any(within_one_edit(word, w) for w in rewrite_words):
            continue
        missing.append(word)
    return missing


def intent_score(original: str, rewrite: str) -> float:
    """``INT``: the share of the original's distinct content words the rewrite keeps."""
    wanted = list(dict.fromkeys(content_words(original)))
    if not wanted:
        return 1.0
    return float(1.0 - len(missing_words(original, rewrite)) / len(wanted))


class IntentReward(Reward):
    """``INT`` of the prompt each video was rendered from (``video.meta["prompt"]``)
    against the ORIGINAL prompt given to :meth:`score`."""

    VERSION = 2
    dimensions = ("INT",)

    @property
    def fingerprint(self) -> str:
        return f"IntentReward/v{self.VERSION}(lemminflect,stem={STEM_MIN}/{STEM_SLACK},person,typo_edits=1)"

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        texts = rendered_prompts(videos)
        return {"INT": torch.tensor([intent_score(o, t) for o, t in zip(prompts, texts)])}
