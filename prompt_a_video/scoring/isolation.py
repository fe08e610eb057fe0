"""Rendering and scoring that one bad item cannot end: the engine's retry policy.

A batch call that raises is retried, so only the culprit fails:

- an out-of-memory error (CUDA's, or ``MemoryError``) retries the batch in halves, down
  to one item: a long prompt that does not fit with seven others may fit alone;
- any other error retries item by item;
- an item that still fails alone is returned with its reason, never raised.

Rewards isolate their own items already (``Reward.score``); a score call that raises
anyway (a wrapper, a device error) goes through the same policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` says the device ran out of memory (worth retrying with less)."""
    if isinstance(err, MemoryError):
        return True
    try:
        import torch

        if isinstance(err, torch.cuda.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    return "out of memory" in str(err).lower()


def describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def isolated(call: Callable[[list[T]], list[R]], items: Sequence[T], what: str) -> list[R | str]:
    """``call(items)``, one result per item; where it cannot succeed, the reason (a str).

    ``call`` must return one result per item, in order (a wrong count counts as a
    failure of the batch). ``what`` names the work in warnings ("render", "score").
    """
    items = list(items)
    if not items:
        return []
    try:
        out = list(call(items))
        if len(out) != len(items):
            raise RuntimeError(f"{what} returned {len(out)} results for {len(items)} items")
        return out
    except Exception as err:
        if len(items) == 1:
            return [describe(err)]
        if is_out_of_memory(err):
            half = len(items) // 2
            log.warning("%s: out of memory on a batch of %d (%s); retrying in halves", what, len(items), err)
            return isolated(call, items[:half], what) + isolated(call, items[half:], what)
        log.warning("%s: a batch of %d failed (%s); retrying item by item", what, len(items), describe(err))
        return [result for item in items for result in isolated(call, [item], what)]


def render_isolated(generator: Any, texts: Sequence[str], seed: int) -> tuple[list[Any], dict[int, str]]:
    """``(videos, failures)``: a video per text (None where it failed), ``{index: reason}``."""
    results = isolated(lambda batch: generator.generate(batch, seed), texts, "render")
    failures = {i: r for i, r in enumerate(results) if isinstance(r, str)}
    return [None if i in failures else r for i, r in enumerate(results)], failures


def score_isolated(reward: Any, videos: Sequence[Any], originals: Sequence[str]) -> list[tuple[dict[str, float], str | None]]:
    """Per item: (raw reward output incl. aggregate and floor flag, failure reason or None)."""
    def call(pairs):
        scores = reward.score([v for v, _ in pairs], [o for _, o in pairs])
        return [(scores.item(j), scores.failures.get(j)) for j in range(len(pairs))]

    results = isolated(call, list(zip(videos, originals)), "score")
    return [({}, r) if isinstance(r, str) else r for r in results]
