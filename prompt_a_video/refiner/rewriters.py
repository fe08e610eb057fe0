"""Where rewrites come from: one interface for every stage that asks for them.

:class:`RewriteMethod` turns each prompt into ``samples`` rewrites. `pav evaluate` compares
methods (``evaluation/methods.py`` adds the original prompt, the heuristic and operator
baselines); `pav pairs` samples its DPO candidates from one (default: :class:`RefinerRewrite`
of the SFT refiner). :class:`RefinerRewrite` samples from a refiner LLM through
:class:`~prompt_a_video.refiner.Refiner`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = ["RewriteMethod", "RefinerRewrite"]


class RewriteMethod(ABC):
    """``rewrite(prompts, samples, seed)`` -> ``len(prompts)`` lists of ``samples`` prompts."""

    @abstractmethod
    def rewrite(self, prompts: list[str], samples: int, seed: int = 0) -> list[list[str]]:
        """Rewrite each prompt ``samples`` times; deterministic for a given ``seed``."""

    @property
    def description(self) -> str:
        """Recorded in metrics.json and the run, so a table says what each column was."""
        return type(self).__name__

    def close(self) -> None:
        """Free what the method holds (an LLM) once its prompts are written."""


class RefinerRewrite(RewriteMethod):
    """An LLM refiner sampled ``samples`` times per prompt.

    Args:
        model: an export folder of `pav export` (a trained refiner), an HF causal-LM folder,
            or an offline asset name such as ``smollm2-135m-instruct`` (the base instruct
            model with the refiner's default instruction: the zero-shot baseline).
        temperature: sampling temperature (0 = greedy: every sample is the same).
        top_p: nucleus sampling mass.
        max_new_tokens: longest rewrite, in tokens.
        batch_size: prompts per generate call.
        device: where the LLM runs (default CPU).
        guard: apply the refiner's guard (:meth:`~prompt_a_video.refiner.Refiner.refine`).
            Off by default: an evaluation measures what the model writes (a guarded
            variant is a method of its own), and DPO learns from it, degenerate included.
            For the same reason rewrites are not cut to the target's token budget here
            (``Refiner(..., budget=False)``): length is the rewards' to judge.
    """

    def __init__(self, model: str, temperature: float = 0.7, top_p: float = 0.95, max_new_tokens: int = 200,
                 batch_size: int = 8, device: str | None = None, guard: bool = False) -> None:
        self.model = model
        self.guard = guard
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.device = device
        self._refiner = None

    def load(self):
        """The refiner's ``(model, tokenizer, backbone)``, loaded on first use."""
        return self._get().load()

    def _get(self):
        # Made on first use, not in __init__: a YAML may name a refiner a pipeline exports later.
        if self._refiner is None:
            from prompt_a_video.refiner import Refiner

            self._refiner = Refiner(self.model, device=self.device, batch_size=self.batch_size, budget=False)
        return self._refiner

    def rewrite(self, prompts, samples, seed=0):
        n = 1 if self.temperature == 0 else samples  # greedy: one answer, the same for every sample
        out = self._get().refine(list(prompts), n=n, temperature=self.temperature, top_p=self.top_p,
                                   max_new_tokens=self.max_new_tokens, seed=seed, guard=self.guard)
        return [texts * (samples // n) for texts in out]

    def close(self) -> None:
        self._refiner = None

    @property
    def description(self) -> str:
        guard = ", guarded" if self.guard else ""
        return f"LLM refiner {self.model} (temperature {self.temperature}, top_p {self.top_p}{guard})"
