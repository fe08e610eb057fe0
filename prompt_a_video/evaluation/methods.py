"""Rewrite methods compared by `pav evaluate`: where each method's prompts come from.

A method turns each original prompt into ``samples`` prompts to render (sample ``i`` is
rendered with the ``i``-th evaluation seed). Built in:

- :class:`OriginalPrompt` (``original``): the user's prompt as typed;
- :class:`HeuristicRewrite` (``heuristic``): the offline operator's one-shot enrichment;
- :class:`RefinerRewrite`: an LLM refiner: the base instruct model asked to rewrite with
  the refiner's instruction (``zero-shot``, the paper's GPT-4o/GLM-4 baseline played by a
  local model), or a trained refiner (``sft``, ``dpo``, any export folder);
- :class:`OperatorRewrite`: any evolution operator asked once with no history, e.g. the
  OpenAI-compatible :class:`~prompt_a_video.evolution.chat_api_operator.ChatAPIOperator`
  (GPT-4o, GLM-4, a vLLM server) as the API zero-shot baseline.

A new baseline is a new subclass, given in YAML by ``class_path``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from prompt_a_video.evolution.base import Operator


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


class OriginalPrompt(RewriteMethod):
    """The prompt as the user typed it, for every sample."""

    def rewrite(self, prompts, samples, seed=0):
        return [[p] * samples for p in prompts]

    @property
    def description(self) -> str:
        return "the original prompt"


class HeuristicRewrite(RewriteMethod):
    """The offline heuristic operator's one-shot rewrite (no LLM, no reward): the original
    plus one phrase per uncovered aspect (motion, camera, lighting, style...).

    Args:
        max_words: prune the rewrite to this many words.
    """

    def __init__(self, max_words: int | None = 60) -> None:
        from prompt_a_video.evolution.heuristic_operator import HeuristicOperator

        self.operator = HeuristicOperator(max_words=max_words)

    def rewrite(self, prompts, samples, seed=0):
        return [[self.operator.rewrite(p, seed=seed + i) for i in range(samples)] for p in prompts]

    @property
    def description(self) -> str:
        return f"heuristic one-shot rewrite ({self.operator.fingerprint})"


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
            Off by default: an evaluation measures what the model writes; a guarded
            variant is a method of its own.
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

    def rewrite(self, prompts, samples, seed=0):
        if self._refiner is None:
            from prompt_a_video.refiner import Refiner

            self._refiner = Refiner(self.model, device=self.device, batch_size=self.batch_size)
        n = 1 if self.temperature == 0 else samples  # greedy: one answer, the same for every sample
        out = self._refiner.refine(list(prompts), n=n, temperature=self.temperature, top_p=self.top_p,
                                   max_new_tokens=self.max_new_tokens, seed=seed, guard=self.guard)
        return [texts * (samples // n) for texts in out]

    def close(self) -> None:
        self._refiner = None

    @property
    def description(self) -> str:
        guard = ", guarded" if self.guard else ""
        return f"LLM refiner {self.model} (temperature {self.temperature}, top_p {self.top_p}{guard})"


class OperatorRewrite(RewriteMethod):
    """An evolution operator asked for ``samples`` rewrites with no scored history: with
    :class:`~prompt_a_video.evolution.chat_api_operator.ChatAPIOperator` this is the paper's
    GPT-4o/GLM-4 zero-shot baseline (the operator prompt, one round).

    Args:
        operator: the operator, by class_path.
    """

    def __init__(self, operator: Operator) -> None:
        self.operator = operator

    def rewrite(self, prompts, samples, seed=0):
        out = []
        for prompt in prompts:
            proposals = list(self.operator.propose(prompt, [], samples, seed=seed))[:samples]
            if not proposals:
                raise RuntimeError(f"{self.description} proposed nothing for {prompt!r}")
            out.append([proposals[i % len(proposals)] for i in range(samples)])
        return out

    @property
    def description(self) -> str:
        return f"operator {self.operator.fingerprint}"
