"""Render one prompt into frames: the synthetic backbone's "diffusion model".

``render(prompt, preset, seed, num_frames, height, width, fps)`` parses the prompt with
the preset's token limit, casts the subjects, moves them and the camera, draws the scene,
then applies lighting, style, blur, flicker and noise, the last three set by the preset
from the words the prompt used (see ``Preset``). Everything random comes from one numpy
generator seeded by sha256 of (renderer version, preset, seed, prompt), so a prompt's
video depends on nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from prompt_a_video.generators.synthetic import draw, motion, post, scene
from prompt_a_video.generators.synthetic import words_world as ww
from prompt_a_video.generators.synthetic.lexicon import SUBJECT_INFO
from prompt_a_video.generators.synthetic.parse import ParsedPrompt, parse_prompt
from prompt_a_video.generators.synthetic.presets import Preset

# Bump on any change to how prompts are drawn (draw, scene, motion, post, this file): it is
# part of the fingerprint, which keys cached renders and scores. Word tables and preset
# knobs enter the fingerprint through their own digests.
RENDERER_VERSION = "1"

_FLYERS = frozenset({"bird", "plane", "rocket"})
_SIZE_BY_KIND = {"building": 1.35, "plant": 1.15, "object": 0.85}


@dataclass
class Actor:
    """A subject as cast: look, rest position (world), and what it does."""

    name: str
    kind: str
    template: str
    colour: str
    rgb: np.ndarray
    size: float
    x: float
    y: float
    patterns: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    phase: float = 0.0
    facing: float = 1.0
    lobes: int = 5
    amp: float = 0.15


def _cast(parsed: ParsedPrompt, preset: Preset, rng: np.random.Generator,
          horizon: float) -> tuple[list[Actor], list[str]]:
    """Actors for the first ``max_subjects`` subjects, and the unbound colours left over
    (a subject with no requested nor usual colour takes the first one)."""
    subjects = parsed.subjects[: preset.max_subjects]
    spare = list(parsed.unbound_colours)
    ground_y = max(-0.1, min(0.22, horizon + 0.1))
    n = len(subjects)
    xs = {0: [], 1: [0.0], 2: [-0.2, 0.2], 3: [0.0, -0.3, 0.3]}[n]
    ys = [ground_y] * n
    if n >= 2 and parsed.relation:
        a, b = {"left": ((-0.2, 0), (0.2, 0)), "right": ((0.2, 0), (-0.2, 0)), "beside": ((-0.2, 0), (0.2, 0)),
                "above": ((0, -0.3), (0, 0)), "below": ((0, 0), (0, -0.3)), "front": ((-0.1, 0.05), (0.12, -0.06)),
                "behind": ((-0.1, -0.06), (0.12, 0.05))}[parsed.relation]
        xs[0], ys[0], xs[1], ys[1] = a[0], ground_y + a[1], b[0], ground_y + b[1]
    actors = []
    for i, s in enumerate(subjects):
        lobes, amp = 5, 0.15
        if s.known:
            template, default = SUBJECT_INFO[s.name][1], SUBJECT_INFO[s.name][2]
        else:
            template, default, lobes, amp = draw.unknown_look(s.name)
        colour = s.colour or default or (spare.pop(0) if spare else None)
        if colour is None:  # no default: a stable colour per name, as a model has its habits
            colour = draw.GENERIC_COLOURS[draw.stable_hash(s.name, "colour") % len(draw.GENERIC_COLOURS)]
        patterns = [ww.ACTIONS.get(a, ("idle", False))[0] for a in s.actions] or ["idle"]
        size = (0.2 if i == 0 else 0.14) * _SIZE_BY_KIND.get(s.kind, 1.0)
        y = ys[i]
        if template in _FLYERS or "fly" in patterns:
            y = min(y, horizon - 0.22)
        actors.append(Actor(
            name=s.name, kind=s.kind, template=template, colour=colour,
            rgb=np.asarray(ww.COLOURS[colour], dtype=np.float32), size=size,
            x=xs[i] + rng.uniform(-0.04, 0.04), y=y + rng.uniform(-0.02, 0.02), patterns=patterns,
            actions=list(s.actions), phase=float(rng.uniform(0, 10)), facing=float(rng.choice([-1.0, 1.0])),
            lobes=lobes, amp=amp))
    return actors, spare


def _actor_at(actor: Actor, t: float, duration: float, k: float, shift: float) -> motion.Pose:
    """The actor's pose; with several actions it switches pattern in equal time slices."""
    idx = min(len(actor.patterns) - 1, int(len(actor.patterns) * t / max(duration, 1e-6)))
    return motion.pose(actor.patterns[idx], t, k, actor.phase + shift)


