"""The evolved prompt pool: per source prompt, every scored candidate and the best one.

Written by the evolution stage (one ``PoolRecord`` a line, see DESIGN.md "File
formats"), read by SFT, whose examples are (original → best) pairs (``sft_pairs``).
``iter_pool`` also reads the paper's released data (see ``paper_formats``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataFormatError, ErrorPolicy, InvalidRecord
from .jsonl import iter_jsonl, require_file
from .validation import check_number, check_prompt, check_scores, describe, require_key

__all__ = ["Candidate", "PoolRecord", "iter_pool", "sft_pairs", "mean_score", "pick_best"]


@dataclass
class Candidate:
    """One prompt that was rendered and scored during evolution.

    Attributes:
        prompt: the candidate prompt text.
        iteration: the evolution iteration that proposed it (0 = the first round, which
            includes the original prompt), or None when unknown (paper SFT data).
        scores: ``{dimension: score}``; NaN marks a dimension that failed to score.
        reward: the aggregate the evolution ranked by, NaN if it failed, None if unknown.
    """

    prompt: str
    iteration: int | None = None
    scores: dict[str, float] = field(default_factory=dict)
    reward: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "iteration": self.iteration,
            "scores": dict(self.scores),
            "reward": self.reward,
        }

    @classmethod
    def from_dict(cls, d: Any, field: str = "candidate") -> Candidate:
        """Validate and build; ``InvalidRecord`` names the field path (``field`` prefix)."""
        if not isinstance(d, Mapping):
            raise InvalidRecord(f"{field}: expected an object, got {describe(d)}")
        prompt = check_prompt(require_key(d, "prompt", field), f"{field}.prompt")
        iteration = d.get("iteration")
        if iteration is not None and (
            isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0
        ):
            raise InvalidRecord(
                f"{field}.iteration: expected an integer >= 0 or null, got {describe(iteration)}"
            )
        scores = check_scores(d.get("scores", {}), f"{field}.scores")
        reward = check_number(d.get("reward"), f"{field}.reward", nullable=True)
        return cls(prompt, iteration, scores, reward)


@dataclass
class PoolRecord:
    """All candidates evolved from one source prompt, and the chosen best.

    Attributes:
        prompt: the original (source) prompt.
        backbone: the generator's fingerprint the candidates were rendered with, or None
            (paper data).
        candidates: every scored candidate, in the order they were produced.
        best: the SFT target, or None when no candidate cleared the floors.
    """

    prompt: str
    backbone: str | None = None
    candidates: list[Candidate] = field(default_factory=list)
    best: Candidate | None = None

    def to_dict(self) -> dict[str, Any]:
        """Exactly DESIGN.md's pool record: ``prompt, backbone, candidates, best``."""
        return {
            "prompt": self.prompt,
            "backbone": self.backbone,
            "candidates": [c.to_dict() for c in self.candidates],
            "best": None if self.best is None else self.best.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Any) -> PoolRecord:
        """Validate and build. ``prompt`` and ``candidates`` are required; ``backbone``
        and ``best`` default to null. Unknown keys are ignored (forward compatibility)."""
        if not isinstance(d, Mapping):
            raise InvalidRecord(f"expected a pool record object, got {describe(d)}")
        prompt = check_prompt(require_key(d, "prompt"), "prompt")
        backbone = d.get("backbone")
        if backbone is not None and not isinstance(backbone, str):
            raise InvalidRecord(f"backbone: expected a string or null, got {describe(backbone)}")
        raw = require_key(d, "candidates")
        if not isinstance(raw, list):
            raise InvalidRecord(f"candidates: expected a list, got {describe(raw)}")
        candidates = [Candidate.from_dict(c, f"candidates[{i}]") for i, c in enumerate(raw)]
        best = d.get("best")
        best = None if best is None else Candidate.from_dict(best, "best")
        return cls(prompt, backbone, candidates, best)


def mean_score(scores: Mapping[str, float]) -> float | None:
    """The default aggregate for paper logs: the plain mean of the scores.

    An ASSUMPTION: the paper's logs hold per-dimension scores but not the weights it
    ranked by, so equal weights stand in. NaN propagates (a failed dimension makes the
    candidate unrankable rather than silently ignored); no scores → None.
    """
    if not scores:
        return None
    return sum(scores.values()) / len(scores)


def iter_pool(
    path: str | os.PathLike,
    *,
    aggregate: Callable[[dict[str, float]], float | None] | None = None,
    errors: str = "raise",
    skipped: list[DataFormatError] | None = None,
) -> Iterator[PoolRecord]:
    """Read an evolved pool: our ``.jsonl``, or the paper's ``.json`` releases.

    Formats, by suffix and then by the shape of the JSON:

    - ``.jsonl``: one ``PoolRecord.to_dict()`` object a line (what evolution writes);
    - ``.json`` list of ``[original, refined]`` string pairs: the paper's SFT data, one
      record with a single candidate, which is also ``best``;
    - ``.json`` list, per source prompt, of iterations, each a list of
      ``{"prompt", "scores"}``: the paper's evolution logs. ``aggregate(scores)`` gives
      each candidate's reward (None: ``mean_score``, an assumption); ``best`` is the
      highest-reward candidate other than the original, if it scores above the original
      (``pick_best``). The other
      formats carry their own rewards, and ``aggregate`` is not used for them;
    - ``.json`` list of pool record objects (our records, as one document).

    ``errors``/``skipped``: see ``ErrorPolicy``.
    """
    policy = ErrorPolicy(errors, skipped)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json"):
        raise ValueError(
            f"{path}: not an evolved pool; expected .jsonl (our pool records) or .json "
            f"(the paper's SFT pairs or evolution logs)"
        )
    require_file(path)
    if suffix == ".jsonl":
        records = iter_jsonl(path, parse=PoolRecord.from_dict, errors=errors, skipped=skipped)
        return (record for _line, record in records)
    from .paper_formats import iter_pool_json  # here: paper_formats imports this module

    return iter_pool_json(path, aggregate or mean_score, policy)


def sft_pairs(records: Iterable[PoolRecord]) -> Iterator[tuple[str, str]]:
    """``(original, best.prompt)`` for each record that has a best: the SFT examples."""
    for record in records:
        if record.best is not None:
            yield record.prompt, record.best.prompt


def pick_best(original: str, candidates: list[Candidate]) -> Candidate | None:
    """The highest-reward candidate other than the original, if it beats the original;
    ties go to the earliest.

    Candidates whose text is the original's are left out (an SFT example that maps a
    prompt to itself teaches nothing), as are those with no or a NaN reward. When the
    original itself is among the candidates with a reward, a rewrite must score above its
    first score (as ``EvolutionLoop`` decides ``best``): a source whose rewrites all score
    below the user's prompt gives no SFT example.
    """
    best = None
    baseline = None
    for c in candidates:
        if c.reward is None or math.isnan(c.reward):
            continue
        if c.prompt == original:
            baseline = c.reward if baseline is None else baseline  # its first score: what rewrites competed with
            continue
        if best is None or c.reward > best.reward:
            best = c
    if best is not None and baseline is not None and best.reward <= baseline:
        return None
    return best
