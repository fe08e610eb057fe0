"""Which language a prompt is written in: a cheap check for the refiner's guard.

The guard asks one question of each rewrite: is it in the target's language (English
for every backbone of the paper)? Two kinds of evidence answer it, both without a model:

- **script**: letters are counted per writing system (Latin, Han, kana, Hangul, Cyrillic,
  Greek, Arabic, Hebrew, Devanagari, Thai); a Han/kana/Hangul/Thai character counts 3
  (one carries about a word; a Latin word has about 5 letters). The script with the
  largest count decides the language outright, except Latin, shared by many: Han with
  any kana is Japanese, Han alone Chinese; Cyrillic with ``і ї є ґ`` is Ukrainian, else
  Russian.
- **function words**, for Latin script: every word found in a language's list of common
  function words (:data:`FUNCTION_WORDS`: English, German, French, Spanish, Italian,
  Portuguese, Dutch) votes for it, a word in k of the lists with 1/k; a word with a letter
  only one of them uses (``ß ä ö ü``, ``ñ``, ``ç œ``, ``ã õ``) adds 1/2. Video prompts
  are sentences full of articles and prepositions ("a dog runs along the beach at
  sunset"), so a rewrite of a dozen words or more has plenty.

:func:`in_language` accepts a text when the language's script dominates and, for Latin
script, the language has the most votes (a tie, or no vote at all, is accepted: the
check rejects only what it can tell is another language). It judges a rewrite, not a
document: an English rewrite quoting a French name passes, one that switches to German
halfway fails only when German has the majority of the evidence.

Why not a library: ``langdetect`` is probabilistic (two runs can disagree unless seeded)
and unreliable on one-sentence texts; ``py3langid`` / ``fasttext`` bring numpy or a model
file. The guard needs a deterministic yes/no for one known language in microseconds,
which the two signals above give. Languages without a function-word list in Latin script
(Polish, Turkish...) cannot be told apart from the listed ones, so they are not offered
as targets (:data:`LANGUAGES`).

The module sits beside ``rewards/text/`` rather than in it so that importing it stays
free of torch (``rewards/text``'s package imports the fluency LM): ``Refiner(...,
language=...)`` checks the setting when it is made, before anything heavy loads.
"""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["LANGUAGES", "FUNCTION_WORDS", "detect_language", "in_language", "language_name", "language_votes"]

#: The languages the check can judge, by ISO 639-1 code, with their English names (the
#: refiner's instruction names the language in English: "Write the description in German").
LANGUAGES: dict[str, str] = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "ru": "Russian", "uk": "Ukrainian",
    "el": "Greek", "ar": "Arabic", "he": "Hebrew", "hi": "Hindi", "th": "Thai",
}

#: Common function words (articles, prepositions, conjunctions, pronouns, forms of "be")
#: of the Latin-script languages, lower case.
FUNCTION_WORDS: dict[str, frozenset[str]] = {lang: frozenset(text.split()) for lang, text in {
    "en": "the a an and of in on with is are was were its his her their at by from into onto through while "
          "under over this that these those to for it as behind beside across along toward towards which who "
          "has have be been being there",
    "de": "der die das den dem des ein eine einer einen einem eines und ist sind mit auf in im am vom zum zur von "
          "zu sich nicht auch über unter durch bei aus nach vor wie sein seine ihre ihr während hinter neben "
          "sie er es wird werden",
    "fr": "le la les un une des du de et est sont dans sur avec pour par au aux en qui que son sa ses leur "
          "leurs ce cette ces il elle sous pendant vers entre derrière",
    "es": "el la los las un una unos unas y es son en con de a por para del al que su sus sobre bajo entre mientras "
          "muy hacia detrás se lo",
    "it": "il lo la gli le un una uno e è a al sono di del della dei delle in con per su sul sulla nel nella che suo "
          "sua tra mentre verso dietro si",
    "pt": "o a os as um uma uns umas e é são em com de por para do da dos das no na nos nas que seu sua sobre "
          "entre enquanto pelo pela se",
    "nl": "de het een en is zijn met op in van te voor door bij uit naar onder over die dat terwijl achter",
}.items()}

# Letters that only one of the listed Latin-script languages writes (half a vote each).
_SPECIAL_LETTERS = {"de": "ßäöü", "es": "ñ", "fr": "çœ", "pt": "ãõ"}

