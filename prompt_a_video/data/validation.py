"""Checks on the fields of a record, with problem texts that name the field.

These raise ``InvalidRecord`` with the problem alone; the reader adds file and line.
Field names are paths into the record (``candidates[3].scores.TVA``) so a user can find
the value in a long line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRecord

__all__ = [
    "MAX_PROMPT_WORDS",
    "check_prompt",
    "check_number",
    "check_scores",
    "require_key",
    "describe",
    "is_count",
]

#: Longest accepted prompt, in whitespace-separated words. Far above any real video
#: prompt (VBench's longest has 32 words; refined prompts run to ~200), so hitting it
#: means a wrong column or a runaway generation, not a long prompt.
MAX_PROMPT_WORDS = 2000


def is_count(value: Any, minimum: int = 1) -> bool:
    """Whether ``value`` is an int (not a bool) of at least ``minimum``: what every count,
    size and step setting accepts; the caller names the setting in its message."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def describe(value: Any) -> str:
    """A short rendering of a bad value for an error message: JSON for scalars."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        n = len(value)
        return "an empty list" if n == 0 else f"a list of {n} item{'s' if n > 1 else ''}"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_prompt(text: Any, field: str | None = "prompt") -> str:
    """Return the prompt stripped of surrounding whitespace, or raise ``InvalidRecord``.

    A prompt must be a string, non-empty after stripping, and at most
    ``MAX_PROMPT_WORDS`` words. ``field`` names where it came from in the messages
    (None for sources without fields, such as a line of a ``.txt`` file).
    """
    where = f" in field {field!r}" if field else ""
    if not isinstance(text, str):
        raise InvalidRecord(f"expected a string{where}, got {describe(text)}")
    stripped = text.strip()
    if not stripped:
        raise InvalidRecord(f"empty prompt{where}")
    n_words = len(stripped.split())
    if n_words > MAX_PROMPT_WORDS:
        raise InvalidRecord(
            f"prompt has {n_words:,} words{where}, more than the {MAX_PROMPT_WORDS:,} allowed"
        )
    return stripped


def check_number(value: Any, field: str, *, nullable: bool = False) -> float | None:
    """A JSON number as a float; NaN is allowed (a failed reward), infinities are not.

    Booleans are rejected although Python counts them as ints: ``true`` in a score
    column is a bug upstream, not a 1.0.
    """
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        expected = "a number or null" if nullable else "a number"
        raise InvalidRecord(f"{field}: expected {expected}, got {describe(value)}")
    number = float(value)
    if math.isinf(number):
        raise InvalidRecord(f"{field}: expected a finite number or NaN, got {number}")
    return number


def check_scores(value: Any, field: str) -> dict[str, float]:
    """A ``{dimension: number}`` object; a null score reads as NaN (failed to score).

    null is accepted because tools other than Python cannot write NaN in JSON.
    """
    if not isinstance(value, Mapping):
        raise InvalidRecord(f"{field}: expected an object of {{dimension: number}}, got {describe(value)}")
    scores = {}
    for dim, score in value.items():
        number = check_number(score, f"{field}.{dim}", nullable=True)
        scores[str(dim)] = math.nan if number is None else number
    return scores


def require_key(record: Mapping, key: str, where: str = "") -> Any:
    """``record[key]``, or an ``InvalidRecord`` naming the missing key."""
    if key not in record:
        prefix = f"{where}: " if where else ""
        present = ", ".join(map(repr, list(record)[:8])) or "none"
        raise InvalidRecord(f"{prefix}missing key {key!r} (keys present: {present})")
    return record[key]
