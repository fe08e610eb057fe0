"""Plots of an evaluation (PNG, matplotlib's Agg backend: no display needed).

- ``plot_dimensions``: one panel per quantity (the aggregate ``reward`` first, then each
  score dimension), one bar per method, the reward's error bar its bootstrap 95%
  interval. One panel per quantity because the dimensions have different scales.
- ``plot_pool_curve``: the evolved pool's mean best-so-far reward per iteration (the
  shape of the paper's Figure 5), from ``evolution.pool_stats``.
- ``write_plots``: both into an output folder under the names ``report.py`` embeds.

matplotlib is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DIMENSIONS_PNG = "dimensions.png"
POOL_CURVE_PNG = "pool_curve.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _value(x: Any) -> float:
    return float(x) if x is not None else math.nan


def plot_dimensions(metrics: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Save per-method bars for ``reward`` and each dimension of ``metrics`` as a PNG at ``path``.

    Missing values (``null``) leave their bar out. Returns the path written.
    """
    plt = _pyplot()
    methods = list(metrics.get("methods") or {})
    if not methods:
        raise ValueError("plot_dimensions: metrics['methods'] is empty; nothing to plot")
    panels = ["reward", *(metrics.get("dimensions") or [])]
    ncols = min(len(panels), 4)
    nrows = math.ceil(len(panels) / ncols)
    width = max(3.0, 0.45 * len(methods) + 1.2)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 2.9 * nrows), dpi=110, squeeze=False)
    colors = [plt.get_cmap("tab10")(i % 10) for i in range(len(methods))]
    x = list(range(len(methods)))
    for ax, panel in zip(axes.flat, panels):
        if panel == "reward":
            heights = [_value(metrics["methods"][m].get("reward")) for m in methods]
            low, high = [], []
            for m, h in zip(methods, heights):
                ci = metrics["methods"][m].get("reward_ci95")
                ok = ci is not None and not math.isnan(h)
                low.append(max(h - ci[0], 0.0) if ok else 0.0)
                high.append(max(ci[1] - h, 0.0) if ok else 0.0)
            bars = ax.bar(x, heights, color=colors, yerr=[low, high], capsize=3, ecolor="0.25")
            ax.set_title("reward (95% CI)", fontsize=9)
        else:
            heights = [_value((metrics["methods"][m].get("scores") or {}).get(panel)) for m in methods]
            bars = ax.bar(x, heights, color=colors)
            ax.set_title(panel, fontsize=9)
        # Inside the bar: above it the label would collide with the error bar.
        ax.bar_label(bars, labels=["" if math.isnan(h) else f"{h:.3g}" for h in heights], label_type="center",
                     fontsize=7, color="white", fontweight="bold")
        ax.set_xticks(x)
        ax.set_xticklabels(methods, rotation=30, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    seeds = len(metrics.get("seeds") or [])
    fig.suptitle(f"{metrics.get('prompt_set', '')}: {metrics.get('n_prompts', 0)} prompts x {seeds} seeds", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_pool_curve(pool_path: str | os.PathLike, path: str | os.PathLike,
                    iterations: int | None = None) -> Path | None:
    """Save the mean best-so-far reward per iteration of the evolved pool at ``pool_path``.

    Returns the PNG path, or None (nothing written) when no source prompt of the pool
    succeeded. ``iterations``: length of the curve (default: the largest iteration seen).
    """
    from prompt_a_video.data import iter_jsonl
    from prompt_a_video.evolution.pool_stats import best_so_far_curve, plot_curve

    records = [record for _, record in iter_jsonl(pool_path)]
    curve = best_so_far_curve(records, iterations)
    if not curve:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_curve(curve, path, title=f"evolved pool: {len(records)} prompts, mean best-so-far reward")
    return path


def write_plots(metrics: Mapping[str, Any], out_dir: str | os.PathLike,
                pool_path: str | os.PathLike | None = None) -> list[Path]:
    """``out_dir/dimensions.png`` and, given a pool, ``out_dir/pool_curve.png``; the paths written."""
    out_dir = Path(out_dir)
    written = [plot_dimensions(metrics, out_dir / DIMENSIONS_PNG)]
    if pool_path is not None:
        curve = plot_pool_curve(pool_path, out_dir / POOL_CURVE_PNG)
        if curve is not None:
            written.append(curve)
    return written
