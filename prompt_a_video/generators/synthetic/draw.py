"""Shapes of the synthetic backbone: signed distances and subject templates (numpy).

A subject is drawn in its own local coordinates ``(u, v)`` (``v`` points down; the shape
fits roughly in ``[-1, 1]^2``). A template returns parts ``(signed distance, tone)``:
distance < 0 inside, in local units; ``tone`` picks the part's colour (``main`` is the
subject's colour, see :data:`TONES`). ``phase`` (radians) animates legs, wings, wheels.
"""

from __future__ import annotations

import hashlib

import numpy as np

Parts = list[tuple[np.ndarray, str]]

# Fixed colours of secondary parts; "dark"/"light" are derived from the main colour.
TONES = {"skin": (0.93, 0.76, 0.62), "wheel": (0.1, 0.1, 0.11), "glass": (0.62, 0.8, 0.95),
         "trunk": (0.42, 0.27, 0.14), "leaf": (0.2, 0.55, 0.22), "yellow": (0.97, 0.85, 0.2)}


def circle(u, v, cx, cy, r):
    return np.hypot(u - cx, v - cy) - r


def ellipse(u, v, cx, cy, a, b):
    return (np.hypot((u - cx) / a, (v - cy) / b) - 1.0) * min(a, b)


def box(u, v, cx, cy, a, b):
    return np.maximum(np.abs(u - cx) - a, np.abs(v - cy) - b)


def diamond(u, v, cx, cy, a, b):
    return (np.abs(u - cx) / a + np.abs(v - cy) / b - 1.0) * min(a, b) * 0.7


def capsule(u, v, x0, y0, x1, y1, r):
    dx, dy = x1 - x0, y1 - y0
    h = np.clip(((u - x0) * dx + (v - y0) * dy) / (dx * dx + dy * dy + 1e-12), 0.0, 1.0)
    return np.hypot(u - x0 - h * dx, v - y0 - h * dy) - r


def triangle(u, v, cx, cy, w, h):
    """Isosceles, apex up at ``(cx, cy - h)``, base ``2w`` wide at ``cy + h``."""
    au = np.abs(u - cx)
    slant = (au * 2 * h - (v - (cy - h)) * w) / np.hypot(2 * h, w)
    return np.maximum(slant, v - (cy + h))


def person(u, v, ph):
    swing = 0.18 * np.sin(ph)
    return [(capsule(u, v, -0.1, 0.45, -0.12 + swing, 0.95, 0.08), "dark"),
            (capsule(u, v, 0.1, 0.45, 0.12 - swing, 0.95, 0.08), "dark"),
            (ellipse(u, v, 0.0, 0.12, 0.27, 0.42), "main"),
            (capsule(u, v, -0.22, -0.1, -0.36, 0.3 + swing, 0.06), "main"),
            (capsule(u, v, 0.22, -0.1, 0.36, 0.3 - swing, 0.06), "main"),
            (circle(u, v, 0.0, -0.52, 0.2), "skin")]


def quadruped(u, v, ph):
    s = 0.12 * np.sin(ph)
    legs = [(capsule(u, v, x, 0.15, x + s * sgn, 0.62, 0.07), "dark")
            for x, sgn in ((-0.45, 1), (-0.3, -1), (0.3, 1), (0.45, -1))]
    return legs + [(ellipse(u, v, 0.0, 0.0, 0.66, 0.3), "main"),
                   (capsule(u, v, -0.6, -0.05, -0.85, -0.3 + s, 0.05), "main"),
                   (circle(u, v, 0.7, -0.28, 0.24), "main"),
                   (triangle(u, v, 0.62, -0.52, 0.07, 0.09), "dark"),
                   (circle(u, v, 0.78, -0.32, 0.04), "wheel")]


def bird(u, v, ph):
    flap = 0.35 * np.sin(ph * 2.0)
    return [(ellipse(u, v, 0.0, 0.0, 0.5, 0.26), "main"),
            (triangle(u, v, -0.05, -0.2 - flap, 0.28, 0.22), "dark"),
            (circle(u, v, 0.46, -0.16, 0.17), "main"),
            (triangle(u, v, 0.66, -0.14, 0.06, 0.05), "yellow"),
            (triangle(u, v, -0.55, 0.0, 0.15, 0.14), "dark")]


def fish(u, v, ph):
    wag = 0.15 * np.sin(ph * 1.5)
    return [(ellipse(u, v + 0.05 * np.sin(u * 3 + ph), 0.0, 0.0, 0.68, 0.3), "main"),
            (diamond(u, v - wag, -0.78, 0.0, 0.22, 0.28), "dark"),
            (triangle(u, v, 0.0, -0.32, 0.18, 0.1), "dark"),
            (circle(u, v, 0.45, -0.06, 0.06), "wheel")]


