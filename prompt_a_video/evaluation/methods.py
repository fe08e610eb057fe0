"""Rewrite methods compared by `pav evaluate`: where each method's prompts come from.

A method turns each original prompt into ``samples`` prompts to render (sample ``i`` is
rendered with the ``i``-th evaluation seed). Built in:

- :class:`OriginalPrompt` (``original``): the user's prompt as typed;
- :class:`HeuristicRewrite` (``heuristic``): the offline operator's one-shot enrichment;
- :class:`~prompt_a_video.refiner.rewriters.RefinerRewrite`: an LLM refiner: the base instruct model asked to rewrite with
  the refiner's instruction (``zero-shot``, the paper's GPT-4o/GLM-4 baseline played by a
  local model), or a trained refiner (``sft``, ``dpo``, any export folder);
- :class:`OperatorRewrite`: any evolution operator asked once with no history, e.g. the
  OpenAI-compatible :class:`~prompt_a_video.evolution.chat_api_operator.ChatAPIOperator`
  (GPT-4o, GLM-4, a vLLM server) as the API zero-shot baseline.

A new baseline is a new subclass, given in YAML by ``class_path``.
"""

from __future__ import annotations

from prompt_a_video.evolution.base import Operator
from prompt_a_video.refiner.rewriters import RefinerRewrite, RewriteMethod

__all__ = ["RewriteMethod", "OriginalPrompt", "HeuristicRewrite", "RefinerRewrite", "OperatorRewrite"]


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
