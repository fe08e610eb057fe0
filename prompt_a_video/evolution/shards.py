"""The evolved pool as a sharded output: one pool record per source prompt.

The mechanism (per-rank shards ``pool.rank{r}.jsonl``, byte-exact merge in source order,
a record with ``error`` superseded by a later one without) is the engine's
:class:`~prompt_a_video.scoring.shards.ShardedOutput`; this module fixes its key (the
source prompt) and its check (DESIGN.md's pool record).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from prompt_a_video.data import PoolRecord
from prompt_a_video.scoring.shards import MergeReport, ShardedOutput


def pool_output(out: str | os.PathLike) -> ShardedOutput:
    """``out`` (an evolved pool, ``.jsonl``) with its shards."""
    if Path(out).suffix != ".jsonl":
        raise ValueError(f"evolve: --out {out}: an evolved pool is a .jsonl file (e.g. runs/evolve/pool.jsonl)")
    return ShardedOutput(out, key=lambda record: record["prompt"], failed=lambda record: record.get("error") is not None,
                         check=PoolRecord.from_dict, what="evolve: --out")


def shard_path(out: str | os.PathLike, rank: int) -> Path:
    """``pool.jsonl`` -> ``pool.rank{rank}.jsonl``, beside it."""
    return pool_output(out).shard(rank)


def shard_paths(out: str | os.PathLike) -> list[Path]:
    """The shards of ``out`` that exist, by rank."""
    return pool_output(out).shards()


def completed_prompts(out: str | os.PathLike, *, retry_failed: bool = False) -> set[str]:
    """Source prompts that ``out`` or one of its shards already holds (those recorded as
    failed too, unless ``retry_failed``): a rerun skips them."""
    return pool_output(out).done(retry_failed=retry_failed)


def merge_shards(out: str | os.PathLike, order: Sequence[str]) -> MergeReport:
    """Merge ``out``'s shards (and the ``out`` of earlier runs) into ``out``, in ``order``."""
    return pool_output(out).merge(order)