def car(u, v, ph):
    return [(box(u, v, 0.0, 0.05, 0.85, 0.22) - 0.05, "main"),
            (box(u, v, -0.05, -0.3, 0.45, 0.16) - 0.04, "glass"),
            (circle(u, v, -0.5, 0.3, 0.18), "wheel"), (circle(u, v, 0.5, 0.3, 0.18), "wheel"),
            (circle(u, v, -0.5 + 0.08 * np.cos(ph * 3), 0.3 + 0.08 * np.sin(ph * 3), 0.04), "light")]


def longvehicle(u, v, ph):
    windows = np.maximum(box(u, v, 0.0, -0.18, 0.85, 0.1), -np.abs(np.sin(u * 14.0)) + 0.25)
    return [(box(u, v, 0.0, -0.05, 0.98, 0.3) - 0.03, "main"), (windows, "glass"),
            (circle(u, v, -0.6, 0.3, 0.15), "wheel"), (circle(u, v, 0.6, 0.3, 0.15), "wheel"),
            (circle(u, v, 0.0, 0.3, 0.15), "wheel")]


def twowheeler(u, v, ph):
    ring = lambda cx: np.abs(circle(u, v, cx, 0.35, 0.28)) - 0.05  # noqa: E731
    return [(ring(-0.55), "wheel"), (ring(0.55), "wheel"),
            (capsule(u, v, -0.55, 0.35, 0.1, -0.05, 0.06), "main"),
            (capsule(u, v, 0.1, -0.05, 0.55, 0.35, 0.06), "main"),
            (capsule(u, v, -0.2, -0.05, 0.35, -0.1, 0.07), "main"),
            (ellipse(u, v, -0.05, -0.45, 0.15, 0.28), "dark"), (circle(u, v, 0.0, -0.82, 0.12), "skin")]


def boat(u, v, ph):
    # a trapezoid: a box whose sides slope inwards towards the keel
    hull = np.maximum(box(u, v, 0.0, 0.2, 0.9, 0.18), (np.abs(u) - 0.9 + (v - 0.02) * 0.8) * 0.8)
    return [(hull, "main"), (capsule(u, v, 0.0, 0.02, 0.0, -0.85, 0.03), "dark"),
            (triangle(u, v, 0.25, -0.45, 0.28, 0.4), "light")]


def plane(u, v, ph):
    return [(ellipse(u, v, 0.0, 0.0, 0.92, 0.14), "main"), (diamond(u, v, -0.05, 0.02, 0.3, 0.55), "dark"),
            (triangle(u, v, -0.8, -0.18, 0.1, 0.16), "dark"), (circle(u, v, 0.6, -0.03, 0.05), "glass")]


def rocket(u, v, ph):
    return [(ellipse(u, v, 0.0, 0.0, 0.22, 0.8), "main"), (triangle(u, v, 0.0, 0.62, 0.4, 0.18), "dark"),
            (circle(u, v, 0.0, -0.2, 0.09), "glass"),
            (triangle(u, -v, 0.0, -1.0 - 0.1 * np.sin(ph * 4), 0.12, 0.18), "yellow")]


def tree(u, v, ph):
    return [(box(u, v, 0.0, 0.55, 0.1, 0.4), "trunk"), (circle(u, v, 0.0, -0.2, 0.55), "main"),
            (circle(u, v, -0.3, 0.05, 0.35), "main"), (circle(u, v, 0.32, 0.02, 0.36), "main")]


def flower(u, v, ph):
    petals = circle(u, v, 0.0, -0.45, 0.28 + 0.08 * np.cos(5 * np.arctan2(v + 0.45, u)))
    return [(capsule(u, v, 0.0, -0.3, 0.0, 0.95, 0.05), "leaf"), (ellipse(u, v, 0.2, 0.35, 0.22, 0.08), "leaf"),
            (petals, "main"), (circle(u, v, 0.0, -0.45, 0.12), "yellow")]


def building(u, v, ph):
    windows = np.maximum(box(u, v, 0.0, -0.05, 0.45, 0.75),
                         np.maximum(np.abs(np.sin(u * 9.0)), np.abs(np.sin(v * 9.0))) * -1 + 0.55)
    return [(box(u, v, 0.0, 0.0, 0.6, 0.95), "main"), (windows, "glass"),
            (triangle(u, v, 0.0, -1.12, 0.7, 0.17), "dark")]


def tower(u, v, ph):
    body = np.maximum(triangle(u, v, 0.0, 0.0, 0.42, 1.0), -(v + 0.85))
    return [(body, "main"), (box(u, v, 0.0, -0.6, 0.1, 0.08), "glass"),
            (triangle(u, v, 0.0, -1.05, 0.16, 0.14), "dark")]


