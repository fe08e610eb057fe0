"""Pair rules: which (chosen, rejected) preference pairs a prompt's scored candidates give.

Stage 3 of the method (DESIGN.md): the SFT refiner samples N rewrites of a prompt, each
is rendered and scored against the ORIGINAL prompt, and a rule turns the scored
candidates into :class:`~prompt_a_video.data.PreferencePair` records for DPO. A rule is
chosen in YAML by ``class_path`` (``rule:`` of `pav pairs`); its ``__init__`` is its
config. Two rules:

- :class:`PaperPairRule`: the paper's filter (top-2 chosen above per-dimension floors,
  paired with every candidate lower by more than a margin, long answers not chosen);
- :class:`BestVsWorstRule`: one pair per prompt, the best against the worst.

Every rule ignores failed candidates (NaN reward or a NaN score: a render or a reward
failed): they are never chosen nor rejected, so a crash is not learned as "bad prompt".
Identical texts (sampling repeats itself) count once, with their best score.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from prompt_a_video.data import PreferencePair

__all__ = ["ScoredCandidate", "PairRule", "PaperPairRule", "BestVsWorstRule", "usable_candidates"]

# Keys of a CompositeReward's output that are not score dimensions.
_NOT_DIMENSIONS = ("reward", "passes_floors")


@dataclass
class ScoredCandidate:
    """A candidate rewrite of a prompt, rendered and scored against the original prompt.

    Attributes:
        text: the candidate prompt (what was rendered).
        scores: ``{dimension: score}`` in each reward's raw scale (VideoScore 1-4, AES 1-10,
            offline [0, 1]...), the mean over the render seeds; NaN = failed.
        reward: the aggregate reward (mean over seeds); NaN = failed.
        passes_floors: whether the reward's own floors were cleared (every seed, when
            several), or None when the reward has no floors to report.
        seeds: how many render seeds the scores average.
    """

    text: str
    scores: dict[str, float] = field(default_factory=dict)
    reward: float = float("nan")
    passes_floors: bool | None = None
    seeds: int = 1

    @property
    def failed(self) -> bool:
        values = [self.reward, *self.scores.values()]
        return any(v is None or not math.isfinite(v) for v in values)

    def dimension_scores(self) -> dict[str, float]:
        """The per-dimension scores as written to a pair (no aggregate keys)."""
        return {d: float(v) for d, v in self.scores.items() if d not in _NOT_DIMENSIONS}


def usable_candidates(candidates: list[ScoredCandidate]) -> list[ScoredCandidate]:
    """Candidates that did not fail, one per distinct text (the best-scored), best first.

    Ties keep the order given (``sorted`` is stable), so the result is deterministic.
    """
    best: dict[str, ScoredCandidate] = {}
    for c in candidates:
        text = c.text.strip()
        if not text or c.failed:
            continue
        if text not in best or c.reward > best[text].reward:
            best[text] = c
    return sorted(best.values(), key=lambda c: c.reward, reverse=True)


def make_pair(prompt: str, chosen: ScoredCandidate, rejected: ScoredCandidate) -> PreferencePair:
    return PreferencePair(prompt, chosen.text.strip(), rejected.text.strip(), float(chosen.reward),
                          float(rejected.reward), chosen.dimension_scores(), rejected.dimension_scores())


class PairRule(ABC):
    """Turns one prompt's scored candidates into preference pairs."""

    @abstractmethod
    def pairs(self, prompt: str, candidates: list[ScoredCandidate]) -> list[PreferencePair]:
        """The pairs of ``prompt`` (the ORIGINAL user prompt), chosen first in rank order."""

    @property
    def description(self) -> str:
        """A one-line summary for logs."""
        return type(self).__name__

    def check_dimensions(self, dimensions: tuple[str, ...]) -> None:
        """Raise ValueError if the rule needs score dimensions the reward does not give
        (called before anything is sampled or rendered)."""


