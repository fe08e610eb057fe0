"""The text checks on plain strings: the refiner's guard and the evaluation's rates.

The same measures and floors as the text rewards (``TEXT_FLOORS``), with no video:

- **degenerate**: ``REP <= floor`` (repeated words or phrases), ``FLU <= floor`` (when a
  fluency LM is given), or an empty rewrite;
- **leaked**: ``LEAK <= floor`` (echoed instructions, chat markup, assistant talk);
- **intent kept**: ``INT > floor`` (the original's content words are still there).

A rewrite *passes* when it is neither degenerate nor leaked and keeps the intent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prompt_a_video.rewards.text.intent import intent_score, missing_words
from prompt_a_video.rewards.text.leakage import default_instructions, leakage_score
from prompt_a_video.rewards.text.repetition import repetition_score


@dataclass(frozen=True)
class TextVerdict:
    """What the checks found in one rewrite."""

    scores: dict[str, float]
    degenerate: bool
    leaked: bool
    intent_kept: bool
    reasons: tuple[str, ...] = field(default=())

    @property
    def passes(self) -> bool:
        return not self.degenerate and not self.leaked and self.intent_kept

    def rank_key(self) -> tuple[float, float, float]:
        """Higher is better among passing rewrites: more intent kept, less repetition, more fluent."""
        s = self.scores
        return (s.get("INT", 0.0), s.get("REP", 0.0), s.get("FLU", 0.0))


class TextChecks:
    """Checks rewrites of originals against ``floors``.

    Args:
        floors: ``{"REP", "LEAK", "INT"[, "FLU"]}`` strict floors; default ``TEXT_FLOORS``.
        fluency: a :class:`~prompt_a_video.rewards.text.fluency.FluencyScorer`, an LM name
            or folder for one, or None to skip fluency (no LM loaded: the guard's default).
        instructions: instruction texts for leakage (default: the project's own).
    """

    def __init__(self, floors: Mapping[str, float] | None = None, fluency=None,
                 instructions: list[str] | None = None) -> None:
        from prompt_a_video.rewards.text import TEXT_FLOORS
        from prompt_a_video.rewards.text.fluency import FluencyScorer

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
        scores = {"REP": repetition_score(rewrite), "LEAK": leakage_score(rewrite, original, self.instructions),
                  "INT": intent_score(original, rewrite)}
        if flu is not None:
            scores["FLU"] = max(float(flu), -100.0)
        reasons = []
        degenerate = not rewrite.strip()
        if degenerate:
            reasons.append("empty rewrite")
        if "REP" in f and not scores["REP"] > f["REP"]:
            degenerate = True
            reasons.append(f"repeats itself (REP {scores['REP']:.2f} <= {f['REP']:g})")
        if flu is not None and "FLU" in f and not scores["FLU"] > f["FLU"]:
            degenerate = True
            reasons.append(f"not fluent (FLU {scores['FLU']:.2f} <= {f['FLU']:g})")
        leaked = "LEAK" in f and not scores["LEAK"] > f["LEAK"]
        if leaked:
            reasons.append(f"echoes instructions (LEAK {scores['LEAK']:.2f} <= {f['LEAK']:g})")
        kept = not ("INT" in f and not scores["INT"] > f["INT"])
        if not kept:
            lost = ", ".join(missing_words(original, rewrite)[:6])
            reasons.append(f"loses the user's content (INT {scores['INT']:.2f} <= {f['INT']:g}: {lost})")
        return TextVerdict(scores, degenerate, leaked, kept, tuple(reasons))
