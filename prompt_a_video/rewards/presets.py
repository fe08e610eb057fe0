"""Named weightings of the composite reward: the paper's two formulas and an offline one.

A preset is data (weights, floors, normalisation); :class:`~prompt_a_video.rewards.composite.CompositeReward`
applies it. Dimension names follow VideoScore (``VQ`` visual quality, ``TC`` temporal
consistency, ``DD`` dynamic degree, ``TVA`` text-video alignment, ``FC`` factual
consistency, each on 1-4), the LAION aesthetic predictor (``AES``, 1-10) and MPS
(``MPS``); the paper's floors are on those raw scales. ``PF`` is the offline prompt
fidelity (``[0, 1]``).

Every preset also floors the text-quality and intent dimensions (``TEXT_FLOORS`` of
:mod:`prompt_a_video.rewards.text`: ``REP`` repetition, ``FLU`` fluency, ``LEAK``
instruction leakage, ``INT`` intent kept, ``LEX`` no coined words, ``TAG`` no tag dump),
so no stage can buy reward with degenerate text: a composite built from a preset needs
those six rewards among its members.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prompt_a_video.rewards.text import TEXT_FLOORS

_TEXT = ", text floors REP>0.75, FLU>-8.5, LEAK>0.8, INT>0.7, LEX>0.5, TAG>0.5"


@dataclass(frozen=True)
class Preset:
    """Weights, strict floors (``score > floor``) and optional ``[lo, hi]`` normalisation per dimension."""

    name: str
    weights: dict[str, float]
    floors: dict[str, float] = field(default_factory=dict)
    normalize: dict[str, tuple[float, float]] = field(default_factory=dict)
    description: str = ""

    def weighted_sum(self, scores: dict[str, float]) -> float:
        """``sum(weight x score)`` over the preset's dimensions, on scores already on their
        scales (no normalisation, no floors): how the paper ranks logged candidates. A
        dimension ``scores`` lacks raises ``KeyError`` naming it."""
        return sum(weight * scores[dimension] for dimension, weight in self.weights.items())


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "evolution",
            weights={"VQ": 1.0, "TC": 1.0, "DD": 0.5, "FC": 1.0, "TVA": 1.0, "AES": 5 / 8, "MPS": 1 / 4},
            floors=dict(TEXT_FLOORS),
            description="reward-guided evolution: VQ + TC + 0.5*DD + FC + TVA + AES*5/8 + MPS/4 (the paper's: "
                        "no floors)" + _TEXT,
        ),
        Preset(
            "pair_filtering",
            weights={"VQ": 1.0, "TC": 1.0, "FC": 1.0, "DD": 1.1, "TVA": 1.3, "AES": 0.8, "MPS": 1 / 3},
            floors={"VQ": 2.6, "TC": 2.6, "FC": 2.55, "AES": 5.5, "TVA": 2.9, "MPS": 8.5, "DD": 2.65, **TEXT_FLOORS},
            description=(
                "DPO pair filtering: VQ + TC + FC + 1.1*DD + 1.3*TVA + 0.8*AES + MPS/3, floors "
                "VQ>2.6, TC>2.6, FC>2.55, AES>5.5, TVA>2.9, MPS>8.5, DD>2.65" + _TEXT
            ),
        ),
        # The evolution formula on the offline dimensions, all in [0, 1], with TVA weighted
        # up as in pair filtering (on the synthetic backbone it is the dimension a prompt
        # changes most directly). PF is a floor, not a weight: the original prompt scores
        # PF = 1 by construction, so any PF weight pays the refiner for not refining (with
        # PF weighted 1.0, 92 of the 94 seed pairs of experiments/data/make_seed_pairs.py
        # chose the unrefined original). The floor PF > 0.35 sits between real rewrites
        # and unrelated prompts (all-MiniLM-L6-v2 on 100 VBench prompts: GPT-4o rewrites
        # mean 0.65, 5th percentile 0.48; pairs of different prompts mean 0.15, 95th
        # percentile 0.35); TVA > 0.5 rejects renders that lost half of what was asked.
        Preset(
            "offline",
            weights={"VQ": 1.0, "TC": 1.0, "DD": 0.5, "TVA": 1.3},
            floors={"PF": 0.35, "TVA": 0.5, **TEXT_FLOORS},
            description=(
                "offline rewards on the synthetic backbone: VQ + TC + 0.5*DD + 1.3*TVA, "
                "floors PF>0.35, TVA>0.5" + _TEXT
            ),
        ),
    )
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown composite reward preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]
