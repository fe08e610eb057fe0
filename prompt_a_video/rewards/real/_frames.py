"""Frame sampling and conversion shared by the real-model rewards.

Model processors (CLIP, Idefics2) take PIL images: that is the input type every
transformers image processor accepts with the same semantics whatever its backend (PIL or
torchvision), so frames are converted once here.
"""

from __future__ import annotations

import torch

from prompt_a_video.video import Video


def uniform_indices(num_frames: int, n: int) -> list[int]:
    """``min(n, num_frames)`` frame indices, evenly spaced, starting at frame 0.

    Index ``i`` of ``n`` is ``floor(i * num_frames / n)``: equal strides over the clip
    (the sampling of VideoScore's reference inference). A clip with ``num_frames <= n``
    keeps every frame: no frame is ever duplicated to reach ``n``.
    """
    if n <= 0:
        raise ValueError(f"number of sampled frames must be > 0, got {n}")
    if num_frames <= 0:
        raise ValueError(f"a video needs at least one frame, got {num_frames}")
    if num_frames <= n:
        return list(range(num_frames))
    return [(i * num_frames) // n for i in range(n)]


def checked_frames(video: Video, owner: str) -> torch.Tensor:
    """``video.frames`` re-checked (a Video can be mutated after init): ``uint8 [T, H, W, 3]`` on CPU.

    Raises ValueError naming ``owner``, so that a bad item fails with a readable reason.
    """
    f = getattr(video, "frames", None)
    ok = isinstance(f, torch.Tensor) and f.dtype == torch.uint8 and f.ndim == 4 and f.shape[-1] == 3
    if not ok or min(f.shape) == 0:
        got = f"{f.dtype} {list(f.shape)}" if isinstance(f, torch.Tensor) else type(f).__name__
        raise ValueError(f"{owner}: video.frames must be uint8 [T, H, W, 3] with T, H, W > 0, got {got}")
    return f.cpu()


def sampled_pil_frames(video: Video, n: int, owner: str) -> list:
    """The ``min(n, T)`` uniformly sampled frames of ``video`` as RGB ``PIL.Image``s."""
    from PIL import Image

    frames = checked_frames(video, owner)
    return [Image.fromarray(frames[i].contiguous().numpy()) for i in uniform_indices(int(frames.shape[0]), n)]


def split_means(values: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Per-video means of per-frame scores: ``values [sum(counts)]`` -> ``[len(counts)]``."""
    return torch.stack([part.mean() for part in values.float().split(counts)])
