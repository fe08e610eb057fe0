"""Frame helpers shared by the offline rewards: checks, sampling, grey levels, batching.

Everything here works on ``torch`` tensors; OpenCV is imported only by the rewards that
need optical flow.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from prompt_a_video.video import Video

# ITU-R BT.601 luma weights (what MATLAB's rgb2gray and OpenCV's RGB2GRAY use).
LUMA = (0.2989, 0.5870, 0.1140)


def checked_frames(video: Video) -> torch.Tensor:
    """``video.frames`` after re-checking the contract (a Video can be mutated after init).

    Returns ``uint8 [T, H, W, 3]`` on CPU. Raises ValueError saying what was wrong, so that
    the item fails with a readable reason (``Reward.score`` prefixes the reward's name).
    """
    f = getattr(video, "frames", None)
    if not isinstance(f, torch.Tensor):
        raise ValueError(f"video.frames is {type(f).__name__}, expected a uint8 tensor [T, H, W, 3]")
    if f.dtype != torch.uint8 or f.ndim != 4 or f.shape[-1] != 3 or min(f.shape) == 0:
        raise ValueError(f"video.frames must be uint8 [T, H, W, 3] with T, H, W > 0, got {f.dtype} {list(f.shape)}")
    return f.cpu()


def uniform_indices(num_frames: int, n: int) -> torch.Tensor:
    """``min(n, num_frames)`` frame indices spread evenly from the first to the last frame."""
    if n <= 0:
        raise ValueError(f"number of sampled frames must be > 0, got {n}")
    if n >= num_frames:
        return torch.arange(num_frames)
    return torch.linspace(0, num_frames - 1, n).round().long().unique()


def pair_starts(num_frames: int, n: int) -> torch.Tensor:
    """Start indices ``t`` of up to ``n`` consecutive pairs ``(t, t + 1)``, spread evenly.

    Consecutive pairs (not pairs of sampled frames) because flicker and motion are
    frame-to-frame properties; empty when the clip has a single frame.
    """
    if num_frames < 2:
        return torch.zeros(0, dtype=torch.long)
    return uniform_indices(num_frames - 1, n)


def to_gray(frames: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` RGB (any dtype, any range) -> ``float32 [...]`` luma in the same range."""
    w = torch.tensor(LUMA, dtype=torch.float32)
    return frames.float() @ w


def per_video_batched(
    chunks: list[torch.Tensor], fn: Callable[[torch.Tensor], torch.Tensor]
) -> list[torch.Tensor]:
    """Apply a per-frame ``fn`` to frames of several videos in as few calls as possible.

    ``chunks[i]`` is ``[N_i, ...]`` (the sampled frames of video i). Chunks of the same
    trailing shape are concatenated and sent through ``fn`` together (``fn`` maps
    ``[N, ...] -> [N]``); the result is split back into one ``[N_i]`` tensor per video.
    """
    out: list[torch.Tensor | None] = [None] * len(chunks)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, c in enumerate(chunks):
        groups.setdefault(tuple(c.shape[1:]), []).append(i)
    for members in groups.values():
        values = fn(torch.cat([chunks[i] for i in members]))
        for i, part in zip(members, values.split([int(chunks[i].shape[0]) for i in members])):
            out[i] = part
    return out  # type: ignore[return-value]


def settings_string(**settings) -> str:
    """``k=v,k=v`` in a stable order, for fingerprints."""
    return ",".join(f"{k}={settings[k]!r}" for k in sorted(settings))
