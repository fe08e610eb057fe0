"""The `Operator` interface of evolution: propose new prompts from scored history.

The paper shows an LLM the ORIGINAL prompt plus the top-k earlier prompts with their
per-dimension scores, and asks for N new prompts that keep the meaning, are richer in
video-centric detail and avoid extra scene changes or too many actions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass
class Scored:
    """A prompt that was rendered and scored during evolution.

    Attributes:
        prompt: the candidate text (iteration 0's first entry is the original prompt).
        scores: ``{dimension: score}`` as the rewards returned them (NaN = failed).
        reward: the composite aggregate the loop ranks by (NaN when failed).
        iteration: the iteration that proposed it (0 = the original).
    """

    prompt: str
    scores: dict[str, float] = field(default_factory=dict)
    reward: float = float("nan")
    iteration: int = 0


class Operator(ABC):
    """Proposes ``n`` new prompts for ``original`` given the scored ``history``.

    Contract: returns at most ``n`` distinct, non-empty strings, none equal to a prompt
    already in ``history`` (the loop never renders a prompt twice); fewer than ``n`` is
    allowed when the operator cannot find more. ``history`` is sorted best first by the
    loop and holds the top-k earlier prompts. Errors (API down, model failure) raise:
    the loop records them in that prompt's record and goes on.
    """

    @property
    def fingerprint(self) -> str:
        """What changes the proposals (model, temperature, template...): logged with the pool."""
        return type(self).__name__

    @abstractmethod
    def propose(self, original: str, history: list[Scored], n: int, *, seed: int | None = None) -> list[str]: ...
