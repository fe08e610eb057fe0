"""CompositeReward: several rewards, one weighted aggregate with per-dimension floors."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from prompt_a_video.rewards.base import Reward, Scores
from prompt_a_video.rewards.presets import get_preset
from prompt_a_video.video import Video

RESERVED = ("reward", "passes_floors")


def text_members() -> list[Reward]:
    """The six text-quality and intent rewards every preset floors (REP, FLU, LEAK, INT, LEX, TAG)."""
    from prompt_a_video.rewards import text

    return [text.RepetitionReward(), text.FluencyReward(), text.LeakageReward(), text.IntentReward(),
            text.LexiconReward(), text.TagListReward()]


def _fmt(d: Mapping) -> str:
    return "{" + ",".join(f"{k}:{d[k]!r}" for k in sorted(d)) + "}"


class CompositeReward(Reward):
    """Runs its ``members`` and aggregates their dimensions.

    Returns every member dimension (raw, in the member's own scale) plus:

    - ``reward = sum_d weights[d] * n_d(score_d)``, where ``n_d`` maps ``normalize[d] =
      (lo, hi)`` linearly onto ``[0, 1]`` (clamped) for the dimensions listed there and is
      the identity for the others;
    - ``passes_floors``: 1.0 when every ``score_d > floors[d]`` (strict, on the RAW scores,
      as the paper writes its floors), else 0.0.

    An item that fails in any member fails here: NaN in every dimension, with the members'
    reasons joined by ``"; "``. A dimension named in ``weights``, ``floors`` or
    ``normalize`` that no member provides is a ValueError at construction naming the
    dimension and each member's dimensions; so is a dimension two members provide.

    ``preset`` (``evolution``, ``pair_filtering``, ``offline``; see
    :mod:`prompt_a_video.rewards.presets`) supplies weights, floors and normalisation;
    explicit ``weights``/``floors``/``normalize`` replace the preset's (``{}`` removes
    its floors). Without a preset, ``weights`` is required.
    """

    VERSION = 1

    def __init__(
        self,
        members: list[Reward],
        weights: dict[str, float] | None = None,
        floors: dict[str, float] | None = None,
        normalize: dict[str, tuple[float, float]] | None = None,
        preset: str | None = None,
    ) -> None:
        base = get_preset(preset) if preset else None
        if weights is None:
            if base is None:
                raise ValueError("CompositeReward: give `weights` or a `preset`")
            weights = base.weights
        if floors is None:
            floors = base.floors if base else {}
        if normalize is None:
            normalize = base.normalize if base else {}
        self.members = list(members)
        self.weights = {d: float(w) for d, w in weights.items()}
        self.floors = {d: float(f) for d, f in floors.items()}
        self.normalize = {d: (float(lo), float(hi)) for d, (lo, hi) in normalize.items()}
        self.preset = preset
        self._validate()
        member_dims = tuple(d for m in self.members for d in m.dimensions)
        self.dimensions = member_dims + RESERVED

    # --- presets --------------------------------------------------------------------
    @classmethod
    def evolution(cls, members: list[Reward], **overrides) -> CompositeReward:
        """The paper's evolution aggregate: ``VQ + TC + 0.5*DD + FC + TVA + AES*5/8 + MPS/4``."""
        return cls(members, preset="evolution", **overrides)

    @classmethod
    def pair_filtering(cls, members: list[Reward], **overrides) -> CompositeReward:
        """The paper's pair filter: ``VQ + TC + FC + 1.1*DD + 1.3*TVA + 0.8*AES + MPS/3`` with its floors."""
        return cls(members, preset="pair_filtering", **overrides)

    @classmethod
    def offline(cls, members: list[Reward] | None = None, **overrides) -> CompositeReward:
        """``VQ + TC + 0.5*DD + 1.3*TVA`` (floors PF>0.35, TVA>0.5 and the text floors) over the
        offline rewards.

        ``members`` defaults to the five offline rewards and the six text rewards with
        their default settings.
        """
        if members is None:
            from prompt_a_video.rewards import offline as off
            members = [
                off.VisualQualityReward(), off.TemporalConsistencyReward(), off.DynamicDegreeReward(),
                off.PromptFidelityReward(), off.SceneAlignmentReward(), *text_members(),
            ]
        return cls(members, preset="offline", **overrides)

    # --- construction checks ----------------------------------------------------------
    def _members_text(self) -> str:
        return "; ".join(f"{type(m).__name__} -> {list(m.dimensions)}" for m in self.members)

    def _validate(self) -> None:
        if not self.members:
            raise ValueError("CompositeReward.members is empty")
        owner: dict[str, str] = {}
        for m in self.members:
            if not isinstance(m, Reward):
                raise TypeError(f"CompositeReward.members: {type(m).__name__} is not a Reward")
            for d in m.dimensions:
                if d in RESERVED:
                    raise ValueError(f"CompositeReward: member {type(m).__name__} provides reserved dimension {d!r}")
                if d in owner:
                    raise ValueError(
                        f"CompositeReward: dimension {d!r} is provided by both {owner[d]} and {type(m).__name__}"
                    )
                owner[d] = type(m).__name__
        for field, table in (("weights", self.weights), ("floors", self.floors), ("normalize", self.normalize)):
            missing = sorted(d for d in table if d not in owner)
            if missing:
                raise ValueError(
                    f"CompositeReward.{field} names dimension(s) {missing} that no member provides "
                    f"(members: {self._members_text()})"
                )
            for d, value in table.items():
                values = value if isinstance(value, tuple) else (value,)
                if not all(math.isfinite(v) for v in values):
                    raise ValueError(f"CompositeReward.{field}[{d!r}] must be finite, got {value}")
        if not self.weights:
            raise ValueError("CompositeReward.weights is empty")
        for d, (lo, hi) in self.normalize.items():
            if not hi > lo:
                raise ValueError(f"CompositeReward.normalize[{d!r}] = ({lo}, {hi}): need lo < hi")

    # --- the Reward interface -----------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        members = " + ".join(m.fingerprint for m in self.members)
        norm = {d: list(v) for d, v in self.normalize.items()}
        return (
            f"CompositeReward/v{self.VERSION}[{members}]"
            f"(weights={_fmt(self.weights)},floors={_fmt(self.floors)},normalize={_fmt(norm)})"
        )

    def combine(self, scores: Mapping[str, torch.Tensor | float]) -> dict[str, torch.Tensor]:
        """``reward`` and ``passes_floors`` from per-dimension scores (tensors of one shape, or floats).

        Useful to re-aggregate stored scores (e.g. an evolved pool) under other weights
        without rendering again. Returns the inputs (as float tensors) plus the two keys.
        A NaN input gives a NaN ``reward`` and ``passes_floors = 0``.
        """
        missing = sorted((set(self.weights) | set(self.floors)) - set(scores))
        if missing:
            raise KeyError(f"CompositeReward.combine: scores lack dimensions {missing} (have {sorted(scores)})")
        values = {d: torch.as_tensor(v, dtype=torch.float32) for d, v in scores.items()}
        reward = torch.zeros_like(values[next(iter(self.weights))])
        for d, w in self.weights.items():
            x = values[d]
            if d in self.normalize:
                lo, hi = self.normalize[d]
                x = ((x - lo) / (hi - lo)).clamp(0.0, 1.0)  # clamp keeps NaN as NaN
            reward = reward + w * x
        passes = torch.ones_like(reward, dtype=torch.bool)
        for d, floor in self.floors.items():
            passes &= values[d] > floor  # strict, as the paper writes it; NaN fails
        return {**values, "reward": reward, "passes_floors": passes.float()}

    def score(self, videos: list[Video], prompts: list[str]) -> Scores:
        """Score with every member (each isolates its own failures), then aggregate."""
        if len(videos) != len(prompts):
            raise ValueError(f"CompositeReward.score: {len(videos)} videos but {len(prompts)} prompts")
        n = len(videos)
        if n == 0:
            return Scores({d: torch.empty(0) for d in self.dimensions})
        merged: dict[str, torch.Tensor] = {}
        reasons: dict[int, list[str]] = {}
        for m in self.members:
            s = m.score(videos, prompts)
            for d in m.dimensions:
                merged[d] = torch.as_tensor(s[d], dtype=torch.float32).reshape(-1).clone()
            for i, reason in s.failures.items():
                reasons.setdefault(i, []).append(reason)
        out = {d: v.clone() for d, v in self.combine(merged).items()}
        for i in reasons:
            for v in out.values():
                v[i] = float("nan")
        return Scores(out, failures={i: "; ".join(r) for i, r in sorted(reasons.items())})

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        return dict(self.score(videos, prompts))