def _draw_actor(img: np.ndarray, actor: Actor, p: motion.Pose, x: np.ndarray, y: np.ndarray,
                noise: scene.ValueNoise, texture: float, px_world: float, boil: float = 0.0) -> np.ndarray:
    """Composite the actor into ``img`` [H, W, 3] (in place) where it can be visible;
    ``boil`` shifts its surface detail (see ``scene.background``)."""
    size = actor.size * p.scale
    ax, ay, reach = actor.x + p.dx, actor.y + p.dy, 1.5 * size + 2 * px_world
    # Only the pixels of the actor's bounding box (x, y are an axis-aligned grid).
    cols = np.flatnonzero(np.abs(x[0] - ax) < reach)
    rows = np.flatnonzero(np.abs(y[:, 0] - ay) < reach)
    if cols.size == 0 or rows.size == 0:
        return img
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    x, y = x[box], y[box]
    u0, v0 = (x - ax) / size, (y - ay) / size
    c, s = math.cos(p.angle), math.sin(p.angle)
    u, v = (c * u0 + s * v0) * actor.facing * p.facing, -s * u0 + c * v0
    shade = (1.08 - 0.08 * np.clip(v, -1, 1))[..., None]
    tex = (1.0 + 2.0 * texture * (noise(u * 5.0 + 7.3 + boil, v * 5.0 + 1.1 - boil) - 0.5))[..., None]
    tones = {"main": actor.rgb, "dark": actor.rgb * 0.45, "light": actor.rgb * 0.5 + 0.5}
    soft = 1.0 * px_world / size  # ~1 px anti-aliased edge, in local units
    out = img[box]
    for d, tone in draw.parts(actor.template, u, v, p.phase, actor.lobes, actor.amp):
        alpha = np.clip(0.5 - d / soft, 0.0, 1.0)
        if not alpha.any():
            continue
        rgb = tones.get(tone)
        rgb = np.asarray(draw.TONES[tone], dtype=np.float32) if rgb is None else rgb
        out = out * (1 - alpha[..., None]) + (rgb * shade * tex) * alpha[..., None]
    img[box] = out
    return img


def _saturating(n: int, scale: float) -> float:
    return 1.0 - math.exp(-n / scale) if n > 0 else 0.0


@dataclass
class Knobs:
    """What the prompt's wording does to this preset's render (scales as in ``Preset``)."""

    noise: float  # per-pixel noise std
    blur: float  # Gaussian blur sigma, pixels of this frame size
    texture: float  # surface detail amplitude
    jitter: float  # per-frame camera offset std, frame widths
    flicker: float  # per-frame brightness gain std
    excess_actions: int
    cuts: int  # hard scene cuts
    strength: float  # contrast and saturation factor from described lighting
    tint: np.ndarray
    brightness: float
    saturation: float
    contrast: float
    effects: set[str]