# (first, last) code points per script; Latin covers Latin-1 and Latin Extended letters.
_SCRIPTS: list[tuple[str, int, int]] = [
    ("latin", 0x0041, 0x024F), ("latin", 0x1E00, 0x1EFF), ("greek", 0x0370, 0x03FF),
    ("cyrillic", 0x0400, 0x04FF), ("hebrew", 0x0590, 0x05FF), ("arabic", 0x0600, 0x06FF),
    ("devanagari", 0x0900, 0x097F), ("thai", 0x0E00, 0x0E7F), ("hangul", 0x1100, 0x11FF),
    ("kana", 0x3040, 0x30FF), ("hangul", 0x3130, 0x318F), ("han", 0x3400, 0x4DBF), ("han", 0x4E00, 0x9FFF),
    ("hangul", 0xAC00, 0xD7AF), ("han", 0xF900, 0xFAFF),
]
_DENSE = {"han": 3, "kana": 3, "hangul": 3, "thai": 3}  # one character carries about a word
_SCRIPT_LANGUAGE = {"greek": "el", "hebrew": "he", "arabic": "ar", "devanagari": "hi", "thai": "th",
                    "hangul": "ko"}
_LANGUAGE_SCRIPT = {"zh": "cjk", "ja": "cjk", "ko": "hangul", "ru": "cyrillic", "uk": "cyrillic",
                    **{lang: script for script, lang in _SCRIPT_LANGUAGE.items() if script != "hangul"}}
_UKRAINIAN = set("іїєґІЇЄҐ")
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
_LIST_COUNT = Counter(word for words in FUNCTION_WORDS.values() for word in words)


def language_name(code: str) -> str:
    """``"de"`` -> ``"German"``; an unknown code is returned as it is."""
    return LANGUAGES.get(code, code)


def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    point = ord(ch)
    for name, first, last in _SCRIPTS:
        if first <= point <= last:
            return name
    return None


def _script_counts(text: str) -> Counter:
    counts: Counter = Counter()
    for ch in text:
        script = _script(ch)
        if script is not None:
            counts[script] += _DENSE.get(script, 1)
    return counts


def _dominant_script(text: str) -> tuple[str | None, Counter]:
    counts = _script_counts(text)
    merged = Counter(counts)
    merged["cjk"] = merged.pop("han", 0) + merged.pop("kana", 0)  # Japanese mixes both
    merged = +merged
    return (max(merged, key=lambda s: (merged[s], s == "latin")) if merged else None), counts


def language_votes(text: str) -> dict[str, float]:
    """The function-word votes of each Latin-script language of :data:`FUNCTION_WORDS`
    for ``text`` (see the module doc), 0 for a language with none."""
    votes = dict.fromkeys(FUNCTION_WORDS, 0.0)
    for word in _WORD.findall(text.lower()):
        word = word.replace("\u2019", "'")
        listed = _LIST_COUNT.get(word, 0)
        if listed:
            for lang, words in FUNCTION_WORDS.items():
                if word in words:
                    votes[lang] += 1.0 / listed
        for lang, letters in _SPECIAL_LETTERS.items():
            if any(ch in letters for ch in word):
                votes[lang] += 0.5
    return votes


def detect_language(text: str) -> str | None:
    """The language code of ``text`` (a key of :data:`LANGUAGES`), or None when it cannot
    tell: no letters, Latin script without a function word, or a tie between languages."""
    script, counts = _dominant_script(text)
    if script is None:
        return None
    if script == "cjk":
        return "ja" if counts["kana"] else "zh"
    if script == "cyrillic":
        return "uk" if any(ch in _UKRAINIAN for ch in text) else "ru"
    if script != "latin":
        return _SCRIPT_LANGUAGE[script]
    votes = language_votes(text)
    best = max(votes.values())
    leaders = [lang for lang, v in votes.items() if v == best]
    return leaders[0] if best > 0 and len(leaders) == 1 else None


def in_language(text: str, language: str) -> bool:
    """Whether ``text`` may be in ``language``: False only when the check can tell it is
    another (see the module doc); a text without letters, or Latin script without a
    function word, passes."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    script, counts = _dominant_script(text)
    if script is None:
        return True
    wanted = _LANGUAGE_SCRIPT.get(language, "latin")
    if script != wanted:
        return False
    if script == "cjk":
        return (counts["kana"] > 0) == (language == "ja")
    if script == "cyrillic":
        return detect_language(text) == language
    if script != "latin":
        return True
    votes = language_votes(text)
    return votes[language] >= max(votes.values())
