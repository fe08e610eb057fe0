"""Per-rank shards of a keyed JSON Lines output, what is already done, and the final merge.

Each process of a (possibly distributed) stage appends its records to its own shard
``OUT.rank{r}.jsonl`` beside ``OUT`` (``scores.jsonl`` -> ``scores.rank0.jsonl``), one
record a line, flushed per record (never two writers on one file). When every rank is
done, rank 0 merges the shards and any earlier ``OUT`` into ``OUT``:

- each key exactly once: the first record, unless it failed and a later one did not (a
  rerun that retried it); earlier ``OUT`` before shards, shards by rank;
- in a deterministic order: the work's order, then records of keys outside the current
  work (an earlier run on more items) in the order they were found;
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prompt_a_video.data import DataFormatError, InvalidRecord

_SHARD = re.compile(r"\.rank(\d+)\.jsonl$")


@dataclass
class KeyedLine:
    key: str
    failed: bool
    raw: bytes  # the line without its newline
    record: dict[str, Any]


@dataclass
class MergeReport:
    """What a merge did: ``records`` in ``OUT``, ``duplicates`` dropped, ``shards`` removed."""

    records: int
    duplicates: int
    shards: int


def _no_check(record: dict) -> None:
    if not isinstance(record, dict):
        raise InvalidRecord("not a JSON object")


class ShardedOutput:
    """``OUT`` and its per-rank shards, records identified by ``key(record)``.

    Args:
        out: the merged output, a ``.jsonl`` file.
        key: a record's key (what resuming and deduplication compare).
        failed: whether a record is a recorded failure (a rerun may supersede it).
        check: validates a parsed record, raising ``InvalidRecord`` (default: a JSON object).
        what: the output's name in error messages (e.g. ``"evolve: --out"``).
        outdated: whether a record's other outputs are gone since it was written (its
            video deleted or cut short): it does not count as done, so a rerun redoes it.
    """

    def __init__(self, out: str | os.PathLike, key: Callable[[dict], str],
                 failed: Callable[[dict], bool] = lambda record: False,
                 check: Callable[[dict], Any] = _no_check, what: str = "--out",
                 outdated: Callable[[dict], bool] = lambda record: False) -> None:
        self.out = Path(out)
        if self.out.suffix != ".jsonl":
            raise ValueError(f"{what} {self.out}: must be a .jsonl file")
        self.key, self.failed, self.check, self.outdated = key, failed, check, outdated

    def shard(self, rank: int) -> Path:
        """``OUT.jsonl`` -> ``OUT.rank{rank}.jsonl``, beside it."""
        return self.out.with_name(f"{self.out.stem}.rank{int(rank)}.jsonl")

    def shards(self) -> list[Path]:
        """The shards that exist, by rank."""
        if not self.out.parent.is_dir():
            return []
        found = []
        for path in self.out.parent.glob(f"{self.out.stem}.rank*.jsonl"):
            match = _SHARD.search(path.name)
            if match and path.name == f"{self.out.stem}.rank{match.group(1)}.jsonl":
                found.append((int(match.group(1)), path))
        return [p for _, p in sorted(found)]

    def read(self, path: Path) -> list[KeyedLine]:
        """The records of one file with their exact bytes. A last line cut off by a killed
        run is ignored (its work is done again); any other damage raises ``DataFormatError``."""
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
                    record = json.loads(raw.decode("utf-8"))
                    self.check(record)
                    key = self.key(record)
                except (ValueError, InvalidRecord, KeyError, TypeError) as err:
                    if not complete:  # the record in flight when the run was killed
                        continue
                    if isinstance(err, InvalidRecord):
                        problem = err.problem
                    elif isinstance(err, ValueError):
                        problem = f"not a JSON record ({err})"
                    else:
                        problem = f"a record without its key field ({type(err).__name__}: {err})"
                    raise DataFormatError(path, lineno, problem) from None
                lines.append(KeyedLine(key, bool(self.failed(record)), raw, record))
        return lines

    def lines(self) -> list[KeyedLine]:
        """Every record of ``OUT`` and its shards, in merge order."""
        return [line for path in [self.out, *self.shards()] for line in self.read(path)]

    def done(self, *, retry_failed: bool = False) -> set[str]:
        """Keys already written (failed ones too, unless ``retry_failed``; not the
        ``outdated``): a rerun skips them."""
        return {line.key for line in self.lines()
                if not (retry_failed and line.failed) and not self.outdated(line.record)}

    def merge(self, order: Sequence[str]) -> MergeReport:
        """Merge the shards (and an earlier ``OUT``) into ``OUT``; see the module doc."""
        shards = self.shards()
        chosen: dict[str, KeyedLine] = {}
        total = 0
        for path in [self.out, *shards]:
            for line in self.read(path):
                total += 1
                kept = chosen.get(line.key)
                if kept is None or (kept.failed and not line.failed):
                    chosen[line.key] = line
        ranked = [k for k in dict.fromkeys(order) if k in chosen]
        in_order = set(ranked)
        ranked += [k for k in chosen if k not in in_order]
        _write_atomically(self.out, (chosen[k].raw for k in ranked))
        for path in shards:
            path.unlink()
        return MergeReport(records=len(ranked), duplicates=total - len(ranked), shards=len(shards))

    def records(self) -> list[dict[str, Any]]:
        """The records of the merged ``OUT``."""
        return [line.record for line in self.read(self.out)]


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
