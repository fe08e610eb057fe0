"""Dense optical flow (OpenCV Farneback) and backward warping, for TC and DD.

OpenCV (``opencv-python-headless``) is imported inside the functions: importing the
rewards package stays cheap.
"""

from __future__ import annotations

import numpy as np
import torch

# The parameter set of OpenCV's dense-flow tutorial: 3-level pyramid halving the size,
# 15 px averaging window, 3 iterations, polynomial expansion over 5 px (sigma 1.2).
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def _gray_u8(frame: torch.Tensor) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB -> ``uint8 [H, W]`` grey, as OpenCV wants it."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(frame.numpy()), cv2.COLOR_RGB2GRAY)


def farneback_flow(prev: torch.Tensor, nxt: torch.Tensor) -> np.ndarray:
    """Flow from ``prev`` to ``nxt`` (``uint8 [H, W, 3]`` each): ``float32 [H, W, 2]`` in pixels (dx, dy).

    Convention: ``prev(x) ~ nxt(x + flow(x))``.
    """
    import cv2

    return cv2.calcOpticalFlowFarneback(_gray_u8(prev), _gray_u8(nxt), None, **FARNEBACK)


def warp_back(nxt: torch.Tensor, flow: np.ndarray) -> torch.Tensor:
    """``nxt`` resampled at ``x + flow(x)``: aligned with the previous frame. ``uint8 [H, W, 3]``.

    Pixels that come from outside the frame take the nearest border pixel.
    """
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(
        np.ascontiguousarray(nxt.numpy()), gx + flow[..., 0], gy + flow[..., 1],
        interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
    )
    return torch.from_numpy(warped)
