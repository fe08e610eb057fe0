"""Cache keys: sha256 hex of a canonical JSON of everything that determines the result.

A video is determined by (generator fingerprint, prompt, seed) — the `Generator` contract
says the video of a prompt never depends on the rest of its batch. Scores are determined
by (video content, reward fingerprint, ORIGINAL prompt): the rendered prompt does not
enter, since rewards judge alignment against what the user asked for.

The parts go through JSON (not string concatenation) so that no two different part
tuples can spell the same text (``("a", "b c")`` vs ``("a b", "c")``). ``KEY_VERSION``
is part of every key: bump it when the meaning of a stored entry changes, and old entries
simply stop being found (``pav cache prune --all_videos`` reclaims their space).
"""

from __future__ import annotations

import hashlib
import json
import operator
from typing import Any

KEY_VERSION = 1


def canonical_json(parts: dict[str, Any]) -> str:
    """Sorted keys, no whitespace, non-ASCII kept as UTF-8: one text per set of parts."""
    return json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(parts: dict[str, Any]) -> str:
    """sha256 hex (64 characters) of :func:`canonical_json` of ``parts``."""
    return hashlib.sha256(canonical_json(parts).encode("utf-8")).hexdigest()


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"cache key: {what} must be a str, got {type(value).__name__} ({value!r:.80})")
    return value


def video_key(generator_fingerprint: str, prompt: str, seed: int) -> str:
    """Key of the video a generator renders for ``prompt`` with ``seed``."""
    if isinstance(seed, bool):
        raise TypeError("cache key: seed must be an int, got bool")
    try:
        seed = operator.index(seed)  # accepts numpy / torch integer scalars
    except TypeError:
        raise TypeError(f"cache key: seed must be an int, got {type(seed).__name__} ({seed!r:.80})") from None
    return digest({
        "v": KEY_VERSION,
        "kind": "video",
        "generator": _text(generator_fingerprint, "generator fingerprint"),
        "prompt": _text(prompt, "prompt"),
        "seed": seed,
    })


def score_key(video_hash: str, reward_fingerprint: str, original_prompt: str) -> str:
    """Key of the scores a reward gives a video (``Video.content_hash()``) for a prompt."""
    return digest({
        "v": KEY_VERSION,
        "kind": "scores",
        "video": _text(video_hash, "video content hash"),
        "reward": _text(reward_fingerprint, "reward fingerprint"),
        "prompt": _text(original_prompt, "original prompt"),
    })