def ball(u, v, ph):
    return [(circle(u, v, 0.0, 0.0, 0.6), "main"),
            (np.maximum(circle(u, v, 0.0, 0.0, 0.6), np.abs(v - 0.1 * np.sin(u * 4 + ph)) - 0.06), "dark"),
            (circle(u, v, -0.2, -0.25, 0.12), "light")]


def box_shape(u, v, ph):
    return [(box(u, v, 0.0, 0.0, 0.6, 0.5) - 0.05, "main"), (box(u, v, 0.0, -0.42, 0.6, 0.06), "dark")]


def disc(u, v, ph):
    return [(ellipse(u, v, 0.0, 0.0, 0.75, 0.3), "main"), (ellipse(u, v, 0.0, -0.04, 0.5, 0.16), "light")]


def diamond_shape(u, v, ph):
    return [(diamond(u, v, 0.0, 0.0, 0.55, 0.8), "main"), (capsule(u, v, 0.0, 0.8, 0.1, 1.0, 0.03), "dark")]


def bottle(u, v, ph):
    return [(box(u, v, 0.0, 0.25, 0.3, 0.55) - 0.08, "main"), (box(u, v, 0.0, -0.5, 0.1, 0.25), "main"),
            (box(u, v, 0.0, 0.2, 0.3, 0.1), "light")]


def bowl(u, v, ph):
    return [(np.maximum(ellipse(u, v, 0.0, 0.0, 0.75, 0.5), -v), "main"), (ellipse(u, v, 0.0, 0.0, 0.75, 0.1), "dark")]


def screen(u, v, ph):
    return [(box(u, v, 0.0, 0.0, 0.8, 0.55), "main"), (box(u, v, 0.0, 0.0, 0.68, 0.44), "glass"),
            (box(u, v, 0.0, 0.65, 0.2, 0.1), "dark")]


def stick(u, v, ph):
    return [(capsule(u, v, -0.8, 0.5, 0.8, -0.5, 0.1), "main"), (capsule(u, v, 0.45, -0.28, 0.8, -0.5, 0.15), "dark")]


def umbrella(u, v, ph):
    return [(np.maximum(circle(u, v, 0.0, 0.0, 0.75), v), "main"), (capsule(u, v, 0.0, 0.0, 0.0, 0.85, 0.04), "dark")]


def blob(u, v, ph, lobes: int = 5, amp: float = 0.15):
    r = 0.62 + amp * np.sin(lobes * np.arctan2(v, u) + 0.4 * ph)
    return [(np.hypot(u, v) - r, "main"), (circle(u, v, -0.18, -0.2, 0.1), "light")]


TEMPLATES = {
    "person": person, "quadruped": quadruped, "bird": bird, "fish": fish, "car": car, "longvehicle": longvehicle,
    "twowheeler": twowheeler, "boat": boat, "plane": plane, "rocket": rocket, "tree": tree, "flower": flower,
    "building": building, "tower": tower, "ball": ball, "box": box_shape, "disc": disc, "diamond": diamond_shape,
    "bottle": bottle, "bowl": bowl, "screen": screen, "stick": stick, "umbrella": umbrella, "blob": blob,
}
# Templates an unknown noun may get (chosen by a hash of the word).
GENERIC_TEMPLATES = ("blob", "box", "ball", "diamond", "bottle", "disc", "umbrella", "tower", "bowl")
# Unknown nouns' palette (colour names of words_world.COLOURS).
GENERIC_COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "white", "teal",
                   "cyan", "magenta", "golden", "silver", "gray", "crimson")


def stable_hash(text: str, salt: str = "") -> int:
    """64-bit hash of ``text`` from sha256: stable across processes (unlike ``hash()``)."""
    return int.from_bytes(hashlib.sha256(f"{salt}|{text}".encode()).digest()[:8], "little")


def unknown_look(name: str) -> tuple[str, str, int, float]:
    """(template, colour name, lobes, lobe amplitude) of a noun the lexicon does not know."""
    h = stable_hash(name, "look")
    return (GENERIC_TEMPLATES[h % len(GENERIC_TEMPLATES)], GENERIC_COLOURS[(h >> 8) % len(GENERIC_COLOURS)],
            3 + (h >> 16) % 5, 0.06 + ((h >> 24) % 100) / 100 * 0.16)


def parts(template: str, u: np.ndarray, v: np.ndarray, phase: float, lobes: int = 5, amp: float = 0.15) -> Parts:
    """The parts of ``template`` at local coordinates ``(u, v)``."""
    if template == "blob":
        return blob(u, v, phase, lobes, amp)
    try:
        return TEMPLATES[template](u, v, phase)
    except KeyError:
        raise ValueError(
            f"synthetic draw: unknown template {template!r}; expected one of {sorted(TEMPLATES)}") from None
