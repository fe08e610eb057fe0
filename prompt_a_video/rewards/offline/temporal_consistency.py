"""TemporalConsistencyReward (``TC``): SSIM between consecutive frames, optionally flow-warped."""

from __future__ import annotations

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.offline._frames import checked_frames, pair_starts, per_video_batched, settings_string
from prompt_a_video.video import Video


class TemporalConsistencyReward(Reward):
    """Temporal consistency (``TC``), the offline stand-in for VideoScore's temporal dimension.

    Scale: ``TC`` in ``[0, 1]``, higher is better: the mean SSIM (Gaussian window,
    ``kernel_size``/``sigma``, RGB in ``[0, 1]``) between frame ``t`` and frame ``t + 1``
    over up to ``num_pairs`` consecutive pairs spread evenly over the clip, negative SSIM
    clamped to 0. Flicker (brightness or contrast jumping between frames), popping
    objects and frame-to-frame noise lower it; a still clip scores 1.

    ``warp=True`` (default): frame ``t + 1`` is first warped onto frame ``t`` with
    Farneback optical flow, so smooth motion is forgiven and only what the flow cannot
    explain (flicker, morphing, popping) counts; without it, motion and consistency
    would fight (a 2 px/frame pan of a fine texture has a plain SSIM near 0.1), and a
    TC + DD aggregate would pay for still videos. ``warp=False``: plain SSIM of raw frames.

    A single image (``T == 1``) has nothing to be inconsistent with and scores 1.
    Frames must be at least ``kernel_size`` pixels on each side.
    """

    VERSION = 1

    def __init__(self, num_pairs: int = 8, warp: bool = True, kernel_size: int = 11, sigma: float = 1.5) -> None:
        if num_pairs < 1:
            raise ValueError(f"TemporalConsistencyReward.num_pairs must be >= 1, got {num_pairs}")
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"TemporalConsistencyReward.kernel_size must be odd and >= 3, got {kernel_size}")
        self.num_pairs = num_pairs
        self.warp = warp
        self.kernel_size = kernel_size
        self.sigma = float(sigma)
        self.dimensions = ("TC",)

    @property
    def fingerprint(self) -> str:
        settings = settings_string(
            num_pairs=self.num_pairs, warp=self.warp, kernel_size=self.kernel_size, sigma=self.sigma
        )
        return f"TemporalConsistencyReward/v{self.VERSION}({settings})"

    def pair_ssim(self, pairs: torch.Tensor) -> torch.Tensor:
        """SSIM of each pair: ``uint8 [N, 2, H, W, 3] -> [N]`` in ``[-1, 1]``."""
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        h, w = pairs.shape[2:4]
        if min(h, w) < self.kernel_size:
            raise ValueError(f"frames {h}x{w} are smaller than the SSIM window {self.kernel_size}")
        x = pairs.permute(1, 0, 4, 2, 3).float().div(255.0)  # [2, N, 3, H, W]
        return ssim(x[1], x[0], kernel_size=self.kernel_size, sigma=self.sigma, data_range=1.0, reduction="none")

    def _pairs(self, frames: torch.Tensor) -> torch.Tensor:
        """The sampled consecutive pairs of one clip: ``[P, 2, H, W, 3]`` (next frame warped if asked)."""
        starts = pair_starts(frames.shape[0], self.num_pairs)
        prev, nxt = frames[starts], frames[starts + 1]
        if self.warp and starts.numel():
            from prompt_a_video.rewards.offline._flow import farneback_flow, warp_back

            nxt = torch.stack([warp_back(b, farneback_flow(a, b)) for a, b in zip(prev, nxt)])
        return torch.stack([prev, nxt], dim=1)

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        chunks = [self._pairs(checked_frames(v)) for v in videos]
        with_pairs = [i for i, c in enumerate(chunks) if c.shape[0] > 0]
        tc = torch.ones(len(videos))  # single frames: nothing to be inconsistent with
        if with_pairs:
            ssims = per_video_batched([chunks[i] for i in with_pairs], self.pair_ssim)
            for i, s in zip(with_pairs, ssims):
                tc[i] = s.clamp(min=0.0).mean()
        return {"TC": tc}
