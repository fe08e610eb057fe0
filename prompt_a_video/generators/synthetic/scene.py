"""Backgrounds, lighting and style of the synthetic backbone (numpy, RGB float in [0, 1]).

World coordinates: ``x`` in frame widths (the unzoomed view spans ``[-0.5, 0.5]``), ``y``
pointing down in the same unit; ``t`` in seconds. Backgrounds are functions of world
coordinates, so a camera move shows the same world from elsewhere (and animated parts —
waves, rain, clouds — move consistently between frames).
"""

from __future__ import annotations

import numpy as np

from prompt_a_video.generators.synthetic import words_world as ww
from prompt_a_video.generators.synthetic.draw import stable_hash

_SKY_OVERRIDES = {  # lighting effect -> (sky top, sky bottom)
    "warm_sky": ((0.42, 0.32, 0.58), (1.0, 0.62, 0.34)),
    "dusk_sky": ((0.14, 0.14, 0.34), (0.58, 0.42, 0.56)),
    "stars": ((0.02, 0.03, 0.1), (0.1, 0.12, 0.24)),
}


class ValueNoise:
    """Smooth periodic value noise from one random lattice (``size x size``, a power of 2)."""

    def __init__(self, rng: np.random.Generator, size: int = 64):
        grid = rng.random((size, size), dtype=np.float32)
        # One extra row and column (wrapped) so the four corners are plain flat lookups.
        self.flat = np.pad(grid, ((0, 1), (0, 1)), mode="wrap").ravel()
        self.size = size

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Noise in [0, 1] at lattice coordinates ``(x, y)`` (any shape, same shape out)."""
        x0, y0 = np.floor(x), np.floor(y)
        fx, fy = x - x0, y - y0
        fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
        mask, row = self.size - 1, self.size + 1
        base = (y0.astype(np.int64) & mask) * row + (x0.astype(np.int64) & mask)
        f = self.flat
        top = f.take(base) * (1 - fx) + f.take(base + 1) * fx
        bottom = f.take(base + row) * (1 - fx) + f.take(base + row + 1) * fx
        return top * (1 - fy) + bottom * fy

    def fbm(self, x: np.ndarray, y: np.ndarray, octaves: int = 3) -> np.ndarray:
        """Fractal sum of octaves, in about [0, 1]."""
        total, norm, amp, freq = 0.0, 0.0, 1.0, 1.0
        for o in range(octaves):
            total = total + amp * self(x * freq + 17.0 * o, y * freq + 31.0 * o)
            norm += amp
            amp *= 0.5
            freq *= 2.0
        return total / norm


def _rgb(c) -> np.ndarray:
    return np.asarray(c, dtype=np.float32)


def _mix(a: np.ndarray, b, w: np.ndarray) -> np.ndarray:
    w = np.asarray(w)[..., None] if np.ndim(w) else w
    return a * (1 - w) + _rgb(b) * w


def background(x: np.ndarray, y: np.ndarray, t: float, scene: str | None, effects: set[str],
               noise: ValueNoise, texture: float, drift: float, boil: float = 0.0) -> np.ndarray:
    """The scene at world coordinates ``(x, y)`` ([H, W] each) and time ``t``: [H, W, 3].

    ``scene`` is a scene name of ``words_world.SCENES`` (None: a plain studio backdrop);
    ``effects`` the lighting effects in play; ``texture`` the amplitude of surface detail;
    ``drift`` scales the speed of clouds and water (time-lapse > 1); ``boil`` shifts the
    surface detail (lattice units): a confused model redraws details every frame.
    """
    style = ww.SCENES.get(scene, "indoor") if scene else None
    if style is None:  # no scene named: a neutral studio backdrop, as real models default to
        sky_top, sky_bot, ground = (0.62, 0.64, 0.68), (0.78, 0.79, 0.8), (0.55, 0.55, 0.57)
        horizon, feature = 0.25, "none"
    else:
        sky_top, sky_bot, ground, horizon, feature = ww.SCENE_STYLES[style]
    sky_top, sky_bot, ground = _rgb(sky_top), _rgb(sky_bot), _rgb(ground)
    if feature == "room":  # each room its own wall colour, from the scene name
        h = stable_hash(scene or "", "wall")
        sky_top = sky_top * _rgb([0.8 + 0.4 * ((h >> s) % 64) / 64 for s in (0, 6, 12)])
        sky_bot = sky_top * 1.05
    outdoor = feature not in ("room", "none", "rocks", "bubbles")
    for eff, (top, bot) in _SKY_OVERRIDES.items():
        if eff in effects and outdoor:
            sky_top, sky_bot = _rgb(top), _rgb(bot)

    k = np.clip((y + 0.6) / (horizon + 0.6), 0.0, 1.0)
    img = sky_top * (1 - k[..., None]) + sky_bot * k[..., None]
    if outdoor and feature != "stars" and "stars" not in effects:
        cover = 0.5 if ("clouds" in effects or feature == "clouds") else 0.62
        c = noise.fbm(x * 3.0 + t * 0.04 * drift, y * 6.0, 2)
        img = _mix(img, (0.97, 0.97, 0.98), np.clip((c - cover) * 4.0, 0, 0.8) * (y < horizon))
    if feature == "stars" or ("stars" in effects and outdoor):
        img = _mix(img, (1.0, 1.0, 0.95), (noise(x * 45.0, y * 45.0) > 0.93) * (y < horizon) * 0.9)

    grain = 1.0 + 2.0 * texture * (noise.fbm(x * 24.0 + boil, y * 24.0 - boil, 3) - 0.5)
    floor = ground * grain[..., None]
    line = np.full_like(x, horizon)
    if feature == "mountains":
        tri = np.abs(((x * 2.2 + 0.3) % 1.0) - 0.5) * 2.0
        ridge = horizon - 0.1 - 0.14 * (1 - tri) - 0.04 * noise(x * 8.0, 3.5)
        rock = _rgb((0.42, 0.44, 0.5) if style != "canyon" else (0.7, 0.4, 0.25))
        mountain = (y > ridge) & (y < horizon)
        img = np.where(mountain[..., None], rock * grain[..., None], img)
        img = _mix(img, (0.96, 0.97, 1.0), mountain * (y < ridge + 0.035) * (style == "snow" or style == "mountain"))
    elif feature == "trees":
        top = horizon - 0.06 - 0.06 * np.abs(np.sin(x * 22.0)) - 0.03 * noise(x * 10.0, 1.5)
        img = np.where(((y > top) & (y < horizon))[..., None], _rgb((0.12, 0.32, 0.14)) * grain[..., None], img)
    elif feature == "buildings":
        col = np.floor(x / 0.07)
        height = 0.08 + 0.22 * ((col * 2654435761.0) % 997.0) / 997.0
        tower = (y > horizon - height) & (y < horizon)
        night = "stars" in effects or "neon" in effects
        lit = (np.sin(x * 180.0) > 0.3) & (np.sin(y * 150.0) > 0.3) & tower
        img = np.where(tower[..., None], _rgb((0.32, 0.35, 0.42)) * grain[..., None], img)
        img = _mix(img, (1.0, 0.85, 0.4) if night else (0.7, 0.82, 0.92), lit * 0.8)
    elif feature == "waterfall":
        fall = (np.abs(x) < 0.1) & (y < horizon)
        streak = 0.85 + 0.15 * np.sin(y * 70.0 - t * 9.0 * drift + np.sin(x * 90.0) * 2)
        img = np.where((y < horizon)[..., None], _rgb((0.38, 0.36, 0.34)) * grain[..., None], img)
        img = _mix(img, (0.9, 0.95, 1.0), fall * streak)
    elif feature == "volcano":
        cone = triangle_mask = (np.abs(x) * 1.6 < (y - (horizon - 0.3))) & (y < horizon)
        img = np.where(cone[..., None], _rgb((0.25, 0.2, 0.2)) * grain[..., None], img)
        img = _mix(img, (1.0, 0.35, 0.05), triangle_mask * (y < horizon - 0.22) * (0.6 + 0.4 * np.sin(t * 5 * drift)))
    elif feature == "ice":
        berg = (np.abs(((x * 3.0) % 1.0) - 0.5) * 0.5 < (y - (horizon - 0.08))) & (y < horizon)
        img = np.where(berg[..., None], _rgb((0.86, 0.93, 1.0)), img)

    if feature in ("water", "waves", "waterfall") or style == "ocean":
        ripple = 1.0 + 0.1 * np.sin(x * 35.0 + y * 80.0 - t * 2.5 * drift) * (1 + 2 * texture)
        floor = floor * ripple[..., None]
    if feature == "waves":
        sea = (y >= horizon) & (y < horizon + 0.12)
        foam = np.sin((y - horizon) * 120.0 - t * 4.0 * drift + np.sin(x * 20.0)) > 0.85
        floor = np.where(sea[..., None], _rgb((0.12, 0.4, 0.7)) * grain[..., None], floor)
        floor = _mix(floor, (0.97, 0.98, 1.0), sea * foam * 0.8)
    elif feature == "dunes":
        floor = floor * (0.9 + 0.1 * np.sin(x * 7.0 + y * 25.0))[..., None]
    elif feature == "road":
        dash = (np.abs(y - horizon - 0.18) < 0.008) & (np.sin(x * 30.0) > 0)
        floor = _mix(floor, (0.95, 0.95, 0.9), dash)
    elif feature == "room":
        floor = floor * (0.9 + 0.1 * (np.sin(x * 40.0) > 0.9))[..., None]
        window = (np.abs(x - 0.28) < 0.12) & (np.abs(y + 0.18) < 0.1)
        img = _mix(img, (0.25, 0.3, 0.45) if "stars" in effects else (0.7, 0.85, 0.97), window)
    elif feature == "grass":
        floor = floor * (0.92 + 0.16 * noise(x * 90.0, y * 30.0))[..., None]

    img = np.where((y >= line)[..., None], floor, img)
    if feature in ("bubbles", "rocks"):  # no sky: one textured volume
        img = img * grain[..., None]
        if feature == "bubbles":
            caustic = 1.0 + 0.1 * np.sin(x * 20.0 + np.sin(y * 15.0 + t * 1.5 * drift) * 2.0)
            bubbles = noise(x * 30.0, (y + t * 0.12 * drift) * 30.0) > 0.9
            img = _mix(img * caustic[..., None], (0.8, 0.95, 1.0), bubbles * 0.7)
    return img


def lighting_effects(img: np.ndarray, x: np.ndarray, y: np.ndarray, t: float, effects: set[str],
                     noise: ValueNoise, horizon: float = 0.05, flash: bool = False) -> np.ndarray:
    """Weather and light that sit in front of everything: rain, snow, fog, neon, rays."""
    if "neon" in effects:
        magenta = np.clip(np.sin(x * 9.0 + 1.0) * 3 - 2.2, 0, 1)
        cyan = np.clip(np.sin(x * 13.0 + 4.0) * 3 - 2.4, 0, 1)
        img = img + 0.35 * magenta[..., None] * _rgb((1.0, 0.1, 0.8)) + 0.3 * cyan[..., None] * _rgb((0.1, 0.9, 1.0))
    if "rain" in effects or "storm" in effects:
        streak = (((x * 28.0 + y * 5.0) % 1.0) < 0.07) & (((y * 4.0 - t * 5.0) % 1.0) < 0.35)
        img = _mix(img, (0.82, 0.86, 0.92), streak * 0.4)
    if "snowfall" in effects:
        flakes = noise(x * 28.0 + np.sin(t) * 0.5, (y - t * 0.15) * 28.0) > 0.9
        img = _mix(img, (1.0, 1.0, 1.0), flakes * 0.85)
    if "fog" in effects:
        img = _mix(img, (0.8, 0.82, 0.85), 0.5 * np.clip(1.2 - np.abs(y - horizon) * 2.5, 0.2, 1.0))
    if "rays" in effects:
        img = img + 0.08 * np.clip(np.sin((x + y * 0.6) * 10.0) * 2 - 1.2, 0, 1)[..., None] * _rgb((1.0, 0.95, 0.8))
    if "glow" in effects:
        img = img + 0.12 * np.clip(img - 0.5, 0, None) ** 2 * 4
    if flash:  # lightning
        img = img * 1.6 + 0.1
    return img


def grade(img: np.ndarray, tint, brightness: float, saturation: float, contrast: float) -> np.ndarray:
    """Colour grading of ``[..., 3]`` frames: tint x brightness, then saturation and
    contrast around mid-grey (factors 1 = unchanged)."""
    img = img * (_rgb(tint) * brightness)
    lum = img @ _rgb((0.299, 0.587, 0.114))
    img = lum[..., None] + (img - lum[..., None]) * saturation
    return 0.45 + (img - 0.45) * contrast


def vignette(frames: np.ndarray, strength: float) -> np.ndarray:
    """Darken the corners of ``[T, H, W, 3]`` frames by up to ``strength``."""
    _, h, w, _ = frames.shape
    yy, xx = np.meshgrid(np.linspace(-1, 1, h, dtype=np.float32), np.linspace(-1, 1, w, dtype=np.float32),
                         indexing="ij")
    return frames * (1 - strength * np.clip((xx**2 + yy**2) / 2, 0, 1))[None, :, :, None]
