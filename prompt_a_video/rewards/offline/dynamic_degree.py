"""DynamicDegreeReward (``DD``): how much the clip moves, from Farneback optical flow."""

from __future__ import annotations

import math

import numpy as np
import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.offline._frames import checked_frames, pair_starts, settings_string
from prompt_a_video.video import Video


class DynamicDegreeReward(Reward):
    """Dynamic degree (``DD``), the offline stand-in for VideoScore's dynamic dimension.

    For up to ``num_pairs`` consecutive frame pairs spread over the clip, the dense
    Farneback flow is computed (frames first shrunk so that their long side is at most
    ``max_side``); a pair's motion is the mean flow magnitude of its fastest
    ``top_fraction`` of pixels (so a small moving subject on a still background counts, as
    in VBench's dynamic degree), divided by the frame diagonal and multiplied by ``fps``:
    ``speed`` = frame diagonals per second, independent of resolution and frame rate.

    Scale: ``DD = speed / (speed + half_speed)`` in ``[0, 1)``, higher = more motion;
    0 for a still clip or a single image, 0.5 at ``half_speed`` (default 0.1 diagonals/s:
    something crossing the frame in about 10 s), ~0.8 for a frame crossing in 2.5 s.
    """

    VERSION = 1

    def __init__(
        self, num_pairs: int = 8, top_fraction: float = 0.05, half_speed: float = 0.1, max_side: int = 256
    ) -> None:
        if num_pairs < 1:
            raise ValueError(f"DynamicDegreeReward.num_pairs must be >= 1, got {num_pairs}")
        if not 0 < top_fraction <= 1:
            raise ValueError(f"DynamicDegreeReward.top_fraction must be in (0, 1], got {top_fraction}")
        if half_speed <= 0 or max_side < 16:
            raise ValueError("DynamicDegreeReward: half_speed must be > 0 and max_side >= 16")
        self.num_pairs = num_pairs
        self.top_fraction = float(top_fraction)
        self.half_speed = float(half_speed)
        self.max_side = int(max_side)
        self.dimensions = ("DD",)

    @property
    def fingerprint(self) -> str:
        settings = settings_string(
            num_pairs=self.num_pairs, top_fraction=self.top_fraction, half_speed=self.half_speed, max_side=self.max_side
        )
        return f"DynamicDegreeReward/v{self.VERSION}({settings})"

    def _shrink(self, frame: torch.Tensor) -> torch.Tensor:
        h, w = frame.shape[:2]
        if max(h, w) <= self.max_side:
            return frame
        import cv2

        scale = self.max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return torch.from_numpy(cv2.resize(np.ascontiguousarray(frame.numpy()), size, interpolation=cv2.INTER_AREA))

    def speed(self, video: Video) -> float:
        """Frame diagonals per second (mean over the sampled pairs); 0 for a single frame."""
        from prompt_a_video.rewards.offline._flow import farneback_flow

        frames = checked_frames(video)
        starts = pair_starts(frames.shape[0], self.num_pairs)
        if starts.numel() == 0:
            return 0.0
        per_pair = []
        for t in starts.tolist():
            a, b = self._shrink(frames[t]), self._shrink(frames[t + 1])
            mag = torch.from_numpy(np.linalg.norm(farneback_flow(a, b), axis=-1)).flatten()
            k = max(1, math.ceil(self.top_fraction * mag.numel()))
            diagonal = math.hypot(a.shape[0], a.shape[1])
            per_pair.append(float(mag.topk(k).values.mean()) / diagonal)
        return float(np.mean(per_pair)) * float(video.fps)

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        speeds = torch.tensor([self.speed(v) for v in videos], dtype=torch.float32)
        return {"DD": speeds / (speeds + self.half_speed)}
