"""Deterministic splits: held-out prompts, and shares of a stream over ranks and workers.

A prompt lands in validation by a hash of its text, not by its position in a file, so the
split is stable when pools grow, are reordered or are merged from shards, and every
example of one prompt falls on the same side.

An epoch's stream of ``N`` examples is shared by ``world`` DDP ranks, each with
``workers`` DataLoader workers: position ``i`` belongs to rank ``i % world`` and, within
that rank, to worker ``(i // world) % workers`` (:func:`owns_position`). DDP hangs when
ranks run different numbers of steps, so ``N`` is first made a multiple of ``world`` by
the **remainder policy**:

- ``"drop"`` (training): the last ``N % world`` positions are skipped; each rank gets
  ``N // world``. With a per-epoch shuffle, a different few (fewer than ``world``) are
  left out each epoch; every other example is seen exactly once.
- ``"pad"`` (validation): the first ``(-N) % world`` positions are repeated at the end
  (cyclically, if ``N < world``); each rank gets ``ceil(N / world)``, every example is
  seen and a few twice, as with Lightning's ``DistributedSampler``.

Ranks then hold equal counts; since a rank's positions are dealt to its workers the same
way on every rank, the batches per rank (each worker batches its own share) are equal too
(:func:`batches_per_rank`).
"""

from __future__ import annotations

import hashlib
import math

#: The values of ``remainder=``.
REMAINDER_POLICIES = ("drop", "pad")


def in_validation(prompt: str, fraction: float, seed: int = 0) -> bool:
    """True for about ``fraction`` of prompts, the same ones every time for a given seed."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    digest = hashlib.sha256(f"{seed}:{prompt.strip().lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def owns_position(i: int, rank: int, world: int, worker: int, workers: int) -> bool:
    """Whether stream position ``i`` is for this rank's worker ``worker`` (of ``workers``)."""
    return i % world == rank and (i // world) % workers == worker


def examples_per_rank(total: int, world: int, remainder: str) -> int:
    """Examples each rank gets from an epoch of ``total`` (the same on every rank)."""
    if remainder not in REMAINDER_POLICIES:
        raise ValueError(f"remainder={remainder!r}: expected one of {REMAINDER_POLICIES}")
    return total // world if remainder == "drop" else math.ceil(total / world)


def batches_per_rank(per_rank: int, batch_size: int, workers: int) -> int:
    """Batches one rank yields per epoch: each worker batches its share, the last partial.

    ``workers=0`` (loading in the main process) counts as one worker.
    """
    workers = max(1, workers)
    shares = [per_rank // workers + (1 if w < per_rank % workers else 0) for w in range(workers)]
    return sum(math.ceil(n / batch_size) for n in shares)
