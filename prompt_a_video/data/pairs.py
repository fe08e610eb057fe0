"""Preference pairs: what pair building writes and DPO trains on.

Our records carry the rewards and per-dimension scores of both sides (so a DPO run can
be audited, or pairs re-filtered with other floors); the paper's released triplets carry
only the texts, which is all DPO needs, so those fields are optional.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DataFormatError, ErrorPolicy, InvalidRecord
from .jsonfile import iter_json_list, load_json_list
from .jsonl import iter_jsonl, require_file
from .paper_chat import user_prompt_of
from .validation import check_number, check_prompt, check_scores, describe, require_key

__all__ = ["PreferencePair", "iter_pairs"]


@dataclass
class PreferencePair:
    """A prompt and two refinements of it, ``chosen`` preferred over ``rejected``.

    Attributes:
        prompt: the original user prompt.
        chosen, rejected: the two refined prompts; never equal.
        chosen_reward, rejected_reward: their aggregate rewards, or None (paper data).
        chosen_scores, rejected_scores: their ``{dimension: score}``, or None.
    """

    prompt: str
    chosen: str
    rejected: str
    chosen_reward: float | None = None
    rejected_reward: float | None = None
    chosen_scores: dict[str, float] | None = None
    rejected_scores: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Exactly DESIGN.md's pair record, all seven keys (null where unknown)."""
        return {
            "prompt": self.prompt,
            "chosen": self.chosen,
            "rejected": self.rejected,
            "chosen_reward": self.chosen_reward,
            "rejected_reward": self.rejected_reward,
            "chosen_scores": None if self.chosen_scores is None else dict(self.chosen_scores),
            "rejected_scores": None if self.rejected_scores is None else dict(self.rejected_scores),
        }

    @classmethod
    def from_dict(cls, d: Any) -> PreferencePair:
        """Validate and build; only ``prompt``, ``chosen``, ``rejected`` are required.

        Texts are checked like any prompt (and stripped); a pair whose two sides are the
        same text carries no preference and is rejected. Unknown keys are ignored. A
        ``prompt`` that is the paper's Llama-3 chat text (its released DPO triplets) is
        read as the user's prompt inside it (:mod:`.paper_chat`).
        """
        if not isinstance(d, Mapping):
            raise InvalidRecord(f"expected a pair object, got {describe(d)}")
        prompt = require_key(d, "prompt")
        if isinstance(prompt, str):  # the paper's triplets store the whole chat text the refiner saw
            prompt = user_prompt_of(prompt)
        prompt = check_prompt(prompt, "prompt")
        chosen = check_prompt(require_key(d, "chosen"), "chosen")
        rejected = check_prompt(require_key(d, "rejected"), "rejected")
        if chosen == rejected:
            raise InvalidRecord("chosen and rejected are identical")
        rewards = [check_number(d.get(k), k, nullable=True) for k in ("chosen_reward", "rejected_reward")]
        scores = [
            None if d.get(k) is None else check_scores(d[k], k)
            for k in ("chosen_scores", "rejected_scores")
        ]
        return cls(prompt, chosen, rejected, *rewards, *scores)


def iter_pairs(
    path: str | os.PathLike,
    *,
    errors: str = "raise",
    skipped: list[DataFormatError] | None = None,
) -> Iterator[PreferencePair]:
    """Read preference pairs: our ``.jsonl``, or a ``.json`` list of pair objects.

    Both accept full records and the paper's triplets (``prompt``/``chosen``/
    ``rejected`` only). ``errors``/``skipped``: see ``ErrorPolicy``.
    """
    policy = ErrorPolicy(errors, skipped)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json"):
        raise ValueError(
            f"{path}: not a preference-pair file; expected .jsonl (one pair a line) or .json "
            f'(a list of {{"prompt", "chosen", "rejected"}} objects, the paper\'s triplets)'
        )
    require_file(path)
    if suffix == ".jsonl":
        records = iter_jsonl(path, parse=PreferencePair.from_dict, errors=errors, skipped=skipped)
        return (pair for _line, pair in records)
    items = load_json_list(path, '{"prompt", "chosen", "rejected"} objects')
    return (pair for _loc, pair in iter_json_list(path, items, PreferencePair.from_dict, policy))
