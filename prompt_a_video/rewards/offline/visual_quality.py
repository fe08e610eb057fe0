"""VisualQualityReward (``VQ``): no-reference image quality of sampled frames, no weights."""

from __future__ import annotations

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.offline._frames import (
    checked_frames,
    per_video_batched,
    settings_string,
    to_gray,
    uniform_indices,
)
from prompt_a_video.rewards.offline.image_stats import colourfulness, exposure_stats, laplacian_variance
from prompt_a_video.rewards.offline.piqe import piqe
from prompt_a_video.video import Video

COMPONENTS = ("piqe", "sharpness", "exposure", "colourfulness")
# PIQE carries most of the weight: it is the only component that noise makes worse
# (noise raises both the Laplacian variance and the colour spread).
DEFAULT_WEIGHTS = {"piqe": 0.55, "sharpness": 0.15, "exposure": 0.15, "colourfulness": 0.15}


class VisualQualityReward(Reward):
    """Visual quality (``VQ``), the offline stand-in for VideoScore's visual-quality dimension.

    Scale: ``VQ`` in ``[0, 1]``, higher is better. It is the weighted mean (weights
    normalised to sum 1) of four per-frame components, each in ``[0, 1]`` and averaged over
    ``num_frames`` frames sampled uniformly from first to last:

    - ``piqe``: ``1 - PIQE / 100`` (PIQE: see :mod:`.piqe`; noise, blockiness, blur and
      flat, detail-less frames lower it).
    - ``sharpness``: ``v / (v + sharpness_half)`` with ``v`` the variance of the Laplacian
      of the 0..255 grey frame; 0.5 at ``v = sharpness_half`` (default 100, the usual
      "blurry" threshold of that detector).
    - ``exposure``: ``(1 - clipped) * (1 - |mean_luma - 0.5|)``: 1 for mid-grey mean luma
      with no crushed/blown pixel, 0 for an all-black or all-white frame; a dark but
      unclipped night scene keeps ~0.7.
    - ``colourfulness``: ``M / (M + colourfulness_half)`` with ``M`` the Hasler-Suesstrunk
      colourfulness; 0.5 at ``M = 45`` ("averagely colourful"), 0 for grey frames.

    ``sub_dimensions=True`` also returns each component as ``VQ_<component>``.
    Works on any frame size; images (``T == 1``) are scored on their single frame.
    """

    VERSION = 1

    def __init__(
        self,
        num_frames: int = 8,
        weights: dict[str, float] | None = None,
        sharpness_half: float = 100.0,
        colourfulness_half: float = 45.0,
        sub_dimensions: bool = False,
    ) -> None:
        if num_frames < 1:
            raise ValueError(f"VisualQualityReward.num_frames must be >= 1, got {num_frames}")
        weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = set(weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"VisualQualityReward.weights: unknown components {sorted(unknown)}; known: {COMPONENTS}")
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"VisualQualityReward.weights must be >= 0 with a positive sum, got {weights}")
        if sharpness_half <= 0 or colourfulness_half <= 0:
            raise ValueError("VisualQualityReward: sharpness_half and colourfulness_half must be > 0")
        total = sum(weights.values())
        self.weights = {k: weights.get(k, 0.0) / total for k in COMPONENTS}
        self.num_frames = num_frames
        self.sharpness_half = float(sharpness_half)
        self.colourfulness_half = float(colourfulness_half)
        self.sub_dimensions = sub_dimensions
        self.dimensions = ("VQ",) + (tuple(f"VQ_{c}" for c in COMPONENTS) if sub_dimensions else ())

    @property
    def fingerprint(self) -> str:
        settings = settings_string(
            num_frames=self.num_frames,
            weights={k: round(v, 6) for k, v in self.weights.items()},
            sharpness_half=self.sharpness_half,
            colourfulness_half=self.colourfulness_half,
        )
        return f"VisualQualityReward/v{self.VERSION}({settings})"

    def components(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame components: ``uint8 [N, H, W, 3] -> float [N, 4]`` in ``[0, 1]``, order :data:`COMPONENTS`."""
        q_piqe = 1.0 - piqe(to_gray(frames)) / 100.0
        v = laplacian_variance(frames)
        q_sharp = v / (v + self.sharpness_half)
        mean_luma, clipped = exposure_stats(frames)
        q_expo = (1.0 - clipped) * (1.0 - (mean_luma - 0.5).abs())
        m = colourfulness(frames)
        q_col = m / (m + self.colourfulness_half)
        return torch.stack([q_piqe, q_sharp, q_expo, q_col], dim=1).clamp(0.0, 1.0)

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        chunks = []
        for video in videos:
            frames = checked_frames(video)
            chunks.append(frames[uniform_indices(frames.shape[0], self.num_frames)])
        per_video = torch.stack([c.mean(0) for c in per_video_batched(chunks, self.components)])  # [B, 4]
        w = torch.tensor([self.weights[c] for c in COMPONENTS])
        out = {"VQ": per_video @ w}
        if self.sub_dimensions:
            out.update({f"VQ_{c}": per_video[:, i] for i, c in enumerate(COMPONENTS)})
        return out
