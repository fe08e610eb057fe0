"""The `Video` that generators return and rewards score (DESIGN.md, "Interfaces").

Frames are a ``torch.uint8`` tensor ``[T, H, W, 3]`` (RGB, channels last); a still image
is ``T == 1``. ``meta`` holds facts the generator chose to record about what it rendered
(the synthetic backbone records subjects, colours, actions...); it must stay
JSON-serialisable so that caches and reports can store it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Video:
    """A rendered clip.

    Attributes:
        frames: ``uint8 [T, H, W, 3]``, RGB.
        fps: frames per second to play it at.
        meta: JSON-serialisable facts about the render (generator-specific).
    """

    frames: torch.Tensor
    fps: float
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        f = self.frames
        if not isinstance(f, torch.Tensor):
            raise TypeError(f"Video.frames must be a torch.Tensor, got {type(f).__name__}")
        if f.dtype != torch.uint8:
            raise TypeError(f"Video.frames must be uint8, got {f.dtype}")
        if f.ndim != 4 or f.shape[-1] != 3 or min(f.shape) == 0:
            raise ValueError(f"Video.frames must have shape [T, H, W, 3] with T, H, W > 0, got {list(f.shape)}")
        if not self.fps > 0:
            raise ValueError(f"Video.fps must be > 0, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def is_image(self) -> bool:
        return self.num_frames == 1

    def content_hash(self) -> str:
        """sha256 of the pixels, shape and fps: the key of scores in the cache."""
        h = hashlib.sha256()
        h.update(repr((list(self.frames.shape), float(self.fps))).encode())
        h.update(self.frames.contiguous().cpu().numpy().tobytes())
        return h.hexdigest()

    def float_frames(self) -> torch.Tensor:
        """Frames as float in [0, 1], ``[T, 3, H, W]`` (the layout vision models take)."""
        return self.frames.permute(0, 3, 1, 2).float().div_(255.0)
