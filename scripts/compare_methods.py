"""Print chosen pairwise comparisons of one or more evaluations as a Markdown table.

``table.md`` of an evaluation compares every method with ``original``; the method's
claims need other pairs too (dpo vs sft, the refiners vs zero-shot, one preset's refiner
vs the other's). This reads ``metrics.json`` files and prints, per file and pair, the win
rate, the mean reward difference and its paired bootstrap 95% interval::

    python scripts/compare_methods.py runs/cpu-full/evaluate/in-domain/metrics.json \\
        --pairs dpo:sft sft:original dpo:zero-shot sft:zero-shot
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def rows(metrics_path: Path, pairs: list[tuple[str, str]]) -> list[str]:
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    out = []
    for a, b in pairs:
        key = f"{a}_vs_{b}"
        if key not in metrics.get("win_rate", {}):
            continue  # a method this evaluation does not have
        low, high = metrics["ci95"].get(key) or (None, None)
        out.append(f"| {metrics_path.parent} | {a} vs {b} | {_fmt(metrics['win_rate'][key])} | "
                   f"{_fmt(metrics['mean_diff'].get(key))} | [{_fmt(low)}, {_fmt(high)}] | "
                   f"{metrics.get('n_paired', {}).get(key, 'n/a')} |")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", nargs="+", type=Path, help="metrics.json files of `pav evaluate`")
    parser.add_argument("--pairs", nargs="+", required=True, help="A:B method pairs, e.g. dpo:sft")
    args = parser.parse_args(argv)
    pairs = []
    for pair in args.pairs:
        a, sep, b = pair.partition(":")
        if not sep or not a or not b:
            parser.error(f"--pairs {pair!r}: expected A:B, e.g. dpo:sft")
        pairs.append((a, b))
    print("| evaluation | comparison | win rate | mean reward diff | paired 95% CI | prompts |")
    print("|---|---|---:|---:|---:|---:|")
    for path in args.metrics:
        for row in rows(path, pairs):
            print(row)


if __name__ == "__main__":
    main()
