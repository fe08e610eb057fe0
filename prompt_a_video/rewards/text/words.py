"""Words of a prompt, as the text-quality and intent checks see them.

- :func:`words`: lower-cased word tokens (letters and digits of any script; ``don't``
  stays one token, ``detail-rich`` is two);
- :func:`lemmas`: every lemma lemminflect knows for a word, plus the word itself
  (``details`` -> {detail, details}; ``running`` -> {run, running}; number words and
  digits meet: ``3`` -> {3, three});
- :func:`canonical`: one lemma per word, so ``detail``/``details``/``detailed`` count as
  the same word for repetition;
- ``STOPWORDS``: function words, and the request words users wrap a prompt in
  ("can u make a video of ..."), which carry no content to keep or repeat.

lemminflect is imported on first use (its tables load in ~0.3 s).
"""

from __future__ import annotations

import re
from functools import lru_cache

# Unicode letters/digits; an apostrophe inside a word keeps it whole ("don't", "o'clock").
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")

_FUNCTION_WORDS = """
a an the and or but nor so yet of in on at to for from by with without within into onto upon over under
above below across along around through between among behind beside besides near off out up down about
against toward towards past via per as than then there here this that these those it its it's itself
he she they we i you me him her them us my your his their our mine yours hers theirs ours who whom whose
which what when where why how while while is are was were be been being am do does did doing have has had
having will would shall should can could may might must not no nor just very too also only some any each
every all both either neither such own same other another more most much many few several lots lot one's
s t ll d re ve m o
""".split()

# Words users wrap a request in; a rewrite that drops them has lost nothing.
_REQUEST_WORDS = """
please pls plz u ur make makes making create generate generates render show shows showing want wanna need
like video videos clip clips footage film filmed image images picture photo scene shot shots prompt
kind sort really maybe something thing things
""".split()

STOPWORDS: frozenset[str] = frozenset(_FUNCTION_WORDS) | frozenset(_REQUEST_WORDS)

_NUMBERS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13",
    "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18",
    "nineteen": "19", "twenty": "20", "dozen": "12", "pair": "2", "couple": "2", "single": "1",
}
_DIGITS = {digit: word for word, digit in _NUMBERS.items() if word not in ("dozen", "pair", "couple", "single")}


def words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``."""
    return [w.replace("\u2019", "'") for w in _WORD.findall(text.lower())]


@lru_cache(maxsize=65536)
def lemmas(word: str) -> frozenset[str]:
    """The word and every lemma of it that lemminflect knows (any part of speech);
    numbers also as digits and as words."""
    from lemminflect import getAllLemmas

    out = {word}
    for forms in getAllLemmas(word).values():
        out.update(forms)
    if word in _NUMBERS:
        out.add(_NUMBERS[word])
    if word in _DIGITS:
        out.add(_DIGITS[word])
    return frozenset(out)


@lru_cache(maxsize=65536)
def known(word: str) -> bool:
    """Whether lemminflect's dictionary has the word (a typo or a name usually is not)."""
    from lemminflect import getAllLemmas

    return bool(getAllLemmas(word)) or word in _NUMBERS or word.isdigit()


@lru_cache(maxsize=65536)
def canonical(word: str) -> str:
    """One representative lemma: the shortest (then alphabetically first) of :func:`lemmas`."""
    return min(lemmas(word), key=lambda w: (len(w), w))


def content_words(text: str) -> list[str]:
    """The words of ``text`` that are not stopwords, in order (repeats kept)."""
    return [w for w in words(text) if w not in STOPWORDS]


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
