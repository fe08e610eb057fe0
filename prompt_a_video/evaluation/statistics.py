"""Statistics of an evaluation run: per-method means, paired win rates, bootstrap intervals.

Inputs are the runner's plain dicts (see ``compute_metrics``); the output is the
``metrics.json`` dict of DESIGN.md. Pure Python + numpy (and the text checks, no model
unless a fluency LM is given), deterministic for a given ``seed``.

Conventions, and why:

- A record is *successful* when it has no ``failure`` and a finite ``reward``. Failed
  renders/scores are counted (``failed``) and left out of every mean: a method is not
  rewarded or punished for a crash of the video model, and the count makes it visible.
- Per method, ``reward`` and ``scores.<dim>`` are means over successful *videos*;
  ``reward_ci95`` resamples *prompts* (all seeds of a prompt stay together, because
  videos of one prompt are correlated), recomputing the same video-level mean.
- Method comparisons are *paired by prompt*: a method's value on a prompt is the mean
  reward over its successful seeds; only prompts where both methods have a value count.
  ``win_rate`` = P(a > b) + 0.5 P(tie); a tie is ``|a - b| <= tie_tol``, because the same
  video scored in two differently composed batches can differ in the last float32 bits.
  ``ci95`` is the 2.5/97.5 percentile interval of the mean paired difference (a - b) over
  ``bootstrap`` resamplings of those prompts.
- A rewrite that fails the text checks (:mod:`~prompt_a_video.evaluation.text_checks`:
  degenerate, instructions leaked, or the user's content lost) never counts as a win:
  a prompt gives ``a`` its win (or half of one, a tie) only when every sample ``a`` wrote
  for it passes; otherwise ``a`` gets 0 on that prompt, whatever its reward. The prompt
  itself (``original``) always passes. ``win_rate_reward_only`` is the same count on
  rewards alone, so a refiner whose reward rises while its text degrades shows as a gap
  between the two. ``mean_diff`` and ``ci95`` stay on the raw rewards of every paired
  prompt: they measure the reward, the win rate what a user would accept.
- Each bootstrap draws from its own generator seeded by ``(seed, names)``, so a number
  does not change when other methods are added, and ``b_vs_a`` uses the same resamples as
  ``a_vs_b`` (its interval is the negated one).
- NaN never reaches JSON: a value that cannot be computed is ``None`` (``null``).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

# Keys of a record's ``scores`` that are not reward dimensions: the composite's aggregate
# and its 0/1 floor indicator (a fraction, not a score, so it stays out of the means).
NOT_DIMENSIONS = ("reward", "passes_floors")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def _field(record: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(record, Mapping) or key not in record:
        raise ValueError(f"{where}: expected a dict with a {key!r} key, got {record!r:.200}")
    return record[key]


def is_success(record: Mapping[str, Any]) -> bool:
    """True when the record has no ``failure`` and a finite ``reward``."""
    return not record.get("failure") and _finite(record.get("reward"))


def _first_seen(items: Iterable[Mapping[str, Any]], key: str, where: str) -> list[str]:
    seen: dict[str, None] = {}
    for i, item in enumerate(items):
        seen.setdefault(_field(item, key, f"{where}[{i}]"), None)
    return list(seen)


def method_order(rewrites: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """Methods in order of first appearance in ``rewrites``, then any only in ``records``."""
    names = _first_seen(rewrites, "method", "rewrites")
    return names + [m for m in _first_seen(records, "method", "records") if m not in names]


def prompt_order(rewrites: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """Original prompts in order of first appearance in ``rewrites``, then in ``records``."""
    prompts = _first_seen(rewrites, "prompt", "rewrites")
    return prompts + [p for p in _first_seen(records, "prompt", "records") if p not in prompts]


def dimensions(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Score dimensions in order of first appearance (``NOT_DIMENSIONS`` left out)."""
    dims: dict[str, None] = {}
    for record in records:
        for dim in record.get("scores") or {}:
            if dim not in NOT_DIMENSIONS:
                dims.setdefault(dim, None)
    return list(dims)


def per_prompt_rewards(records: Iterable[Mapping[str, Any]], method: str) -> dict[str, float]:
    """``{prompt: mean reward over the method's successful seeds}`` (prompts without one are absent)."""
    values: dict[str, list[float]] = {}
    for record in records:
        if record.get("method") == method and is_success(record):
            values.setdefault(record["prompt"], []).append(float(record["reward"]))
    return {prompt: sum(v) / len(v) for prompt, v in values.items()}


def _rng(seed: int, *names: str) -> np.random.Generator:
    # crc32 rather than hash(): str hashes change between Python processes.
    return np.random.default_rng([seed, zlib.crc32("\x1f".join(names).encode())])


def _interval(stats: np.ndarray) -> list[float]:
    low, high = np.percentile(stats, [2.5, 97.5])
    return [float(low), float(high)]


