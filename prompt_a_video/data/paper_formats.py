"""The paper's released data, read into our records.

Prompt-A-Video released its SFT data as a JSON list of ``[original, refined]`` pairs,
and its evolution logs as a JSON list, per source prompt, of iterations, each a list of
``{"prompt", "scores"}`` whose very first entry (iteration 0, entry 0) is the original
prompt. Both become ``PoolRecord``s so SFT can train on them exactly as on our pools.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import DataFormatError, ErrorPolicy, InvalidRecord
from .jsonfile import iter_json_list, load_json_list
from .pool import Candidate, PoolRecord, pick_best
from .validation import check_prompt, check_scores, describe, require_key

__all__ = ["parse_sft_pair", "parse_evolution_log", "iter_pool_json", "POOL_JSON_SHAPES"]

#: The accepted shapes of a ``.json`` pool, for the "unrecognised shape" message.
POOL_JSON_SHAPES = (
    '[original, refined] string pairs (the paper\'s SFT data)',
    'per source prompt, a list of iterations, each a list of {"prompt", "scores"} '
    "objects (the paper's evolution logs)",
    'pool record objects {"prompt", "backbone", "candidates", "best"}',
)


def parse_sft_pair(item: Any) -> PoolRecord:
    """``[original, refined]`` → a record whose one candidate is also its best."""
    if not isinstance(item, list) or len(item) != 2:
        raise InvalidRecord(f"expected an [original, refined] pair of strings, got {describe(item)}")
    original = check_prompt(item[0], "original")
    refined = Candidate(check_prompt(item[1], "refined"))
    return PoolRecord(original, None, [refined], refined)


def parse_evolution_log(item: Any, aggregate: Callable[[dict[str, float]], Any]) -> PoolRecord:
    """One source prompt's iterations → a record with every candidate and the best.

    Each candidate's ``iteration`` is its iteration's index and its ``reward`` is
    ``aggregate(scores)``. The original (iteration 0, entry 0) stays among the
    candidates, as the baseline its paraphrases were compared with, but is never best,
    and a rewrite is best only above it. An ``index`` key in a logged ``scores`` (the
    official logger's position of the candidate) is not a dimension and is dropped; AES
    and MPS, logged already weighted, are put back on their raw scales
    (:func:`unscale_logged_scores`), so the ``evolution`` preset reproduces the official
    ranking ``VQ + TC + 0.5*DD + FC + TVA + AES*5/8 + MPS/4`` exactly.
    """
    if not isinstance(item, list) or not item:
        raise InvalidRecord(
            f'expected a non-empty list of iterations (lists of {{"prompt", "scores"}}), got {describe(item)}'
        )
    candidates = []
    for i, iteration in enumerate(item):
        if not isinstance(iteration, list):
            raise InvalidRecord(f'[{i}]: expected an iteration (a list of {{"prompt", "scores"}}), got {describe(iteration)}')
        for j, entry in enumerate(iteration):
            where = f"[{i}][{j}]"
            if not isinstance(entry, Mapping):
                raise InvalidRecord(f'{where}: expected a {{"prompt", "scores"}} object, got {describe(entry)}')
            prompt = check_prompt(require_key(entry, "prompt", where), f"{where}.prompt")
            scores = require_key(entry, "scores", where)
            if isinstance(scores, Mapping) and "index" in scores:
                # the official logger stores the candidate's position as scores["index"]
                # (rewards/video_score_pipe.py): a position, not a score dimension
                scores = {k: v for k, v in scores.items() if k != "index"}
            scores = unscale_logged_scores(check_scores(scores, f"{where}.scores"))
            reward = _aggregate(aggregate, scores, where)
            candidates.append(Candidate(prompt, i, scores, reward))
    if not item[0]:
        raise InvalidRecord("[0]: iteration 0 is empty; its first entry must be the original prompt")
    original = candidates[0].prompt
    return PoolRecord(original, None, candidates, pick_best(original, candidates))


#: The official logger stores AES and MPS already weighted for its ranking formula
#: (``booster/finetuning/gpt_boost.py``: ``AES * 5 / 8`` and ``MPS / 4``, rounded to 2
#: decimals, then summed with weight 1). Read back as the raw scores the rest of the
#: project holds (and that the ``evolution`` preset weighs once), not weighed twice.
LOGGED_SCALE = {"AES": 5 / 8, "MPS": 1 / 4}


def unscale_logged_scores(scores: dict[str, float]) -> dict[str, float]:
    """A logged ``scores`` dict with AES and MPS back on their raw scales (see :data:`LOGGED_SCALE`)."""
    return {name: value / LOGGED_SCALE[name] if name in LOGGED_SCALE else value for name, value in scores.items()}


def _aggregate(aggregate: Callable[[dict[str, float]], Any], scores: dict[str, float], where: str) -> float | None:
    # A failing aggregate (say, a weight for a dimension this entry lacks) is reported
    # at the entry that made it fail, not as a bare KeyError from deep inside the reader.
    try:
        value = aggregate(scores)
    except (LookupError, ValueError, TypeError, ArithmeticError) as exc:
        raise InvalidRecord(f"{where}.scores: aggregate(scores) failed: {exc!r}") from None
    if value is None:
        return None
    try:
        return float(value)  # also numpy scalars
    except (TypeError, ValueError):
        raise InvalidRecord(f"{where}.scores: aggregate(scores) returned {describe(value)}, not a number") from None


def _shape(item: Any) -> str | None:
    if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
        return "sft"
    if isinstance(item, list) and item and isinstance(item[0], list):
        return "evolution"
    if isinstance(item, Mapping):
        return "records"
    return None


def iter_pool_json(
    path: Path, aggregate: Callable[[dict[str, float]], Any], policy: ErrorPolicy
) -> Iterator[PoolRecord]:
    """Read a ``.json`` pool; its shape is that of the first item that has a known one.

    Items of another shape are then bad records (located ``"item N"``), so one odd item
    does not make the whole file unreadable. The file is parsed before this returns, so
    a broken file fails at the call.
    """
    items = load_json_list(path, "pool items; accepted shapes: " + "; ".join(POOL_JSON_SHAPES))
    shapes = [s for s in map(_shape, items) if s is not None]
    if items and not shapes:
        raise DataFormatError(
            path, 1,
            f"unrecognised pool shape (item 0 is {describe(items[0])}); accepted: a JSON list of "
            + ", or of ".join(POOL_JSON_SHAPES),
        )
    parse = {
        "sft": parse_sft_pair,
        "evolution": lambda item: parse_evolution_log(item, aggregate),
        "records": PoolRecord.from_dict,
    }[shapes[0]] if shapes else parse_sft_pair
    return (record for _loc, record in iter_json_list(path, items, parse, policy))
