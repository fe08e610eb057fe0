"""What an evolved pool says about the run: the best-so-far curve and pool statistics.

The curve is the shape of the paper's Figure 5: for each iteration ``i``, the mean over
source prompts of the reward of the best prompt available by then, i.e. the maximum of
the original's reward and the rewards of the rewrites from iterations ``1..i`` that pass
the floors. It starts at the mean original reward and never decreases. Sources recorded
with an ``error`` are left out of the curve and the gain.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prompt_a_video.evolution.loop import FLOORS_KEY


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _original(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for c in record.get("candidates") or []:
        if c.get("prompt") == record.get("prompt") and _finite(c.get("reward")):
            return c
    return None


def _usable(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("error") is None and _original(r) is not None]


def best_so_far_curve(records: Iterable[Mapping[str, Any]], iterations: int | None = None) -> list[float]:
    """Mean best-so-far reward at iterations ``0..K`` (K: given, else the largest seen).

    ``records`` are pool record dicts (as written, ``error`` key included). Empty list
    when no source succeeded.
    """
    usable = _usable(records)
    if not usable:
        return []
    if iterations is None:
        iterations = max((c.get("iteration") or 0) for r in usable for c in r["candidates"])
    sums = [0.0] * (iterations + 1)
    for r in usable:
        best = _original(r)["reward"]
        by_iter = [best] * (iterations + 1)
        for c in r["candidates"]:
            it = c.get("iteration") or 0
            passes = (c.get("scores") or {}).get(FLOORS_KEY, 1.0) == 1.0
            if 1 <= it <= iterations and _finite(c.get("reward")) and passes:
                for j in range(it, iterations + 1):
                    by_iter[j] = max(by_iter[j], c["reward"])
        for j, value in enumerate(by_iter):
            sums[j] += value
    return [s / len(usable) for s in sums]


def pool_statistics(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``n_prompts``, ``n_with_best``, ``n_failed``, ``mean_candidates`` (per source,
    original included), ``mean_original_reward`` and ``mean_gain`` (best minus original
    reward, over the sources that have a best; NaN when none has)."""
    n = len(records)
    with_best = [r for r in records if r.get("best") is not None]
    gains = []
    for r in _usable(with_best):
        if _finite(r["best"].get("reward")):
            gains.append(r["best"]["reward"] - _original(r)["reward"])
    originals = [_original(r)["reward"] for r in _usable(records)]
    return {
        "n_prompts": float(n),
        "n_with_best": float(len(with_best)),
        "n_failed": float(sum(r.get("error") is not None for r in records)),
        "mean_candidates": sum(len(r.get("candidates") or []) for r in records) / n if n else math.nan,
        "mean_original_reward": sum(originals) / len(originals) if originals else math.nan,
        "mean_gain": sum(gains) / len(gains) if gains else math.nan,
    }


def plot_curve(curve: Sequence[float], path: str | os.PathLike, title: str = "") -> None:
    """Save the best-so-far curve as a PNG (matplotlib, Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    ax.plot(range(len(curve)), curve, marker="o")
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean best-so-far reward")
    ax.set_xticks(range(len(curve)))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