class PaperPairRule(PairRule):
    """The paper's pair filter.

    Candidates are ranked by aggregate reward. The top ``top_chosen`` (1 and 2) may be
    chosen if every floored dimension is strictly above its floor (``score > floor``, on
    the raw scores, averaged over seeds) and the text has at most ``max_chosen_words``
    words (a longer one is dropped as chosen: DPO would teach length). Each chosen is
    paired with every LOWER-ranked candidate whose aggregate is lower by strictly more
    than ``margin``; rejected candidates need not clear the floors. Only rank positions
    1..top_chosen are considered: a top candidate that fails the floors or the length
    limit leaves its slot empty, the third is not promoted. The two chosen may both pair
    with the same rejected; the second may itself be rejected against the first.

    Args:
        margin: minimum aggregate gap, exclusive. The paper's 1.4 is on the scale of its
            pair-filtering aggregate (VideoScore 1-4 dims, AES 1-10, MPS), whose total
            spans roughly 10-25; scale it for other rewards (the offline aggregate spans
            0-3.8).
        max_chosen_words: longest chosen text, in whitespace-separated words.
        top_chosen: how many of the top-ranked candidates may be chosen.
        floors: ``{dimension: floor}``, strict; None: the ``pair_filtering`` preset's
            floors (VQ>2.6, TC>2.6, FC>2.55, AES>5.5, TVA>2.9, MPS>8.5, DD>2.65, and the
            text floors REP>0.75, FLU>-8.5, LEAK>0.8, INT>0.7, LEX>0.5, TAG>0.5: a degenerate rewrite
            is never chosen);
            ``{}``: no floors. A floored dimension missing from the scores is an error
            (the floors do not fit the reward), not a silent "no pair".
    """

    def __init__(self, margin: float = 1.4, max_chosen_words: int = 130, top_chosen: int = 2,
                 floors: dict[str, float] | None = None) -> None:
        if not math.isfinite(margin) or margin < 0:
            raise ValueError(f"PaperPairRule.margin must be a finite number >= 0, got {margin}")
        if max_chosen_words < 1:
            raise ValueError(f"PaperPairRule.max_chosen_words must be >= 1, got {max_chosen_words}")
        if top_chosen < 1:
            raise ValueError(f"PaperPairRule.top_chosen must be >= 1, got {top_chosen}")
        if floors is None:
            from prompt_a_video.rewards.presets import get_preset

            floors = get_preset("pair_filtering").floors
        self.margin = float(margin)
        self.max_chosen_words = int(max_chosen_words)
        self.top_chosen = int(top_chosen)
        self.floors = {d: float(f) for d, f in floors.items()}

    @property
    def description(self) -> str:
        floors = ",".join(f"{d}>{f:g}" for d, f in sorted(self.floors.items())) or "none"
        return (f"PaperPairRule(margin>{self.margin:g}, top {self.top_chosen} chosen, "
                f"<= {self.max_chosen_words} words, floors {floors})")

    def check_dimensions(self, dimensions: tuple[str, ...]) -> None:
        missing = sorted(d for d in self.floors if d not in dimensions)
        if missing:
            raise ValueError(f"PaperPairRule.floors name dimension(s) {missing} that the reward does not give "
                             f"(it gives {list(dimensions)}); the default floors are the paper's "
                             "(VideoScore/AES/MPS): set `floors` for your reward, e.g. {PF: 0.35, TVA: 0.5} offline")

    def clears_floors(self, candidate: ScoredCandidate) -> bool:
        missing = sorted(d for d in self.floors if d not in candidate.scores)
        if missing:
            raise KeyError(f"PaperPairRule.floors name dimension(s) {missing} that the candidate scores lack "
                           f"(have {sorted(candidate.scores)}); set `floors` to dimensions of your reward")
        return all(candidate.scores[d] > floor for d, floor in self.floors.items())

    def can_be_chosen(self, candidate: ScoredCandidate) -> bool:
        return len(candidate.text.split()) <= self.max_chosen_words and self.clears_floors(candidate)

    def pairs(self, prompt: str, candidates: list[ScoredCandidate]) -> list[PreferencePair]:
        ranked = usable_candidates(candidates)
        out: list[PreferencePair] = []
        for i, chosen in enumerate(ranked[:self.top_chosen]):
            if not self.can_be_chosen(chosen):
                continue
            out += [make_pair(prompt, chosen, lower) for lower in ranked[i + 1:]
                    if chosen.reward - lower.reward > self.margin]
        return out


class BestVsWorstRule(PairRule):
    """One pair per prompt: the best candidate against the worst.

    Args:
        margin: the pair is kept only if best - worst > margin (strict: equal rewards
            never make a pair).
        require_floors: the chosen must clear the reward's own floors
            (``passes_floors`` of a CompositeReward, e.g. the offline preset's PF > 0.35,
            TVA > 0.5): the chosen is then the best candidate that clears them.
    """

    def __init__(self, margin: float = 0.0, require_floors: bool = False) -> None:
        if not math.isfinite(margin) or margin < 0:
            raise ValueError(f"BestVsWorstRule.margin must be a finite number >= 0, got {margin}")
        self.margin = float(margin)
        self.require_floors = bool(require_floors)

    @property
    def description(self) -> str:
        return f"BestVsWorstRule(margin>{self.margin:g}{', floors required' if self.require_floors else ''})"

    def pairs(self, prompt: str, candidates: list[ScoredCandidate]) -> list[PreferencePair]:
        ranked = usable_candidates(candidates)
        if len(ranked) < 2:
            return []
        eligible = ranked
        if self.require_floors:
            if any(c.passes_floors is None for c in ranked):
                raise ValueError("BestVsWorstRule(require_floors=True) needs a reward that reports "
                                 "`passes_floors` (a CompositeReward with floors)")
            eligible = [c for c in ranked if c.passes_floors]
        if not eligible:
            return []
        best, worst = eligible[0], ranked[-1]
        if best is worst or not best.reward - worst.reward > self.margin:
            return []
        return [make_pair(prompt, best, worst)]
