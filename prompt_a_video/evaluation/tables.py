"""Tables of an evaluation's ``metrics.json``: Markdown for the terminal and docs.

Two tables:

1. **summary**, one row per method: mean reward with its 95% interval, each dimension's
   mean, prompt fidelity, diversity, mean words per prompt, successful and failed videos.
2. **paired comparison** with a baseline (``original`` by default, else the first
   method): per other method, the win rate over prompts, the mean reward difference and
   its paired bootstrap 95% interval, and the number of paired prompts.

``summary_rows``/``comparison_rows`` give the formatted cells; the HTML report renders the
same cells, so the page and the Markdown show identical numbers. Numbers carry 4
significant digits; a missing value (``null``) shows as ``n/a``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MISSING = "n/a"


def fmt(value: Any, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits; ``n/a`` for None."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.{digits}g}"


def fmt_interval(interval: Sequence[float] | None) -> str:
    return MISSING if interval is None else f"[{fmt(interval[0])}, {fmt(interval[1])}]"


def choose_baseline(metrics: Mapping[str, Any], baseline: str | None = "original") -> str | None:
    """``baseline`` if it is one of the methods, else the first method (None: no methods)."""
    methods = list(metrics.get("methods") or {})
    if baseline in methods:
        return baseline
    return methods[0] if methods else None


def summary_rows(metrics: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows of the per-method summary table."""
    dims = list(metrics.get("dimensions") or [])
    header = ["method", "reward [95% CI]", *dims, "fidelity", "diversity", "words", "n", "failed"]
    rows = []
    for name, m in (metrics.get("methods") or {}).items():
        reward = fmt(m.get("reward"))
        if m.get("reward_ci95") is not None:
            reward += " " + fmt_interval(m["reward_ci95"])
        scores = m.get("scores") or {}
        rows.append([name, reward, *(fmt(scores.get(d)) for d in dims), fmt(m.get("fidelity")),
                     fmt(m.get("diversity")), fmt(m.get("length_words"), 3), fmt(m.get("n")), fmt(m.get("failed"))])
    return header, rows


def comparison_rows(metrics: Mapping[str, Any],
                    baseline: str | None = "original") -> tuple[str | None, list[str], list[list[str]]]:
    """The baseline chosen, header and formatted rows of the paired comparison table."""
    base = choose_baseline(metrics, baseline)
    header = ["method", f"win rate vs {base}", "mean diff", "95% CI", "paired prompts"]
    win_rate, mean_diff = metrics.get("win_rate") or {}, metrics.get("mean_diff") or {}
    ci95, n_paired = metrics.get("ci95") or {}, metrics.get("n_paired") or {}
    rows = []
    for name in metrics.get("methods") or {}:
        if name == base:
            continue
        key = f"{name}_vs_{base}"
        rows.append([name, fmt(win_rate.get(key)), fmt(mean_diff.get(key)), fmt_interval(ci95.get(key)),
                     fmt(n_paired.get(key))])
    return base, header, rows


def _md_cell(text: str) -> str:
    # A pipe would end the cell, a newline the row: method names and prompts are user text.
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_table(metrics: Mapping[str, Any], baseline: str | None = "original") -> str:
    """The summary table and the paired comparison with ``baseline``, as Markdown."""
    header, rows = summary_rows(metrics)
    seeds = metrics.get("seeds") or []
    parts = [
        f"**{_md_cell(metrics.get('prompt_set', '?'))}**: {metrics.get('n_prompts', 0)} prompts x "
        f"{len(seeds)} seeds; scores against the original prompt, means over successful videos.",
        "",
        _md_table(header, rows),
    ]
    base, header, rows = comparison_rows(metrics, baseline)
    if rows:
        parts += ["", f"Paired by prompt with `{_md_cell(base)}`: win rate = P(better) + 0.5 P(tie); "
                      "95% CI = paired bootstrap of the mean reward difference.", "", _md_table(header, rows)]
    return "\n".join(parts) + "\n"
