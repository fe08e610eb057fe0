"""What goes into the scoring engine and what comes out.

An :class:`Item` is one render: the text to render, the ORIGINAL prompt it is scored
against (DESIGN.md: rewards judge what the user asked for), the seed, and the caller's
``key``. Items that share a key are the same candidate under several seeds:
:func:`average_over_seeds` folds their :class:`Scored` results into one :class:`SeedMean`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Keys of a composite reward's output that are not per-dimension scores.
REWARD_KEY, FLOORS_KEY = "reward", "passes_floors"


@dataclass(frozen=True)
class Item:
    """One render-and-score request.

    Attributes:
        text: what the generator renders.
        original: the user's prompt the video is scored against.
        seed: the render seed.
        key: the caller's name for the candidate (items sharing it are seed-averaged).
    """

    text: str
    original: str
    seed: int = 0
    key: str = ""


@dataclass
class Scored:
    """The outcome of one :class:`Item`.

    Attributes:
        item: the request.
        scores: ``{dimension: float}`` in each reward's own scale, without the aggregate
            and the floor flag; NaN everywhere when the item failed.
        reward: the aggregate ``reward`` (None when the reward has none, or it failed).
        passes_floors: whether every floor held (None when the reward has no floors).
        failure: why the item failed (``"render: ..."`` or ``"score: ..."``), or None.
        video: the rendered video, kept only when the caller asked for it.
        video_file: where its MP4 was written, relative to the engine's video folder.
        meta: the video's ``meta`` (what the generator says it rendered).
    """

    item: Item
    scores: dict[str, float]
    reward: float | None
    passes_floors: bool | None
    failure: str | None = None
    video: Any = None
    video_file: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.failure is not None

    @property
    def render_failed(self) -> bool:
        return self.failure is not None and self.failure.startswith("render: ")

    def value(self, dim: str) -> float:
        """A dimension's score, or the aggregate / floor flag (1.0 or 0.0) under their own
        names, as the reward output them; NaN where it failed or is missing."""
        if dim == REWARD_KEY:
            return math.nan if self.reward is None else float(self.reward)
        if dim == FLOORS_KEY:
            return math.nan if self.passes_floors is None else float(self.passes_floors)
        return self.scores.get(dim, math.nan)

    def json_scores(self) -> dict[str, float | None]:
        """``scores`` with NaN as None (JSON has no NaN)."""
        return {k: None if math.isnan(v) else v for k, v in self.scores.items()}


@dataclass
class SeedMean:
    """One candidate's scores averaged over its seeds.

    ``scores`` and ``reward`` are means over the seeds (NaN when any seed failed);
    ``passes_floors`` holds only if it held for every seed; ``failure`` is the first
    seed's failure, if any.
    """

    key: str
    text: str
    original: str
    scores: dict[str, float]
    reward: float
    passes_floors: bool | None
    failure: str | None
    seeds: int

    @property
    def failed(self) -> bool:
        return self.failure is not None


def from_values(item: Item, values: dict[str, float], failure: str | None) -> Scored:
    """A :class:`Scored` from one item's raw reward output (aggregate and flag split off)."""
    values = dict(values)
    total = values.pop(REWARD_KEY, None)
    flag = values.pop(FLOORS_KEY, None)
    if failure is None and total is not None and math.isnan(total):
        failure = "score: the aggregate reward is NaN"
    return Scored(item, values, None if total is None or math.isnan(total) else total,
                  None if flag is None or failure is not None else flag == 1.0, failure)


def average_over_seeds(results: Sequence[Scored]) -> list[SeedMean]:
    """Group results by ``item.key`` (first-seen order) and average each group."""
    groups: dict[str, list[Scored]] = {}
    for result in results:
        groups.setdefault(result.item.key, []).append(result)
    return [_mean(key, runs) for key, runs in groups.items()]


def _mean(key: str, runs: list[Scored]) -> SeedMean:
    dims = list(dict.fromkeys(d for run in runs for d in run.scores))
    failure = next((f"seed {r.item.seed}: {r.failure}" for r in runs if r.failed), None)
    scores = {d: math.fsum(r.scores.get(d, math.nan) for r in runs) / len(runs) for d in dims}
    reward = math.nan if failure or any(r.reward is None for r in runs) else \
        math.fsum(r.reward for r in runs) / len(runs)
    flags = [r.passes_floors for r in runs]
    passes = None if all(f is None for f in flags) else all(f is True for f in flags)
    first = runs[0].item
    return SeedMean(key, first.text, first.original, scores, reward, passes, failure, len(runs))


def video_filename(text: str, seed: int) -> str:
    """A readable, collision-safe MP4 name for a rendered text and seed."""
    slug = "".join(c if c.isalnum() else "-" for c in text.lower())[:40].strip("-")
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{slug}-{digest}-s{seed}.mp4"


def video_is_gone(folder, record: dict) -> bool:
    """Whether a scores record names a video (its ``video``, relative to ``folder``) that
    was deleted or cut short since it was written: the record is then not done, and a
    rerun renders the video again instead of keeping scores that point at nothing."""
    from prompt_a_video.video_io import mp4_is_complete

    return bool(record.get("video")) and not mp4_is_complete(Path(folder) / record["video"])
