"""Presets of the synthetic backbone: the knobs that make two "models" prefer different
prompts. A preset is data (:class:`Preset`); :data:`PRESETS` names the shipped ones.

Scales: intensities are in [0, 1] pixel units (0.02 is ~5 grey levels); distances are in
frame widths (0.01 is 0.64 px on a 64-px-wide frame); counts are distinct words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Preset:
    """What one synthetic backbone rewards and punishes.

    Attributes:
        name: the preset's name (part of the generator's fingerprint).
        token_limit: tokens read from the prompt (see ``lexicon.tokenize``); later words
            are ignored, as a text encoder truncates.
        max_subjects: subjects drawn, in order of mention; later ones are dropped.
        base_noise: std of per-pixel Gaussian noise with no quality words (part of it fixed
            over the clip, see ``temporal_noise``).
        base_blur: Gaussian blur sigma (pixels of a 64-px frame) with no quality words.
        quality_gain: fraction of noise and blur removed (and texture added) once quality
            words saturate; the effect of ``n`` distinct quality words is
            ``quality_gain * (1 - exp(-n / quality_saturation))``.
        quality_saturation: how many distinct quality words give 63% of the gain.
        texture: amplitude of surface texture (detail) with no quality words; quality words
            raise it up to ``texture * (1 + 2 * quality_gain)``.
        base_jitter: std of the per-frame random camera offset (frame widths).
        stability_factor: each distinct stability word ("steady", "static camera",
            "smooth motion"...) multiplies the jitter by this (up to 3 words).
        shake_gain: shake words ("shaky", "handheld"; up to 2) multiply the jitter by
            ``1 + shake_gain * n``.
        camera_gain: speed of described camera moves (pan/zoom/tilt/track), 1 = nominal.
        camera_calm: jitter multiplier when the prompt describes any camera work (a model
            trained on camera-annotated captions holds the camera better when told how).
        camera_move_jitter: jitter added per described moving-camera term (a model that
            cannot move the camera smoothly shakes instead).
        flat_contrast: contrast and saturation with no lighting words (< 1 is flat, dull).
        lighting_gain: how far described lighting lifts contrast and saturation above
            ``flat_contrast``, saturating like the quality words (``n / 1.5``).
        action_budget: distinct active actions rendered cleanly; each further one adds
            ``flicker_per_action`` to the per-frame brightness flicker (std, relative), and
            beyond it subjects pop (position and size) and details "boil" frame to frame.
        flicker_per_action: see ``action_budget``.
        scene_budget: scene changes (extra scenes + transition words such as "then",
            "cuts to") the backbone absorbs; each further one is a hard scene cut.
        comfort_tokens: prompt length (tokens, read or not) above which the backbone gets
            confused: ``verbosity_noise`` extra noise std per 10 tokens, up to
            ``verbosity_cap``.
        verbosity_noise: see ``comfort_tokens``.
        verbosity_cap: see ``comfort_tokens``.
        temporal_noise: share of the noise std that changes every frame; the rest is one
            fixed pattern per clip (artefacts that stay put, like a dirty lens), so noise
            costs temporal consistency less than flicker does.
        shake_blur: blur sigma (pixels of a 64-px frame) per pixel of camera jump between
            two frames: a shaking camera smears, frame by frame.
        motion_gain: speed of subject motion, 1 = nominal.
    """

    name: str
    token_limit: int
    max_subjects: int
    base_noise: float
    base_blur: float
    quality_gain: float
    quality_saturation: float
    texture: float
    base_jitter: float
    stability_factor: float
    shake_gain: float
    camera_gain: float
    camera_calm: float
    camera_move_jitter: float
    flat_contrast: float
    lighting_gain: float
    action_budget: int
    flicker_per_action: float
    scene_budget: int
    comfort_tokens: int
    verbosity_noise: float
    verbosity_cap: float
    temporal_noise: float = 0.5
    shake_blur: float = 0.5
    motion_gain: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    # A CogVideoX-like backbone: reads long T5 prompts (226 tokens), was trained on long,
    # camera- and lighting-annotated captions; rich descriptions pay off, several actions
    # are tolerated, long prompts cost nothing.
    "long-cinematic": Preset(
        name="long-cinematic", token_limit=226, max_subjects=3,
        base_noise=0.045, base_blur=1.1, quality_gain=0.8, quality_saturation=3.0, texture=0.06,
        base_jitter=0.02, stability_factor=0.45, shake_gain=1.5,
        camera_gain=1.0, camera_calm=0.5, camera_move_jitter=0.0,
        flat_contrast=0.7, lighting_gain=0.45,
        action_budget=2, flicker_per_action=0.04, scene_budget=3,
        comfort_tokens=226, verbosity_noise=0.0, verbosity_cap=0.0,
    ),
    # A small CLIP-era backbone: reads 60 tokens, renders one action and one shot well,
    # cannot move its camera smoothly, and degrades on long, busy prompts.
    "short-strict": Preset(
        name="short-strict", token_limit=60, max_subjects=2,
        base_noise=0.04, base_blur=0.9, quality_gain=0.6, quality_saturation=2.0, texture=0.05,
        base_jitter=0.025, stability_factor=0.35, shake_gain=2.0,
        camera_gain=0.5, camera_calm=1.0, camera_move_jitter=0.008,
        flat_contrast=0.85, lighting_gain=0.1,
        action_budget=1, flicker_per_action=0.06, scene_budget=1,
        comfort_tokens=30, verbosity_noise=0.012, verbosity_cap=0.08,
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; the error lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"SyntheticGenerator: unknown preset {name!r}; expected one of {sorted(PRESETS)}") from None
