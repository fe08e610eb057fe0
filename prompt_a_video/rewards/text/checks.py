"""The text checks on plain strings: the refiner's guard and the evaluation's rates.

The same measures and floors as the text rewards (``TEXT_FLOORS``), with no video:

- **degenerate**: ``REP <= floor`` (repeated words or phrases), ``LEX <= floor`` (coined
  words), ``TAG <= floor`` (a tag dump), ``FLU <= floor`` (when a fluency LM is given), or
  an empty rewrite;
- **leaked**: ``LEAK <= floor`` (echoed instructions, chat markup, assistant talk);
- **intent kept**: ``INT > floor`` (the original's content words are still there);
- **language** (with ``language`` set: the refiner's guard): the rewrite is in that
  language (:func:`~prompt_a_video.rewards.language.in_language`).

A rewrite *passes* when it is neither degenerate nor leaked, keeps the intent and, when
a language is set, is in it.

``INT`` compares words, so it cannot judge a translation: when the original is (by
:func:`~prompt_a_video.rewards.language.detect_language`) in another language than
the one asked for, intent is not checked and the verdict says so in ``notes``; the
other checks, language included, still apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prompt_a_video.rewards.text.intent import intent_score, missing_words
from prompt_a_video.rewards.language import detect_language, in_language, language_name
from prompt_a_video.rewards.text.leakage import default_instructions, leakage_score
from prompt_a_video.rewards.text.lexicon import coined_words, score_of
from prompt_a_video.rewards.text.repetition import repetition_score
from prompt_a_video.rewards.text.tag_list import list_shape, score_of as tag_score_of


@dataclass(frozen=True)
class TextVerdict:
    """What the checks found in one rewrite."""

    scores: dict[str, float]
    degenerate: bool
    leaked: bool
    intent_kept: bool
    reasons: tuple[str, ...] = field(default=())
    wrong_language: bool = False  # not in the language the checks ask for
    notes: tuple[str, ...] = field(default=())  # what was not checked, and why

    @property
    def passes(self) -> bool:
        return not self.degenerate and not self.leaked and self.intent_kept and not self.wrong_language

    def rank_key(self) -> tuple[float, float, float]:
        """Higher is better among passing rewrites: more intent kept, less repetition, more fluent."""
        s = self.scores
        return (s.get("INT", 0.0), s.get("REP", 0.0), s.get("FLU", 0.0))


class TextChecks:
    """Checks rewrites of originals against ``floors``.

    Args:
        floors: ``{"REP", "LEAK", "INT", "LEX", "TAG"[, "FLU"]}`` strict floors; default ``TEXT_FLOORS``.
        fluency: a :class:`~prompt_a_video.rewards.text.fluency.FluencyScorer`, an LM name
            or folder for one, or None to skip fluency (no LM loaded: the guard's default).
        instructions: instruction texts for leakage (default: the project's own).
        language: the language every rewrite must be in (a key of
            :data:`~prompt_a_video.rewards.language.LANGUAGES`), or None: not checked.
    """

    def __init__(self, floors: Mapping[str, float] | None = None, fluency=None,
                 instructions: list[str] | None = None, language: str | None = None) -> None:
        from prompt_a_video.rewards.text import TEXT_FLOORS
        from prompt_a_video.rewards.text.fluency import FluencyScorer
        from prompt_a_video.rewards.language import LANGUAGES

        if language is not None and language not in LANGUAGES:
            raise ValueError(f"TextChecks: language must be one of {', '.join(LANGUAGES)}, got {language!r}")
        self.language = language
        self.floors = dict(TEXT_FLOORS if floors is None else floors)
        self.fluency = FluencyScorer(fluency) if isinstance(fluency, str) else fluency
        self.instructions = default_instructions() if instructions is None else list(instructions)

    def __call__(self, originals: list[str], rewrites: list[str]) -> list[TextVerdict]:
        if len(originals) != len(rewrites):
            raise ValueError(f"TextChecks: {len(originals)} originals but {len(rewrites)} rewrites")
        fluency = self.fluency(list(rewrites)).tolist() if self.fluency is not None and rewrites else None
        return [self._one(o, r, None if fluency is None else fluency[i])
                for i, (o, r) in enumerate(zip(originals, rewrites))]

    def check(self, original: str, rewrite: str) -> TextVerdict:
        return self([original], [rewrite])[0]

    def _one(self, original: str, rewrite: str, flu: float | None) -> TextVerdict:
        f = self.floors
        source = detect_language(original) if self.language is not None else None
        translated = source is not None and source != self.language
        coined, (run, items) = coined_words(original, rewrite), list_shape(original, rewrite)
        scores = {"REP": repetition_score(rewrite), "LEAK": leakage_score(rewrite, original, self.instructions),
                  "LEX": score_of(coined), "TAG": tag_score_of(run, items)}
        notes = ()
        if translated:
            notes = (f"intent not checked: the prompt is in {language_name(source)}, the rewrite asked for in "
                     f"{language_name(self.language)} (INT compares words)",)
        else:
            scores["INT"] = intent_score(original, rewrite)
        if flu is not None:
            scores["FLU"] = max(float(flu), -100.0)
        reasons = []
        degenerate = not rewrite.strip()
        if degenerate:
            reasons.append("empty rewrite")
        if "REP" in f and not scores["REP"] > f["REP"]:
            degenerate = True
            reasons.append(f"repeats itself (REP {scores['REP']:.2f} <= {f['REP']:g})")
        if "LEX" in f and not scores["LEX"] > f["LEX"]:
            degenerate = True
            reasons.append(f"coins words (LEX {scores['LEX']:.2f} <= {f['LEX']:g}: {', '.join(coined[:6])})")
        if "TAG" in f and not scores["TAG"] > f["TAG"]:
            degenerate = True
            shape = (f"a run of {run} short comma items" if tag_score_of(run) <= tag_score_of(0, items)
                     else f"a sentence of {items} comma items")
            reasons.append(f"dumps a list (TAG {scores['TAG']:.2f} <= {f['TAG']:g}: {shape})")
        if flu is not None and "FLU" in f and not scores["FLU"] > f["FLU"]:
            degenerate = True
            reasons.append(f"not fluent (FLU {scores['FLU']:.2f} <= {f['FLU']:g})")
        leaked = "LEAK" in f and not scores["LEAK"] > f["LEAK"]
        if leaked:
            reasons.append(f"echoes instructions (LEAK {scores['LEAK']:.2f} <= {f['LEAK']:g})")
        kept = translated or not ("INT" in f and not scores["INT"] > f["INT"])
        if not kept:
            lost = ", ".join(missing_words(original, rewrite)[:6])
            reasons.append(f"loses the user's content (INT {scores['INT']:.2f} <= {f['INT']:g}: {lost})")
        wrong_language = self.language is not None and bool(rewrite.strip()) and not in_language(rewrite,
                                                                                                 self.language)
        if wrong_language:
            found = detect_language(rewrite)
            reads = f"reads as {language_name(found)}" if found else "another language or script"
            reasons.append(f"not in {language_name(self.language)} ({reads})")
        return TextVerdict(scores, degenerate, leaked, kept, tuple(reasons), wrong_language, notes)
