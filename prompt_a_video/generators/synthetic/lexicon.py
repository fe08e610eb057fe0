"""The lexicon of the synthetic backbone: one phrase table over all word lists, tokens, and
inflections.

Tokens (the unit of a preset's token limit): one per run of letters/digits, any script
(an apostrophe suffix such as ``'s`` stays with its word: "bird's" is one token), and one
per other non-space character (",", ".", "-"...). "A dog, running." is 5 tokens. This is a simple,
documented stand-in for a text encoder's word pieces (T5/CLIP split rarer words further).

Inflections: a word is looked up as written, then through an irregular-form table
("ran" -> "run", "mice" -> "mouse"), then by stripping suffixes ("dogs", "boxes",
"puppies", "running", "danced", "jumped") and trying the stems against the table.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from prompt_a_video.generators.synthetic import words_subjects as ws
from prompt_a_video.generators.synthetic import words_world as ww

_TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[^\w\s]|_")


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens: words (with an ``'s``-style suffix) and single punctuation marks."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return _TOKEN_RE.findall(text)


@dataclass(frozen=True)
class Entry:
    """What a phrase means: ``category`` and the canonical ``name`` within it."""

    category: str  # subject | colour | action | scene | lighting | camera | style | quality |
    #                stability | shake | speed | relation | transition
    name: str


IRREGULAR_NOUNS = {
    "men": "man", "women": "woman", "children": "child", "people": "person", "mice": "mouse",
    "geese": "goose", "teeth": "tooth", "feet": "foot", "knives": "knife", "leaves": "leaf",
    "wolves": "wolf", "shelves": "shelf", "calves": "calf", "loaves": "bread", "cacti": "cactus",
    "fishes": "fish", "buses": "bus", "glasses": "glass", "skis": "skis", "scissors": "scissors",
    "grapes": "grapes", "fries": "fries", "noodles": "noodles", "dice": "dice", "sunglasses": "sunglasses",
    "canyons": "canyon", "policemen": "police officer", "firemen": "firefighter",
}

# Words that end a noun phrase (the unknown-noun heuristic) and never name a thing.
FUNCTION_WORDS = frozenset("""
a an the this that these those some any each every one two three four five six several many few
his her its their our my your and or but nor so yet as at by for from in into of off on onto out
over to up with without within through across along around about above below under beneath
between behind beside near while during after before until than like is are was were be been being
am has have had do does did will would can could should may might must it they he she we you i
them him us me who whom which whose what where when how not no there here very too also just
only even still all both either neither such own same other another then again once
""".split())
DETERMINERS = frozenset("a an the one two three four five some several many his her its their this that".split())
# Nouns that are not things to draw: the unknown-noun heuristic skips them.
ABSTRACT_NOUNS = frozenset("""
scene view shot frame image picture video clip footage background foreground backdrop moment sense
feeling mood atmosphere ambiance ambience touch hint side corner end top bottom left right middle
center centre edge part piece kind type sort lot bit number variety series row pair group way time
day era life world place area spot surface shade tone hue glow light color colour style perspective
composition detail texture pattern shape motion movement effect presence beauty charm air distance
horizon sight symbol testament relic reminder essence display array blend mix contrast layer focus
angle gradient silhouette reflection shadow tableau setting environment surroundings expression
energy design finish element elements interplay harmony sound aroma scent quality camera lens
viewer tranquility serenity joy love feel look use front back mid wonder story journey heart
architecture interior exterior wall floor ceiling ground bunch herd flock crowd collection cluster
head eye face hand arm leg tail fur hair ear beak wing feather paw nose mouth body skin finger
shoulder lap passage haven puzzle breeze wind flare sunshine weather outdoor indoor spring summer autumn
winter season morning afternoon evening
coat shirt tuxedo jacket sweater outfit suit sundress dress gown helmet visor spacesuit jeans scarf glove boot
attire clothes clothing uniform apron cloak robe sweatpants pants trousers skirt hoodie vest cap ponytail bun
beard mustache handle branch engine neck grip screen tire muscle tongue base blade petal trunk roof lid strap
button terrain expanse path trail shoreline earth slope promenade asphalt cobblestone countertop counter tile
wood structure figure form column elevation centerpiece labyrinth deck demeanor photograph cloud glint sparkle
""".split())
# Common adjectives and verbs without a telltale suffix, kept out of the unknown-noun heuristic.
NOT_NOUNS = frozenset("""
serene tranquil lush warm soft gentle rustic quaint vast tall small large big little old new young
ancient modern vintage elegant sleek delicate intricate majestic bustling cozy dim dark deep quiet
calm fresh clean rich subtle ornate grand lone single whole entire perfect rugged sturdy fluffy
plush shiny glossy smooth verdant cute happy sad huge tiny giant massive narrow wide long short
high low bare empty full open distant nearby solitary still wild proud brave curious fancy simple
minimalist thick worn ripe wooden compact against toward towards amid amidst upon reflect shimmer glisten
glow create capture cast feature show reveal sparkle stretch surround frame fill overlook face hold wear
""".split())
_ABSTRACT_SUFFIXES = ("ness", "ity", "ment", "tion", "sion", "ance", "ence", "ism", "ship", "hood", "dom")
_ADJECTIVE_SUFFIXES = ("ful", "ous", "ive", "ic", "al", "ed", "ing", "ish", "less", "able", "ible", "ly", "est")


def _add(table: dict, phrase: str, entry: Entry) -> None:
    key = tuple(tokenize_phrase(phrase))
    bucket = table.setdefault(key, [])
    if entry not in bucket:
        bucket.append(entry)


def tokenize_phrase(phrase: str) -> list[str]:
    """The words of a phrase as the matcher sees them (punctuation such as "-" dropped)."""
    return [t for t in tokenize(phrase) if t[0].isalnum()]


def _build_table() -> dict[tuple[str, ...], list[Entry]]:
    table: dict[tuple[str, ...], list[Entry]] = {}
    for group in ws.SUBJECT_KINDS.values():
        for name in group:
            _add(table, name, Entry("subject", name))
    for alias, name in ws.SUBJECT_ALIASES.items():
        _add(table, alias, Entry("subject", name))
    for name in ww.COLOURS:
        _add(table, name, Entry("colour", name))
    for alias, name in ww.COLOUR_ALIASES.items():
        _add(table, alias, Entry("colour", name))
    for name in ww.ACTIONS:
        _add(table, name, Entry("action", name))
    for alias, name in ww.ACTION_ALIASES.items():
        _add(table, alias, Entry("action", name))
    for name in ww.SCENES:
        _add(table, name, Entry("scene", name))
    for alias, name in ww.SCENE_ALIASES.items():
        _add(table, alias, Entry("scene", name))
    for name in ww.LIGHTING:
        _add(table, name, Entry("lighting", name))
    for alias, name in ww.LIGHTING_ALIASES.items():
        _add(table, alias, Entry("lighting", name))
    for phrase, move in ww.CAMERA.items():
        _add(table, phrase, Entry("camera", move))
    for phrase, style in ww.STYLE.items():
        _add(table, phrase, Entry("style", style))
    for category, words in (("quality", ww.QUALITY), ("stability", ww.STABILITY), ("shake", ww.SHAKE),
                            ("transition", ww.TRANSITIONS)):
        for phrase in words:
            _add(table, phrase, Entry(category, " ".join(tokenize_phrase(phrase))))
    for phrase in ww.SPEED:
        _add(table, phrase, Entry("speed", phrase))
    for phrase, relation in ww.RELATIONS.items():
        _add(table, phrase, Entry("relation", relation))
    return table


PHRASES: dict[tuple[str, ...], list[Entry]] = _build_table()
MAX_PHRASE_WORDS = max(len(k) for k in PHRASES)
_NOUN_CATEGORIES = frozenset({"subject", "scene", "colour"})
_PHRASE_STARTS = frozenset(k[0] for k in PHRASES if len(k) > 1)
SUBJECT_INFO: dict[str, tuple[str, str, str | None]] = {
    name: (kind, template, colour)
    for kind, group in ws.SUBJECT_KINDS.items()
    for name, (template, colour) in group.items()
}
"""canonical subject name -> (kind, template, default colour or None)"""


def _digest() -> str:
    """sha256 prefix of every word table: part of the generator's fingerprint, so that
    editing the lexicon invalidates cached renders (sets are sorted: their order is salted)."""
    tables = [ws.SUBJECT_KINDS, ws.SUBJECT_ALIASES, ww.COLOURS, ww.COLOUR_ALIASES, ww.ACTIONS, ww.ACTION_ALIASES,
              ww.ACTION_IRREGULAR, ww.SCENES, ww.SCENE_ALIASES, ww.SCENE_STYLES, ww.LIGHTING, ww.LIGHTING_ALIASES,
              ww.CAMERA, ww.STYLE, sorted(ww.QUALITY), sorted(ww.STABILITY), sorted(ww.SHAKE), ww.SPEED,
              ww.RELATIONS, sorted(ww.TRANSITIONS), IRREGULAR_NOUNS, sorted(FUNCTION_WORDS), sorted(ABSTRACT_NOUNS),
              sorted(NOT_NOUNS)]
    return hashlib.sha256(repr(tables).encode()).hexdigest()[:10]


LEXICON_DIGEST = _digest()


@lru_cache(maxsize=65536)
def lemma_candidates(word: str) -> tuple[str, ...]:
    """``word`` and the stems it may inflect from, most likely first (exact form first)."""
    out = [word]
    if word.endswith("'s"):
        word = word[:-2]
        out.append(word)
    for table in (IRREGULAR_NOUNS, ww.ACTION_IRREGULAR):
        if word in table:
            out.append(table[word])
    n = len(word)
    if n > 3 and word.endswith("s") and not word.endswith("ss"):
        if word.endswith("ies") and n > 4:
            out.append(word[:-3] + "y")
        if word.endswith("es"):
            out.append(word[:-2])
        out.append(word[:-1])
    if n > 4 and word.endswith("ing"):
        stem = word[:-3]
        out += [stem, stem + "e"]
        if len(stem) > 2 and stem[-1] == stem[-2]:
            out.append(stem[:-1])
        if stem.endswith("y"):
            out.append(stem[:-1] + "ie")
    if n > 3 and word.endswith("ed"):
        stem = word[:-2]
        out += [stem, word[:-1]]
        if len(stem) > 2 and stem[-1] == stem[-2]:
            out.append(stem[:-1])
        if stem.endswith("i"):
            out.append(stem[:-1] + "y")
    seen: list[str] = []
    for w in out:
        if w and w not in seen:
            seen.append(w)
    return tuple(seen)


def is_derived(word: str, lemma: str) -> bool:
    """True when ``word`` is a verb form (-ing/-ed) of ``lemma``: verbs win ties then."""
    return word != lemma and (word.endswith("ing") or word.endswith("ed"))


def looks_adjectival(word: str) -> bool:
    """Crude test used to keep adjectives (and common verbs) out of the unknown-noun heuristic."""
    return word in NOT_NOUNS or word.endswith(_ADJECTIVE_SUFFIXES) or (word.endswith("y") and len(word) > 4)


def looks_abstract(word: str) -> bool:
    """True for nouns that name no drawable thing ("scene", "beauty", "elegance")."""
    return word in ABSTRACT_NOUNS or singular(word) in ABSTRACT_NOUNS or word.endswith(_ABSTRACT_SUFFIXES)


def singular(word: str) -> str:
    """A best-effort singular of an unknown noun ("zorblaxes" -> "zorblax")."""
    if word.endswith("'s"):
        word = word[:-2]
    if word in IRREGULAR_NOUNS:
        return IRREGULAR_NOUNS[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("xes", "ches", "shes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def match_at(words: list[str | None], i: int) -> tuple[int, list[Entry], str] | None:
    """The longest phrase starting at ``words[i]``: (length, entries, matched lemma of the
    last word). ``None`` entries in ``words`` are clause boundaries and never match."""
    first = words[i]
    if first is None:
        return None
    first_cands = lemma_candidates(first)
    if any(c in _PHRASE_STARTS for c in first_cands):
        for n in range(min(MAX_PHRASE_WORDS, len(words) - i), 1, -1):
            span = words[i:i + n]
            if any(w is None for w in span):
                continue
            found = _match_span(span)
            if found is not None:
                return n, found[0], found[1]
    for cand in first_cands:
        entries = PHRASES.get((cand,))
        if entries and is_derived(first, cand):
            # "mirrored", "boxing": a verb form names an action (or a style...), never a thing
            entries = [e for e in entries if e.category not in _NOUN_CATEGORIES]
        if entries:
            return 1, _prefer(first, cand, entries), cand
    return None


def _match_span(span: list[str]) -> tuple[list[Entry], str] | None:
    """Match a multi-word span, trying inflections of each word (exact forms first)."""
    def rec(k: int, prefix: tuple[str, ...]):
        if k == len(span):
            entries = PHRASES.get(prefix)
            return (entries, prefix[-1]) if entries else None
        for cand in lemma_candidates(span[k]):
            hit = rec(k + 1, prefix + (cand,))
            if hit:
                return hit
        return None
    return rec(0, ())


def _prefer(word: str, lemma: str, entries: list[Entry]) -> list[Entry]:
    """Order the entries of an ambiguous word: a verb form (-ing/-ed) is an action first,
    a bare word a subject first."""
    if len(entries) < 2:
        return entries
    verb_first = is_derived(word, lemma)
    return sorted(entries, key=lambda e: (e.category != "action") if verb_first else (e.category == "action"))
