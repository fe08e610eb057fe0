"""`CachedReward`: any `Reward`, scoring only what the render cache does not hold.

Which results are cached:

- scores of items that did not fail;
- items that failed *deterministically*: the inner reward returned NaN/inf for them
  (``Reward.score`` marks those ``"<Reward>: non-finite <dim> (...)"``). The same video
  and prompt give the same NaN again, so rescoring would only cost time; the cached entry
  keeps the NaN and the reason, and a hit reports the failure again.
- NOT items whose scoring raised (out of memory, a decoder error, a flaky API): the
  reason may be transient, so a rerun retries them. A failure reason in any other form
  (e.g. re-worded by a composite reward) counts as not deterministic: retried.
"""

from __future__ import annotations

import logging
import math
import re

import torch

from prompt_a_video.cache.keys import score_key
from prompt_a_video.cache.store import RenderCache
from prompt_a_video.rewards.base import Reward, Scores
from prompt_a_video.video import Video

log = logging.getLogger(__name__)

# The reason `Reward.score` gives a non-finite result; an exception's reason reads
# "<Reward>: <ErrorType>: <message>" instead, so anchoring at the start tells them apart.
_NON_FINITE = re.compile(r"^\w+: non-finite ")


def is_deterministic_failure(reason: str) -> bool:
    """Whether a failure reason says the reward returned NaN/inf (cacheable), not raised."""
    return bool(_NON_FINITE.match(reason))


class CachedReward(Reward):
    """Wraps a reward with the score cache; drop-in (same ``dimensions`` and ``fingerprint``).

    ``score(videos, prompts)`` keys each item by (``video.content_hash()``, fingerprint,
    ORIGINAL prompt), returns cached items as they are, scores the misses in one call to
    the inner reward's ``score`` (so its batching and failure isolation apply), and merges
    both into one :class:`Scores` in input order, with ``failures`` re-indexed to the
    batch. A cached entry that lacks one of ``dimensions`` (the reward gained a dimension
    without changing its fingerprint) is a miss. See the module docstring for which
    failures are cached.

    Args:
        reward: the reward model that scores the misses.
        cache: where scores live (default: ``RenderCache()`` at ``$PAV_CACHE_DIR/render-cache``).
    """

    def __init__(self, reward: Reward, cache: RenderCache | None = None) -> None:
        if not isinstance(reward, Reward):
            raise TypeError(f"CachedReward: reward must be a Reward, got {type(reward).__name__}")
        self.reward = reward
        self.cache = cache if cache is not None else RenderCache()
        self.dimensions = tuple(reward.dimensions)

    @property
    def fingerprint(self) -> str:
        return self.reward.fingerprint

    def __repr__(self) -> str:
        return f"CachedReward({self.reward!r}, cache={self.cache!r})"

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        """The inner reward's raw batch call, uncached (``score`` is the cached path)."""
        return self.reward.score_batch(videos, prompts)

    def score(self, videos: list[Video], prompts: list[str]) -> Scores:
        if len(videos) != len(prompts):
            raise ValueError(f"{type(self).__name__}.score: {len(videos)} videos but {len(prompts)} prompts")
        fingerprint = self.reward.fingerprint
        positions: dict[str, list[int]] = {}
        for i, (video, prompt) in enumerate(zip(videos, prompts)):
            positions.setdefault(score_key(video.content_hash(), fingerprint, prompt), []).append(i)
        found: dict[str, dict[str, float]] = {}
        failed: dict[str, str] = {}
        misses: list[str] = []
        for key in positions:
            entry = self.cache.get_scores(key)
            if entry is None or any(dim not in entry.scores for dim in self.dimensions):
                misses.append(key)
                continue
            found[key] = entry.scores
            if entry.failure is not None:
                failed[key] = entry.failure
        if misses:
            firsts = [positions[key][0] for key in misses]
            # Inside inference mode: Reward.score NaN-fills failed items in place, which torch
            # refuses on its (inference) tensors outside it. _assemble copies into fresh tensors.
            with torch.inference_mode():
                fresh = self.reward.score([videos[i] for i in firsts], [prompts[i] for i in firsts])
            for j, (key, i) in enumerate(zip(misses, firsts)):
                found[key] = fresh.item(j)
                reason = fresh.failures.get(j)
                if reason is not None:
                    failed[key] = reason
                if reason is None or is_deterministic_failure(reason):
                    self._store(key, found[key], reason, prompts[i])
        return self._assemble(positions, found, failed, len(videos))

    def _assemble(self, positions: dict[str, list[int]], found: dict[str, dict[str, float]],
                  failed: dict[str, str], n: int) -> Scores:
        dims = list(self.dimensions)
        for scores in found.values():
            dims.extend(d for d in scores if d not in dims)
        out = {dim: torch.full((n,), math.nan, dtype=torch.float32) for dim in dims}
        failures: dict[int, str] = {}
        for key, where in positions.items():
            for i in where:
                for dim, value in found[key].items():
                    out[dim][i] = value
                if key in failed:
                    failures[i] = failed[key]
        return Scores(out, failures=failures)

    def _store(self, key: str, scores: dict[str, float], failure: str | None, prompt: str) -> None:
        source = {"reward": self.reward.fingerprint, "prompt": prompt}
        try:
            self.cache.put_scores(key, scores, failure=failure, source=source)
        except OSError as err:  # keep the scores, lose only the caching
            log.warning("render cache: could not store scores under %s: %s", self.cache.root, err)