def bootstrap_ratio_ci(sums: Sequence[float], counts: Sequence[int], bootstrap: int,
                       rng: np.random.Generator) -> list[float] | None:
    """95% percentile interval of ``sum(sums[idx]) / sum(counts[idx])`` with prompts resampled.

    ``sums[p]``/``counts[p]``: total reward and number of successful videos of prompt p
    (all ``counts`` >= 1), so the statistic is the video-level mean the method reports.
    None when there is no prompt or ``bootstrap`` is 0.
    """
    if not len(sums) or bootstrap < 1:
        return None
    s, c = np.asarray(sums, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    idx = rng.integers(0, len(s), size=(bootstrap, len(s)))
    return _interval(s[idx].sum(1) / c[idx].sum(1))


def paired_comparison(a: Mapping[str, float], b: Mapping[str, float], prompts: Sequence[str], *,
                      bootstrap: int, rng: np.random.Generator, tie_tol: float = 1e-6,
                      a_fails: Collection[str] = ()) -> dict[str, Any]:
    """Compare two methods' per-prompt values on the prompts both have (in ``prompts`` order).

    Returns ``{"n", "win_rate", "win_rate_reward_only", "mean_diff", "ci95"}``: ``n``
    paired prompts; win rate P(a > b) + 0.5 P(tie) in [0, 1], where a prompt in
    ``a_fails`` (a's rewrite failed the text checks) gives a nothing; the same without
    ``a_fails``; the mean of a - b over all paired prompts, and its bootstrap percentile
    interval (``[d, d]`` when every paired difference is d). Values are None when ``n``
    is 0 (``ci95`` also when ``bootstrap`` is 0).
    """
    common = [p for p in prompts if p in a and p in b]
    if not common:
        return {"n": 0, "win_rate": None, "win_rate_reward_only": None, "mean_diff": None, "ci95": None}
    d = np.array([a[p] - b[p] for p in common], dtype=np.float64)
    credit = np.where(d > tie_tol, 1.0, np.where(np.abs(d) <= tie_tol, 0.5, 0.0))
    passes = np.array([p not in a_fails for p in common], dtype=np.float64)
    ci = None
    if bootstrap >= 1:
        idx = rng.integers(0, len(d), size=(bootstrap, len(d)))
        ci = _interval(d[idx].mean(1))
    return {"n": len(common), "win_rate": float((credit * passes).mean()),
            "win_rate_reward_only": float(credit.mean()), "mean_diff": float(d.mean()), "ci95": ci}


def method_summary(records: Iterable[Mapping[str, Any]], dims: Sequence[str], prompts: Sequence[str], *,
                   bootstrap: int, rng: np.random.Generator) -> dict[str, Any]:
    """``reward``, ``reward_ci95``, ``scores``, ``n``, ``failed``, ``n_prompts`` of one method's records.

    ``n``: successful videos; ``failed``: the others; ``n_prompts``: prompts with at least
    one successful video (the ones the interval resamples).
    """
    ok, failed = [], 0
    for record in records:
        if is_success(record):
            ok.append(record)
        else:
            failed += 1
    by_prompt: dict[str, list[float]] = {}
    for record in ok:
        by_prompt.setdefault(record["prompt"], []).append(float(record["reward"]))
    ordered = [p for p in prompts if p in by_prompt]
    scores = {}
    for dim in dims:
        values = [float(r["scores"][dim]) for r in ok if _finite((r.get("scores") or {}).get(dim))]
        scores[dim] = _mean(values)
    return {
        "reward": _mean([float(r["reward"]) for r in ok]),
        "reward_ci95": bootstrap_ratio_ci([sum(by_prompt[p]) for p in ordered],
                                          [len(by_prompt[p]) for p in ordered], bootstrap, rng),
        "scores": scores,
        "n": len(ok),
        "failed": failed,
        "n_prompts": len(ordered),
    }


def json_safe(value: Any) -> Any:
    """A copy with non-finite floats as None and numpy scalars as Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def compute_metrics(
    records: Sequence[Mapping[str, Any]],
    rewrites: Sequence[Mapping[str, Any]],
    embed: Callable[[list[str]], Any] | None = None,
    *,
    seeds: Sequence[int],
    prompt_set: str,
    bootstrap: int = 2000,
    seed: int = 0,
    tie_tol: float = 1e-6,
    checks: Any = None,
    verdicts: Mapping[tuple, Any] | None = None,
    tokens: Any = None,
) -> dict[str, Any]:
    """The ``metrics.json`` dict of an evaluation run.

    Args:
        records: one dict per rendered video: ``{"method", "prompt", "sample", "seed",
            "text", "scores": {dim: float | None}, "reward": float | None,
            "failure": str | None, "video": str | None}``; scores are against the ORIGINAL prompt.
        rewrites: one dict per rewrite: ``{"method", "prompt", "sample", "text"}``
            (``original``'s text is the prompt itself). Sets the method order.
        embed: ``texts -> [N, D]`` L2-normalised sentence embeddings (tensor or array) for
            fidelity and diversity; None leaves those two ``null``.
        seeds: the seeds sample i was rendered with (``seeds[i]``), recorded as given.
        prompt_set: name of the prompt set, recorded as given.
        bootstrap: resamplings per interval (0: no intervals, ``null``).
        seed: seed of the bootstrap generators.
        tie_tol: paired per-prompt rewards closer than this are a tie (reward units).
        checks: the :class:`~prompt_a_video.rewards.text.checks.TextChecks` of the text
            rates and the win rule; None: ``TextChecks()`` (``TEXT_FLOORS``, no fluency LM).
        verdicts: ``{(method, prompt, sample): TextVerdict}`` already computed with
            ``checks`` (``text_checks.rewrite_verdicts``); None: computed here.
        tokens: a :class:`~prompt_a_video.generators.targets.TokenCounter` for
            ``length_tokens``; None: the words-based estimate.

    Returns ``{"prompt_set", "n_prompts", "seeds", "dimensions", "text_checks",
    "token_count", "methods": {name: {"reward", "reward_ci95", "scores", "n", "failed",
    "n_prompts", "fidelity", "diversity", "length_words", "length_chars", "length_tokens",
    "degenerate_rate", "intent_kept_rate", "leakage_rate", "text_pass_rate"}}, "win_rate",
    "win_rate_reward_only", "ci95", "mean_diff", "n_paired"}``; the last five keyed
    ``"<a>_vs_<b>"`` for every ordered pair of distinct methods. JSON-serialisable
    without NaN (``json.dumps(..., allow_nan=False)``).
    """
    from prompt_a_video.generators.targets import estimate_counter
    from prompt_a_video.evaluation.text_checks import (EMPTY_RATES, check_rates, checks_info, failing_prompts,
                                                       rewrite_verdicts)
    from prompt_a_video.evaluation.text_metrics import text_metrics
    from prompt_a_video.rewards.text.checks import TextChecks

    if bootstrap < 0:
        raise ValueError(f"compute_metrics: bootstrap must be >= 0 resamplings, got {bootstrap}")
    for i, record in enumerate(records):
        for key in ("method", "prompt"):
            _field(record, key, f"records[{i}]")
    methods = method_order(rewrites, records)
    prompts = prompt_order(rewrites, records)
    dims = dimensions(records)
    tokens = tokens if tokens is not None else estimate_counter()
    texts = text_metrics(rewrites, embed, tokens.count)
    checks = checks if checks is not None else TextChecks()
    if verdicts is None:  # records' texts too: a method only in scores.jsonl is gated as well
        verdicts = rewrite_verdicts([*rewrites, *records], checks)
    rates = check_rates(rewrites, verdicts)

    summaries: dict[str, dict[str, Any]] = {}
    for method in methods:
        summary = method_summary([r for r in records if r["method"] == method], dims, prompts,
                                 bootstrap=bootstrap, rng=_rng(seed, "reward", method))
        empty = {"fidelity": None, "diversity": None, "length_words": None, "length_chars": None,
                 "length_tokens": None}
        summaries[method] = {**summary, **texts.get(method, empty), **rates.get(method, EMPTY_RATES)}

    per_prompt = {m: per_prompt_rewards(records, m) for m in methods}
    fails = {m: failing_prompts(verdicts, m) for m in methods}
    win_rate, reward_only, ci95, mean_diff, n_paired = {}, {}, {}, {}, {}
    for a in methods:
        for b in methods:
            if a == b:
                continue
            # One generator per unordered pair: a_vs_b and b_vs_a share their resamples.
            rng = _rng(seed, "paired", *sorted((a, b)))
            result = paired_comparison(per_prompt[a], per_prompt[b], prompts, bootstrap=bootstrap, rng=rng,
                                       tie_tol=tie_tol, a_fails=fails[a])
            key = f"{a}_vs_{b}"
            win_rate[key], ci95[key] = result["win_rate"], result["ci95"]
            reward_only[key] = result["win_rate_reward_only"]
            mean_diff[key], n_paired[key] = result["mean_diff"], result["n"]

    return json_safe({
        "prompt_set": prompt_set,
        "n_prompts": len(prompts),
        "seeds": list(seeds),
        "dimensions": dims,
        "text_checks": checks_info(checks),
        "token_count": tokens.info(),
        "methods": summaries,
        "win_rate": win_rate,
        "win_rate_reward_only": reward_only,
        "ci95": ci95,
        "mean_diff": mean_diff,
        "n_paired": n_paired,
    })
