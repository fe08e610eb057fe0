"""Subject motion patterns and camera paths of the synthetic backbone.

Units: positions in frame widths, time in seconds, angles in radians. Every pattern is
periodic or ping-pong, so long clips keep their subjects in view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Moves that translate or zoom the camera over time (framings such as close_up do not).
MOVING_CAMERA = frozenset({"pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "track",
                           "orbit", "aerial", "fpv"})


def tri(x: float) -> float:
    """Triangle wave of period 1 in [-1, 1] (ping-pong motion)."""
    return 2.0 * abs(2.0 * (x - math.floor(x + 0.5))) - 1.0


@dataclass
class Pose:
    """Offset of a subject from its rest position at one instant."""

    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0
    scale: float = 1.0
    facing: float = 1.0
    phase: float = 0.0  # animates legs, wings, wheels (radians)


def pose(pattern: str, t: float, k: float, phase0: float) -> Pose:
    """Pose of a subject doing ``pattern`` at time ``t`` with speed factor ``k``."""
    s = t * k + phase0
    two_pi = 2 * math.pi

    def ping(amp: float, freq: float) -> tuple[float, float]:
        x = amp * tri(freq * s)
        facing = 1.0 if tri(freq * s + 1e-3) >= tri(freq * s) else -1.0
        return x, facing

    if pattern == "walk":
        x, f = ping(0.16, 0.12)
        return Pose(dx=x, dy=-0.01 * abs(math.sin(two_pi * 2 * s)), facing=f, phase=two_pi * 2 * s)
    if pattern == "run":
        x, f = ping(0.28, 0.22)
        return Pose(dx=x, dy=-0.025 * abs(math.sin(two_pi * 3 * s)), facing=f, phase=two_pi * 4 * s)
    if pattern == "jump":
        return Pose(dx=0.04 * math.sin(two_pi * 0.3 * s), dy=-0.16 * abs(math.sin(math.pi * 1.2 * s)),
                    phase=two_pi * s)
    if pattern == "fly":
        x, f = ping(0.25, 0.14)
        return Pose(dx=x, dy=-0.05 * math.sin(two_pi * 0.7 * s), facing=f, phase=two_pi * 3 * s)
    if pattern == "swim":
        x, f = ping(0.24, 0.12)
        return Pose(dx=x, dy=0.03 * math.sin(two_pi * s), angle=0.12 * math.cos(two_pi * s), facing=f,
                    phase=two_pi * 2 * s)
    if pattern == "dance":
        return Pose(dx=0.06 * math.sin(two_pi * 1.2 * s), dy=-0.04 * abs(math.sin(two_pi * 2.4 * s)),
                    angle=0.25 * math.sin(two_pi * 1.2 * s), phase=two_pi * 2.4 * s)
    if pattern == "spin":
        return Pose(angle=two_pi * 0.5 * s, phase=two_pi * s)
    if pattern == "drive":
        x, f = ping(0.34, 0.18)
        return Pose(dx=x, facing=f, phase=two_pi * 3 * s)
    if pattern == "fall":
        return Pose(dy=0.12 * tri(0.25 * s), angle=0.2 * math.sin(two_pi * 0.5 * s))
    if pattern == "rise":
        return Pose(dy=-0.12 * tri(0.25 * s))
    if pattern == "fidget":
        return Pose(dx=0.012 * math.sin(two_pi * 2 * s), angle=0.07 * math.sin(two_pi * 1.5 * s),
                    scale=1 + 0.03 * math.sin(two_pi * 2 * s), phase=two_pi * 1.5 * s)
    if pattern == "grow":
        return Pose(scale=1.0 + 0.25 * tri(0.3 * s), phase=two_pi * 0.5 * s)
    if pattern == "sway":
        return Pose(angle=0.12 * math.sin(two_pi * 0.6 * s), phase=two_pi * 0.6 * s)
    # idle: breathing
    return Pose(dy=0.003 * math.sin(two_pi * 0.5 * s), scale=1 + 0.008 * math.sin(two_pi * 0.5 * s),
                phase=two_pi * 0.3 * s)


@dataclass
class View:
    """Camera at one instant: the world point at the frame centre and the zoom."""

    cx: float = 0.0
    cy: float = 0.0
    zoom: float = 1.0


def camera_view(moves: list[str], t: float, gain: float, focus: tuple[float, float],
                focus_now: tuple[float, float]) -> View:
    """Camera for ``moves`` at time ``t``. ``focus`` is the main subject's rest position,
    ``focus_now`` its current position (tracking follows it; close-ups frame it)."""
    v = View()
    g = gain
    for move in moves:
        if move == "pan_left":
            v.cx -= 0.12 * g * t
        elif move == "pan_right":
            v.cx += 0.12 * g * t
        elif move == "tilt_up":
            v.cy -= 0.08 * g * t
        elif move == "tilt_down":
            v.cy += 0.08 * g * t
        elif move == "zoom_in":
            v.zoom *= math.exp(0.22 * g * t)
        elif move == "zoom_out":
            v.zoom *= 1.3 * math.exp(-0.22 * g * t)
        elif move == "fpv":
            v.zoom *= math.exp(0.4 * g * t)
        elif move == "track":
            v.cx += focus_now[0] - focus[0]
            v.cy += 0.5 * (focus_now[1] - focus[1])
        elif move == "orbit":
            v.cx += 0.1 * math.sin(2 * math.pi * 0.2 * g * t)
            v.zoom *= 1 + 0.06 * math.sin(2 * math.pi * 0.2 * g * t)
        elif move == "aerial":
            v.zoom *= 0.85 * math.exp(-0.06 * g * t)
            v.cy -= 0.05 + 0.03 * g * t
        elif move == "close_up":
            v.zoom *= 1.7
            v.cx += focus[0]
            v.cy += focus[1] - 0.02
        elif move == "medium":
            v.zoom *= 1.2
            v.cx += 0.5 * focus[0]
        elif move == "wide":
            v.zoom *= 0.75
        elif move == "low_angle":
            v.cy -= 0.07
        elif move == "high_angle":
            v.cy += 0.07
    return v
