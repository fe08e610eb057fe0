"""PIQE, a classical no-reference image-quality score, vectorised in torch.

Perception-based Image Quality Evaluator: Venkatanath N., Praneeth D., Maruthi
Chandrasekhar Bh., Channappayya S. S., Medasani S. S., "Blind image quality evaluation
using perception based features", NCC 2015. It is opinion-unaware (no trained model, no
files to download), which is why it is the VQ backbone here. Implemented from the paper
and the description of MATLAB's ``piqe``; the PyPI port (``pypiqe``) pulls in the GUI
build of OpenCV, which clashes with ``opencv-python-headless``, and loops over blocks in
Python, so it is not used.

The algorithm, per grey image scaled so that its maximum is 255:

1. MSCN-like normalisation: ``n = (I - mu) / (sigma + 1)`` with ``mu``/``sigma`` the local
   mean/deviation under a 7x7 Gaussian (sigma 7/6, replicated borders).
2. Non-overlapping 16x16 blocks (the image is padded symmetrically to a multiple of 16).
   A block is *active* (salient) when the variance of ``n`` in it exceeds 0.1.
3. An active block has a *noticeable artifact* when any run of 6 consecutive pixels on
   one of its four edges has a standard deviation below 0.1 (a flat seam: blockiness);
   it is *noisy* when ``sigma_block > 2 * beta`` where ``beta`` compares the deviation
   of the two centre columns with that of the rest of the block.
4. ``score = 100 * (1 + sum_active(artifact * (1 - v) + noisy * v)) / (1 + n_active)``.

Scale: ``[0, 100]``, LOWER is better (0 excellent, 100 bad); a uniform image scores 100
because it has no active block.
"""

from __future__ import annotations

import torch

BLOCK = 16
ACTIVITY_THRESHOLD = 0.1
IMPAIRED_THRESHOLD = 0.1
SEGMENT = 6


def _gaussian_blur(x: torch.Tensor, size: int = 7, sigma: float = 7 / 6) -> torch.Tensor:
    """Gaussian blur of each float64 image of ``[N, H, W]``, replicated borders.

    OpenCV's blur is ~30x faster than a one-channel ``conv2d`` on CPU.
    """
    import cv2

    src = x.contiguous().numpy()
    out = torch.empty_like(x)
    dst = out.numpy()
    for a, b in zip(src, dst):
        cv2.GaussianBlur(a, (size, size), sigma, dst=b, borderType=cv2.BORDER_REPLICATE)
    return out


def _symmetric_pad(x: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
    """Mirror-pad ``[N, H, W]`` at the bottom/right, edge pixel included (MATLAB 'symmetric')."""
    if bottom:
        x = torch.cat([x, x[:, -bottom:, :].flip(1)], dim=1)
    if right:
        x = torch.cat([x, x[:, :, -right:].flip(2)], dim=2)
    return x


def piqe(gray: torch.Tensor) -> torch.Tensor:
    """PIQE of each image in ``gray``: ``float [N, H, W]`` (any positive range) -> ``[N]`` in [0, 100].

    Images smaller than a block are padded like larger ones (symmetric), which the
    original method allows. Lower is better.
    """
    if gray.ndim != 3:
        raise ValueError(f"piqe expects grey images [N, H, W], got shape {list(gray.shape)}")
    x = gray.double()
    n, h, w = x.shape
    pad_h, pad_w = (-h) % BLOCK, (-w) % BLOCK
    while pad_h > x.shape[1] or pad_w > x.shape[2]:  # tiny images: mirror repeatedly
        x = _symmetric_pad(x, min(pad_h, x.shape[1]), min(pad_w, x.shape[2]))
        pad_h, pad_w = (-x.shape[1]) % BLOCK, (-x.shape[2]) % BLOCK
    x = _symmetric_pad(x, pad_h, pad_w)
    peak = x.flatten(1).amax(1).clamp_min(1e-12).view(n, 1, 1)
    x = torch.round(255.0 * x / peak)

    # float64 for the local variance: E[x^2] - mu^2 cancels badly in float32 at 255^2.
    mu = _gaussian_blur(x)
    sigma = (_gaussian_blur(x * x) - mu * mu).abs().sqrt()
    norm = ((x - mu) / (sigma + 1.0)).float()  # block statistics: float32 is plenty

    hb, wb = norm.shape[1] // BLOCK, norm.shape[2] // BLOCK
    blocks = norm.view(n, hb, BLOCK, wb, BLOCK).permute(0, 1, 3, 2, 4)  # [N, hb, wb, 16, 16]
    var = blocks.flatten(-2).var(-1, correction=1)
    active = var > ACTIVITY_THRESHOLD

    # Noticeable artifacts: a flat 6-pixel run on any of the four block edges.
    edges = torch.stack(
        [blocks[..., 0, :], blocks[..., :, -1], blocks[..., -1, :], blocks[..., :, 0]], dim=-2
    )  # [N, hb, wb, 4, 16]
    seg_std = edges.unfold(-1, SEGMENT, 1).std(-1, correction=1)  # [N, hb, wb, 4, 11]
    impaired = (seg_std < IMPAIRED_THRESHOLD).flatten(-2).any(-1)

    # Gaussian noise: centre columns vs surround, compared with the block deviation.
    c = BLOCK // 2 - 1  # the two centre columns: 7 and 8 of 0..15
    centre = blocks[..., :, c : c + 2].flatten(-2).std(-1, correction=1)
    surround = torch.cat([blocks[..., :, :c], blocks[..., :, c + 2 :]], dim=-1).flatten(-2).std(-1, correction=1)
    ratio = torch.where(surround > 0, centre / surround.clamp_min(1e-12), torch.zeros_like(centre))
    block_sigma = var.sqrt()
    denom = torch.maximum(block_sigma, ratio)
    beta = torch.where(denom > 0, (block_sigma - ratio).abs() / denom.clamp_min(1e-12), torch.zeros_like(denom))
    noisy = block_sigma > 2 * beta

    dist = active * (impaired * (1 - var) + noisy * var)
    score = 100.0 * (dist.flatten(1).sum(1) + 1.0) / (active.flatten(1).sum(1) + 1.0)
    return score.clamp(0.0, 100.0).float()
