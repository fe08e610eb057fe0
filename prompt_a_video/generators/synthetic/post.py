"""Whole-clip post-processing of the synthetic backbone: blur and artistic styles.

Frames are float ``[T, H, W, 3]`` in about [0, 1]. Blur radii are given in pixels of a
64-px-wide frame and scaled to the real width, so a preset looks alike at any size.
"""

from __future__ import annotations

import numpy as np


def gaussian_blur(frames: np.ndarray, sigma_px: float, axes: tuple[int, int] = (1, 2)) -> np.ndarray:
    """Separable Gaussian blur of ``[T, H, W, C]`` over H and W (edges replicated)."""
    if sigma_px < 0.15:
        return frames
    r = max(1, int(np.ceil(3 * sigma_px)))
    k = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * sigma_px**2))
    k = (k / k.sum()).astype(frames.dtype)
    out = frames
    for axis in axes:
        pad = [(0, 0)] * out.ndim
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        index = [slice(None)] * out.ndim
        acc = np.zeros_like(out)
        for i, w in enumerate(k):
            index[axis] = slice(i, i + n)
            acc += w * padded[tuple(index)]
        out = acc
    return out


def posterize(frames: np.ndarray, levels: int) -> np.ndarray:
    return np.round(np.clip(frames, 0, 1) * (levels - 1)) / (levels - 1)


def saturate(frames: np.ndarray, factor: float) -> np.ndarray:
    lum = frames @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return lum[..., None] + (frames - lum[..., None]) * factor


def _grey(frames: np.ndarray) -> np.ndarray:
    lum = frames @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.repeat(lum[..., None], 3, axis=-1)


def apply_style(frames: np.ndarray, styles: list[str], scale: float) -> tuple[np.ndarray, float]:
    """Apply artistic styles in order; returns (frames, noise multiplier).

    ``scale`` is width / 64 (blur and block sizes follow the frame size). Styles:
    ``bw`` grey; ``watercolor`` soft, light, few tones; ``oil`` rich tones;
    ``pixel`` blocks; ``cartoon`` flat saturated tones; ``sketch`` grey edges;
    ``swirl`` brush-stroke swirls; ``ukiyo`` flat tones on paper; ``surreal`` shifted
    hues; ``cyberpunk`` magenta/cyan; ``vintage`` sepia and film grain (more noise);
    ``illustration`` clean tones; ``render`` clean CG (less noise).
    """
    noise_mult = 1.0
    t, h, w, _ = frames.shape
    yy, xx = np.meshgrid(np.linspace(-1, 1, h, dtype=np.float32), np.linspace(-1, 1, w, dtype=np.float32),
                         indexing="ij")
    for style in styles:
        if style == "bw":
            frames = 0.45 + (_grey(frames) - 0.45) * 1.1
        elif style == "watercolor":
            frames = posterize(0.15 + 0.85 * gaussian_blur(frames, 1.0 * scale), 12)
            frames = frames * (0.96 + 0.04 * np.sin(xx * 37 + np.sin(yy * 23) * 3))[None, :, :, None]
        elif style == "oil":
            frames = saturate(posterize(frames, 10), 1.15)
        elif style == "pixel":
            b = max(2, int(round(4 * scale)))
            hb, wb = h // b * b, w // b * b
            if hb and wb:
                blocks = frames[:, :hb, :wb].reshape(t, hb // b, b, wb // b, b, 3).mean(axis=(2, 4))
                frames = frames.copy()
                frames[:, :hb, :wb] = np.repeat(np.repeat(blocks, b, axis=1), b, axis=2)
            frames = posterize(frames, 8)
        elif style == "cartoon":
            frames = saturate(posterize(frames, 5), 1.3)
        elif style == "sketch":
            g = _grey(frames)[..., 0]
            edge = np.hypot(np.gradient(g, axis=1), np.gradient(g, axis=2))
            frames = np.repeat((0.92 - 3.0 * edge + 0.08 * g)[..., None], 3, axis=-1)
        elif style == "swirl":
            strokes = 1 + 0.12 * np.sin(10 * (xx + 0.3 * np.sin(6 * yy)) + 4 * yy)
            frames = saturate(frames * strokes[None, :, :, None], 1.2)
        elif style == "ukiyo":
            frames = saturate(posterize(frames, 6), 0.85) * np.array([0.97, 0.93, 0.82], dtype=np.float32)
        elif style == "surreal":
            frames = saturate(0.6 * frames + 0.4 * frames[..., [1, 2, 0]], 1.2)
        elif style == "cyberpunk":
            frames = 0.45 + (frames * np.array([1.05, 0.85, 1.2], dtype=np.float32) - 0.45) * 1.15
        elif style == "vintage":
            sepia = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32)
            frames = frames @ sepia.T * 0.9
            noise_mult *= 1.6
        elif style == "illustration":
            frames = saturate(posterize(frames, 12), 1.15)
        elif style == "render":
            noise_mult *= 0.6
    return frames, noise_mult
