"""`SyntheticGenerator`: the procedural CPU backbone behind the `Generator` interface."""

from __future__ import annotations

import hashlib
import json

import torch

from prompt_a_video.generators.base import Generator
from prompt_a_video.generators.synthetic.lexicon import LEXICON_DIGEST
from prompt_a_video.generators.synthetic.presets import get_preset
from prompt_a_video.generators.synthetic.renderer import RENDERER_VERSION, render
from prompt_a_video.video import Video


class SyntheticGenerator(Generator):
    """A procedural text-to-video "test world" that renders in milliseconds on CPU.

    Not a video model: it draws the subjects, colours, actions, scene, lighting, camera
    moves and style it recognises in the prompt as moving shapes over a procedural
    background, and degrades the clip (noise, blur, jitter, flicker, scene cuts) in ways
    that depend on how the prompt is written, as the preset dictates. Prompt refinement
    therefore changes measurable properties of the video, so the whole method (evolution,
    SFT, DPO, evaluation) can run and be tested on a laptop. See docs/synthetic-backbone.md.

    Args:
        preset: name of a :data:`~prompt_a_video.generators.synthetic.presets.PRESETS`
            entry (``long-cinematic``, ``short-strict``): what this backbone rewards.
        num_frames: frames per clip (``T``; 1 renders a still image).
        height: frame height in pixels.
        width: frame width in pixels.
        fps: playback rate; motion is defined per second, so it also sets how far
            things move between frames.

    ``generate(prompts, seed)`` returns ``Video``\\ s with ``uint8 [T, H, W, 3]`` frames; a
    prompt's frames depend only on (prompt, seed, preset, sizes, fps), never on the rest
    of the batch. ``Video.meta`` (JSON-serialisable) records what was drawn:

    - ``subjects``: canonical names drawn, main first (at most the preset's
      ``max_subjects``, in order of mention); ``subject_kinds``: person | animal | vehicle
      | object | plant | building | unknown; ``subject_colours``: name -> colour drawn
      (requested or default); ``unknown_subjects``: names drawn from a hash of the word.
    - ``colours``: colour words of the prompt that were drawn (on a subject or as a tint).
    - ``actions``: action lemmas performed by drawn subjects ("run", "swim"...).
    - ``scene``: the first scene (None: a studio backdrop); ``scenes``: scenes drawn
      (several only when the clip has scene cuts); ``scene_cuts``: hard cuts rendered.
    - ``lighting``, ``camera``, ``style``: canonical lighting names, camera moves
      (``pan_left``, ``zoom_in``, ``static``...), style post-processes (``bw``...).
    - ``quality_words``, ``stability_words``, ``shake_words``: such words read.
    - ``relation``: spatial relation of the first two subjects (left/right/above/...).
    - ``tokens_read``, ``tokens_ignored``, ``token_limit``: tokens past the limit are
      ignored (see ``lexicon.tokenize`` for what a token is).
    - ``prompt``: the prompt rendered (every generator records it: prompt fidelity
      compares it with the original).
    - ``generator`` ("synthetic"), ``preset``, ``renderer_version``, ``seed``.
    - ``render``: diagnostics of the degradations applied (``noise`` std, ``blur_px``,
      ``texture``, ``jitter``, ``flicker``, ``contrast``, ``excess_actions``). Rewards
      must not read these: they are the answer key, not an observation.

    ``parse_prompt(original).summary()`` yields the same keys (minus the render-only
    ones), so an alignment reward compares the original prompt's parse with ``meta``.
    """

    def __init__(self, preset: str = "long-cinematic", num_frames: int = 16, height: int = 64, width: int = 64,
                 fps: float = 8.0) -> None:
        for field, value in (("num_frames", num_frames), ("height", height), ("width", width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SyntheticGenerator: {field} must be a positive int, got {value!r}")
        if not fps > 0:
            raise ValueError(f"SyntheticGenerator: fps must be > 0, got {fps!r}")
        self.preset = get_preset(preset)
        self.num_frames, self.height, self.width, self.fps = num_frames, height, width, float(fps)
        self.prompt_token_limit = self.preset.token_limit

    @property
    def fingerprint(self) -> str:
        """``synthetic/v<renderer version>-<lexicon digest>/<preset>-<knobs digest>/T<frames>-<H>x<W>-fps<fps>``."""
        knobs = hashlib.sha256(json.dumps(self.preset.as_dict(), sort_keys=True).encode()).hexdigest()[:8]
        return (f"synthetic/v{RENDERER_VERSION}-{LEXICON_DIGEST}/{self.preset.name}-{knobs}"
                f"/T{self.num_frames}-{self.height}x{self.width}-fps{self.fps:g}")

    def generate(self, prompts: list[str], seed: int) -> list[Video]:
        if isinstance(prompts, str):
            raise TypeError("SyntheticGenerator.generate: prompts must be a list of str, got a single str")
        videos = []
        for prompt in prompts:
            frames, meta = render(prompt, self.preset, int(seed), self.num_frames, self.height, self.width, self.fps)
            videos.append(Video(frames=torch.from_numpy(frames), fps=self.fps, meta={"prompt": prompt, **meta}))
        return videos
