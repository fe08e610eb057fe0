"""Classical per-frame image statistics: sharpness, exposure, colourfulness.

Each function maps a batch of frames to one number per frame; the mappings to ``[0, 1]``
(higher is better) live in :mod:`visual_quality`, next to their documented constants.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from prompt_a_video.rewards.offline._frames import to_gray

# 4-neighbour Laplacian (OpenCV's cv2.Laplacian with ksize=1).
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_variance(frames: torch.Tensor) -> torch.Tensor:
    """Variance of the Laplacian of the grey image: ``uint8 [N, H, W, 3] -> [N]``.

    Grey levels in 0..255, valid region only (no border effects). The classic blur
    detector (Pech-Pacheco et al., 2000): blurred frames have few edges, hence a small
    variance; values below ~100 are conventionally "blurry". Frames smaller than 3x3
    have no valid region and get 0.
    """
    gray = to_gray(frames).unsqueeze(1)  # [N, 1, H, W]
    if gray.shape[-1] < 3 or gray.shape[-2] < 3:
        return torch.zeros(gray.shape[0])
    lap = F.conv2d(gray, _LAPLACIAN.view(1, 1, 3, 3))
    return lap.flatten(1).var(1, correction=0)


def exposure_stats(frames: torch.Tensor, clip_low: float = 2 / 255, clip_high: float = 253 / 255):
    """``(mean luma, clipped fraction)`` per frame, both in ``[0, 1]``: ``uint8 [N, H, W, 3] -> ([N], [N])``.

    Clipped pixels are crushed blacks (luma <= ``clip_low``) or blown highlights (luma >=
    ``clip_high``): detail there is lost whatever the scene.
    """
    luma = to_gray(frames).flatten(1) / 255.0
    clipped = ((luma <= clip_low) | (luma >= clip_high)).float().mean(1)
    return luma.mean(1), clipped


def colourfulness(frames: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk colourfulness ``M``: ``uint8 [N, H, W, 3] -> [N]``, 0 for grey frames.

    D. Hasler, S. Suesstrunk, "Measuring colourfulness in natural images", SPIE Human
    Vision and Electronic Imaging VIII, 2003: with ``rg = R - G`` and ``yb = (R + G) / 2 - B``
    (0..255), ``M = sqrt(std_rg^2 + std_yb^2) + 0.3 * sqrt(mean_rg^2 + mean_yb^2)``. Their
    perceptual anchors: 15 slightly, 33 moderately, 45 averagely, 59 quite, 82 highly,
    109 extremely colourful.
    """
    x = frames.float().flatten(1, 2)  # [N, H*W, 3]
    r, g, b = x.unbind(-1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = (rg.var(1, correction=0) + yb.var(1, correction=0)).sqrt()
    centre = (rg.mean(1) ** 2 + yb.mean(1) ** 2).sqrt()
    return spread + 0.3 * centre
