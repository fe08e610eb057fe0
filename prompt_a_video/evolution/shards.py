"""Per-rank shards of an evolved pool, what is already done, and the final merge.

Each process of a (possibly distributed) evolution run appends its records to its own
shard ``OUT.rank{r}.jsonl`` beside ``OUT`` (``pool.jsonl`` -> ``pool.rank0.jsonl``), one
record a line, flushed per record (``JsonlWriter``: never two writers on one file). When
every rank is done, rank 0 merges the shards and any earlier ``OUT`` into ``OUT``:

- each source prompt exactly once (a prompt evolved twice, e.g. by a rerun with
  ``retry_failed`` or a sampler that pads with duplicates, keeps its first record
  without ``error``, else its first record; earlier ``OUT`` before shards, shards by
  rank);
- in a deterministic order: the source set's order, then records of prompts outside the
  current set (an earlier run on more prompts) in the order they were found;
- each record's line copied byte for byte, so a run killed at any moment and restarted
  ends with exactly the bytes of an uninterrupted run;
- atomically: written to a temporary file and ``os.replace``d over ``OUT``, then the
  merged shards are removed (a kill in between leaves shards whose records ``OUT``
  already has: the next merge dedupes them).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prompt_a_video.data import DataFormatError, InvalidRecord, PoolRecord

_SHARD = re.compile(r"\.rank(\d+)\.jsonl$")


def _check_out(out: str | os.PathLike) -> Path:
    out = Path(out)
    if out.suffix != ".jsonl":
        raise ValueError(f"evolve: --out {out}: an evolved pool is a .jsonl file (e.g. runs/evolve/pool.jsonl)")
    return out


def shard_path(out: str | os.PathLike, rank: int) -> Path:
    """``pool.jsonl`` -> ``pool.rank{rank}.jsonl``, beside it."""
    out = _check_out(out)
    return out.with_name(f"{out.stem}.rank{int(rank)}.jsonl")


def shard_paths(out: str | os.PathLike) -> list[Path]:
    """The shards of ``out`` that exist, by rank."""
    out = _check_out(out)
    if not out.parent.is_dir():
        return []
    found = []
    for path in out.parent.glob(f"{out.stem}.rank*.jsonl"):
        match = _SHARD.search(path.name)
        if match and path.name == f"{out.stem}.rank{match.group(1)}.jsonl":
            found.append((int(match.group(1)), path))
    return [p for _, p in sorted(found)]


@dataclass
class _Line:
    prompt: str
    failed: bool
    raw: bytes  # the line without its newline


def read_lines(path: Path) -> list[_Line]:
    """The records of a pool file with their exact bytes. A last line cut off by a killed
    run is ignored (it is evolved again); any other damage raises ``DataFormatError``."""
    if not path.exists():
        return []
    lines = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            complete = raw.endswith(b"\n")
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8"))
                record = PoolRecord.from_dict(value)
            except (ValueError, InvalidRecord) as err:
                if not complete:  # the record in flight when the run was killed
                    continue
                problem = err.problem if isinstance(err, InvalidRecord) else f"not a pool record: {err}"
                raise DataFormatError(path, lineno, problem) from None
            lines.append(_Line(record.prompt, value.get("error") is not None, raw))
    return lines


def _sources(out: Path) -> list[Path]:
    return [out, *shard_paths(out)]


def completed_prompts(out: str | os.PathLike, *, retry_failed: bool = False) -> set[str]:
    """Source prompts that ``out`` or one of its shards already holds (those recorded as
    failed too, unless ``retry_failed``): a rerun skips them."""
    done = set()
    for path in _sources(_check_out(out)):
        done.update(line.prompt for line in read_lines(path) if not (retry_failed and line.failed))
    return done


@dataclass
class MergeReport:
    """What a merge did: ``records`` in ``OUT``, ``duplicates`` dropped, ``shards`` removed."""

    records: int
    duplicates: int
    shards: int


def merge_shards(out: str | os.PathLike, order: Sequence[str]) -> MergeReport:
    """Merge ``out``'s shards (and the ``out`` of earlier runs) into ``out``; see the module doc."""
    out = _check_out(out)
    shards = shard_paths(out)
    chosen: dict[str, _Line] = {}
    total = 0
    for path in [out, *shards]:
        for line in read_lines(path):
            total += 1
            kept = chosen.get(line.prompt)
            if kept is None or (kept.failed and not line.failed):
                chosen[line.prompt] = line
    ranked = [p for p in dict.fromkeys(order) if p in chosen]
    in_order = set(ranked)
    ranked += [p for p in chosen if p not in in_order]
    _write_atomically(out, (chosen[p].raw for p in ranked))
    for path in shards:
        path.unlink()
    return MergeReport(records=len(ranked), duplicates=total - len(ranked), shards=len(shards))


def _write_atomically(out: Path, lines: Iterable[bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.merge-{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            for raw in lines:
                f.write(raw + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
