"""Deterministic held-out splits by prompt text.

A prompt lands in validation by a hash of its text, not by its position in a file, so the
split is stable when pools grow, are reordered or are merged from shards, and every
example of one prompt falls on the same side.
"""

from __future__ import annotations

import hashlib


def in_validation(prompt: str, fraction: float, seed: int = 0) -> bool:
    """True for about ``fraction`` of prompts, the same ones every time for a given seed."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    digest = hashlib.sha256(f"{seed}:{prompt.strip().lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
