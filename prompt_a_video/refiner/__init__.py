"""The refiner: what a trained prompt rewriter is, how it writes, is saved and is used.

- :mod:`~.api`: :class:`Refiner`, the user API (``from prompt_a_video import Refiner``);
- :mod:`~.generation`: sampling from a refiner LLM (prompt format, answer-only sampling
  controls, cleaning), shared by the LightningModules, ``Refiner`` and evaluation;
- :mod:`~.guard`: the text checks applied to samples before a user sees them;
- :mod:`~.budget`: rewrites cut to the target text encoder's token budget (sentence,
  clause, word boundaries);
- :mod:`~.language`: the output language, asked for only when training did not settle it;
- :mod:`~.export`: ``refiner.json``, the PEFT adapter and the merged model; loading them;
- :mod:`~.targets`: the text encoders' token limits per backbone, one table for all.

Importing this package is cheap: torch and transformers load with the submodules that use them.
"""

from prompt_a_video.refiner.api import Refiner
from prompt_a_video.refiner.diffusers_pipeline import RefinedPipeline

__all__ = ["Refiner", "RefinedPipeline"]
