"""The synthetic text-to-video backbone: a procedural CPU "test world", not a video model.

``SyntheticGenerator`` renders prompts into small clips in milliseconds; ``parse_prompt``
reads a prompt with exactly the lexicon the renderer uses (for the scene-alignment
reward); ``PRESETS`` holds the backbones' preferences. See docs/synthetic-backbone.md.
Importing this package (and ``parse_prompt``) needs numpy only; ``SyntheticGenerator``
imports torch when first accessed.
"""

from prompt_a_video.generators.synthetic.lexicon import tokenize
from prompt_a_video.generators.synthetic.parse import ParsedPrompt, Subject, parse_prompt
from prompt_a_video.generators.synthetic.presets import PRESETS, Preset, get_preset
from prompt_a_video.generators.synthetic.renderer import RENDERER_VERSION, render

__all__ = ["SyntheticGenerator", "parse_prompt", "ParsedPrompt", "Subject", "tokenize", "Preset", "PRESETS",
           "get_preset", "render", "RENDERER_VERSION"]


def __getattr__(name: str):
    if name == "SyntheticGenerator":  # torch (via Video) only when the generator is wanted
        from prompt_a_video.generators.synthetic.generator import SyntheticGenerator

        return SyntheticGenerator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
