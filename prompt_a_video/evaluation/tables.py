"""Tables of an evaluation's ``metrics.json``: Markdown for the terminal and docs.

Two tables:

1. **summary**, one row per method: mean reward with its 95% interval, each dimension's
   mean, prompt fidelity, diversity, mean words and target tokens per prompt, the shares
   (in %) of rewrites that are degenerate, keep the intent and leak instructions,
   successful and failed videos.
2. **paired comparison** with a baseline (``original`` by default, else the first
   method): per other method, the win rate over prompts (failing rewrites never win),
   the win rate on reward alone, the mean reward difference and its paired bootstrap 95%
   interval, and the number of paired prompts.

Below them, one line per method whose rewrites fail the text checks (``text_check_lines``).
``summary_rows``/``comparison_rows``/``text_check_lines`` give the formatted cells and
lines; the HTML report renders the same, so the page and the Markdown show identical
numbers. Numbers carry 4 significant digits; a missing value (``null``, or a field an
older ``metrics.json`` lacks) shows as ``n/a``.
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


def fmt_pct(share: Any) -> str:
    """A share in [0, 1] as a percentage with up to 3 significant digits (``12.5``); ``n/a`` for None."""
    return MISSING if share is None else f"{100 * float(share):.3g}"


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
    header = ["method", "reward [95% CI]", *dims, "fidelity", "diversity", "words", "tokens", "degenerate %",
              "intent kept %", "leak %", "n", "failed"]
    rows = []
    for name, m in (metrics.get("methods") or {}).items():
        reward = fmt(m.get("reward"))
        if m.get("reward_ci95") is not None:
            reward += " " + fmt_interval(m["reward_ci95"])
        scores = m.get("scores") or {}
        rows.append([name, reward, *(fmt(scores.get(d)) for d in dims), fmt(m.get("fidelity")),
                     fmt(m.get("diversity")), fmt(m.get("length_words"), 3), fmt(m.get("length_tokens"), 3),
                     fmt_pct(m.get("degenerate_rate")), fmt_pct(m.get("intent_kept_rate")),
                     fmt_pct(m.get("leakage_rate")), fmt(m.get("n")), fmt(m.get("failed"))])
    return header, rows


def comparison_rows(metrics: Mapping[str, Any],
                    baseline: str | None = "original") -> tuple[str | None, list[str], list[list[str]]]:
    """The baseline chosen, header and formatted rows of the paired comparison table."""
    base = choose_baseline(metrics, baseline)
    header = ["method", f"win rate vs {base}", "on reward alone", "mean diff", "95% CI", "paired prompts"]
    win_rate, mean_diff = metrics.get("win_rate") or {}, metrics.get("mean_diff") or {}
    reward_only = metrics.get("win_rate_reward_only") or {}
    ci95, n_paired = metrics.get("ci95") or {}, metrics.get("n_paired") or {}
    rows = []
    for name in metrics.get("methods") or {}:
        if name == base:
            continue
        key = f"{name}_vs_{base}"
        rows.append([name, fmt(win_rate.get(key)), fmt(reward_only.get(key)), fmt(mean_diff.get(key)),
                     fmt_interval(ci95.get(key)), fmt(n_paired.get(key))])
    return base, header, rows


def text_check_lines(metrics: Mapping[str, Any], baseline: str | None = "original") -> list[tuple[str, str]]:
    """``(method, line)`` for each method with rewrites failing the text checks, e.g.
    ``sft: 25% of rewrites fail the text checks (degenerate 12.5%, intent lost 12.5%,
    leaked 0%); win rate vs original 0.4 (0.6 on reward alone)``. Empty for a
    ``metrics.json`` without the text rates."""
    base = choose_baseline(metrics, baseline)
    win_rate, reward_only = metrics.get("win_rate") or {}, metrics.get("win_rate_reward_only") or {}
    lines = []
    for name, m in (metrics.get("methods") or {}).items():
        passed = m.get("text_pass_rate")
        if passed is None or passed >= 1:
            continue
        kept = m.get("intent_kept_rate")
        line = (f"{name}: {fmt_pct(1 - passed)}% of rewrites fail the text checks (degenerate "
                f"{fmt_pct(m.get('degenerate_rate'))}%, intent lost {fmt_pct(None if kept is None else 1 - kept)}%, "
                f"leaked {fmt_pct(m.get('leakage_rate'))}%)")
        key = f"{name}_vs_{base}"
        if name != base and win_rate.get(key) is not None:
            line += f"; win rate vs {base} {fmt(win_rate[key])} ({fmt(reward_only.get(key))} on reward alone)"
        lines.append((name, line))
    return lines


def checks_note(metrics: Mapping[str, Any]) -> str | None:
    """How the text checks and token lengths were made (None for an older ``metrics.json``)."""
    checks, tokens = metrics.get("text_checks"), metrics.get("token_count")
    parts = []
    if isinstance(checks, Mapping):
        fluency = checks.get("fluency_model")
        floors = ", ".join(f"{k} > {v:g}" for k, v in (checks.get("floors") or {}).items() if fluency or k != "FLU")
        parts.append(f"Text checks pass when {floors or 'no floor'} (strict); fluency "
                     + (f"by {fluency}" if fluency else "skipped (no fluency LM)") + ".")
    if isinstance(tokens, Mapping):
        label = str(tokens.get("tokenizer", "?"))
        estimate = label.removeprefix("estimate: ")
        how = f"counted exactly by {label}" if tokens.get("exact") else f"estimated ({estimate})"
        limit = tokens.get("token_limit")
        parts.append(f"Tokens {how}" + (f"; the target reads {limit}." if limit else "."))
    return " ".join(parts) or None


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
        parts += ["", f"Paired by prompt with `{_md_cell(base)}`: win rate = P(better) + 0.5 P(tie), where a "
                      "prompt with a rewrite failing the text checks is never a win; 95% CI = paired bootstrap "
                      "of the mean reward difference.", "", _md_table(header, rows)]
    lines = text_check_lines(metrics, baseline)
    if lines:
        parts += ["", *(f"- {_md_cell(line)}" for _, line in lines)]
    note = checks_note(metrics)
    if note:
        parts += ["", _md_cell(note)]
    return "\n".join(parts) + "\n"