def knobs(parsed: ParsedPrompt, preset: Preset, actors: list[Actor], num_frames: int, px_scale: float) -> Knobs:
    """The preset's response to the words read: quality words, stability and shake words,
    camera terms, active actions, scene changes, lighting, length."""
    q = preset.quality_gain * _saturating(len(parsed.quality), preset.quality_saturation)
    over = max(0, parsed.tokens_total - preset.comfort_tokens)  # read or not: long prompts confuse
    n_stab = min(3, len(parsed.stability))
    shake = 1 + preset.shake_gain * min(2, len(parsed.shake))
    jitter = preset.base_jitter * preset.stability_factor**n_stab * shake
    if parsed.camera:
        jitter *= preset.camera_calm
    jitter += preset.camera_move_jitter * sum(m in motion.MOVING_CAMERA for m in parsed.camera)
    active = {a for actor in actors for a in actor.actions if ww.ACTIONS.get(a, ("", False))[1]}
    excess = max(0, len(active) - preset.action_budget)
    changes = max(0, len(parsed.scenes) - 1) + parsed.transitions
    effects = {ww.LIGHTING[name][4] for name in parsed.lighting} - {None}
    if "cyberpunk" in parsed.style:
        effects.add("neon")
    # Several lights blend (geometric mean of the first three), they do not stack.
    lights = [ww.LIGHTING[name] for name in parsed.lighting[:3]] or [((1.0, 1.0, 1.0), 1.0, 1.0, 1.0, None)]
    tint = np.prod([np.asarray(lt[0]) for lt in lights], axis=0) ** (1 / len(lights))
    brightness, saturation, contrast = (float(np.prod([lt[i] for lt in lights]) ** (1 / len(lights)))
                                        for i in (1, 2, 3))
    return Knobs(
        noise=preset.base_noise * (1 - q) + min(preset.verbosity_cap, preset.verbosity_noise * over / 10),
        blur=preset.base_blur * (1 - q) * px_scale,
        texture=preset.texture * (1 + 2 * q),
        jitter=jitter,
        flicker=preset.flicker_per_action * excess * math.sqrt(preset.stability_factor) ** n_stab,
        excess_actions=excess,
        cuts=min(num_frames // 4, max(0, changes - preset.scene_budget)),
        strength=preset.flat_contrast + preset.lighting_gain * _saturating(len(parsed.lighting), 1.5),
        tint=tint.astype(np.float32), brightness=brightness, saturation=saturation, contrast=contrast,
        effects=effects,
    )


def render(prompt: str, preset: Preset, seed: int, num_frames: int, height: int, width: int,
           fps: float) -> tuple[np.ndarray, dict]:
    """Frames ``uint8 [T, H, W, 3]`` and the JSON-serialisable ``meta`` of one prompt
    (keys documented on ``SyntheticGenerator``)."""
    parsed = parse_prompt(prompt, preset.token_limit)
    rng = np.random.default_rng(draw.stable_hash(prompt, f"render|{RENDERER_VERSION}|{preset.name}|{int(seed)}"))
    noise = scene.ValueNoise(rng)
    T, H, W = num_frames, height, width
    px_scale = W / 64.0
    duration = T / fps
    scenes = parsed.scenes or [None]
    horizon = ww.SCENE_STYLES[ww.SCENES[scenes[0]]][3] if scenes[0] else 0.25
    actors, spare = _cast(parsed, preset, rng, horizon)
    k = knobs(parsed, preset, actors, T, px_scale)

    speed = preset.motion_gain * parsed.speed
    segment_of = (np.arange(T) * (k.cuts + 1)) // max(T, 1)  # shot index of each frame
    shifts = rng.uniform(-0.6, 0.6, size=k.cuts + 1)  # a new shot looks elsewhere, subjects elsewhere
    offsets = rng.normal(0.0, 1.0, size=(T, 2)) * k.jitter
    gains = (1.0 + k.flicker * rng.standard_normal(T)).astype(np.float32)
    # Past the action budget the model loses track: details are redrawn every frame
    # ("boiling" texture) and subjects pop (position and size jump frame to frame).
    confusion = min(1.0, 0.5 * k.excess_actions)
    boils = rng.normal(0.0, 1.0, size=T) * confusion
    pops = rng.normal(0.0, 1.0, size=(len(actors), T, 3)) * confusion * np.array([0.03, 0.02, 0.12])
    casts = (k.flicker * 0.5 * rng.standard_normal((T, 3))).astype(np.float32)
    flashes = rng.random(T) < (0.12 if "storm" in k.effects else 0.0)
    # Colours of the scene ("blue sky") and colours left over tint the background.
    accents = list(dict.fromkeys(parsed.scene_colours + spare))[:2]
    accent = np.mean([ww.COLOURS[c] for c in accents], axis=0).astype(np.float32) if accents else None

    sx = ((np.arange(W) + 0.5) / W - 0.5).astype(np.float32)
    sy = (((np.arange(H) + 0.5) / H - 0.5) * (H / W)).astype(np.float32)
    gx, gy = np.meshgrid(sx, sy)
    backgrounds, coords = [], []
    focus = (actors[0].x, actors[0].y) if actors else (0.0, 0.0)
    for i in range(T):
        t, seg = i / fps, int(segment_of[i])
        now = focus
        if actors:
            p0 = _actor_at(actors[0], t, duration, speed, shifts[seg])
            now = (actors[0].x + p0.dx, actors[0].y + p0.dy)
        view = motion.camera_view(parsed.camera, t, preset.camera_gain, focus, now)
        x = view.cx + shifts[seg] * (seg > 0) + offsets[i, 0] + gx / view.zoom
        y = view.cy + offsets[i, 1] + gy / view.zoom
        bg = scene.background(x, y, t, scenes[seg % len(scenes)], k.effects, noise, k.texture, parsed.speed,
                              float(boils[i]))
        backgrounds.append(bg if accent is None else 0.75 * bg + 0.25 * accent)
        coords.append((x, y, view.zoom))
    frames = np.stack(backgrounds)
    if "dof" in parsed.camera:  # shallow depth of field: the background only is soft
        frames = post.gaussian_blur(frames, 1.8 * px_scale)
    elif "rack_focus" in parsed.camera:  # focus pulls from the background to the subject
        frames = np.stack([post.gaussian_blur(f[None], 2.2 * px_scale * (1 - i / max(T - 1, 1)))[0]
                           for i, f in enumerate(frames)])

    order = list(range(1, len(actors))) + [0] if actors else []  # the main subject in front
    for i in range(T):
        x, y, zoom = coords[i]
        t, seg = i / fps, int(segment_of[i])
        img = frames[i]
        for a in order:
            pose = _actor_at(actors[a], t, duration, speed, shifts[seg])
            pose.dx, pose.dy = pose.dx + pops[a, i, 0], pose.dy + pops[a, i, 1]
            pose.scale *= 1.0 + pops[a, i, 2]
            img = _draw_actor(img, actors[a], pose, x, y, noise, k.texture, 1.0 / (W * zoom), float(boils[i]))
        img = scene.lighting_effects(img, x, y, t, k.effects, noise, horizon, bool(flashes[i]))
        frames[i] = scene.grade(img, k.tint, k.brightness, k.saturation * k.strength, k.contrast * k.strength)
    if "vignette" in k.effects:
        frames = scene.vignette(frames, 0.35)
    frames, noise_mult = post.apply_style(frames, parsed.style, px_scale)
    # Camera shake smears each frame by how far the camera jumped since the last one.
    jumps = np.hypot(*np.diff(offsets, axis=0, prepend=offsets[:1]).T) * 64.0
    for i in range(T):
        smear = min(2.5, preset.shake_blur * jumps[i])  # capped: a smeared frame is still a frame
        frames[i] = post.gaussian_blur(frames[i][None], k.blur + smear * px_scale)[0]
    frames = frames * gains[:, None, None, None] + casts[:, None, None, :]
    fixed = rng.standard_normal(frames.shape[1:], dtype=np.float32)
    share = np.float32(preset.temporal_noise)
    grain = share * rng.standard_normal(frames.shape, dtype=np.float32) + np.sqrt(1 - share**2) * fixed
    frames = frames + grain * np.float32(k.noise * noise_mult)
    out = np.clip(np.round(frames * 255.0), 0, 255).astype(np.uint8)

    meta = parsed.summary()
    drawn_requested = [a.colour for a in actors if a.colour in parsed.colours]
    meta.update({
        "generator": "synthetic", "preset": preset.name, "renderer_version": RENDERER_VERSION, "seed": int(seed),
        "subjects": [a.name for a in actors], "subject_kinds": [a.kind for a in actors],
        "subject_colours": {a.name: a.colour for a in actors},
        "unknown_subjects": [a.name for a in actors if a.kind == "unknown"],
        "colours": list(dict.fromkeys(drawn_requested + accents)),
        "actions": list(dict.fromkeys(a for actor in actors for a in actor.actions)),
        "scenes": list(dict.fromkeys(scenes[s % len(scenes)] for s in segment_of)) if parsed.scenes else [],
        "token_limit": preset.token_limit, "scene_cuts": int(k.cuts),
        "render": {"noise": round(float(k.noise * noise_mult), 5), "blur_px": round(float(k.blur), 4),
                   "texture": round(float(k.texture), 5), "jitter": round(float(k.jitter), 5),
                   "flicker": round(float(k.flicker), 5), "contrast": round(float(k.contrast * k.strength), 4),
                   "excess_actions": int(k.excess_actions)},
    })
    return out, meta
