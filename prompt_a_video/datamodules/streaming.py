"""Text examples streamed from (growing) data files, sharded over DDP ranks and workers.

The SFT and DPO data modules read their files through :class:`StreamingExamples`: an
``IterableDataset`` that never holds a whole file, follows files another process is
still appending to, and gives every DDP rank the same number of batches.

**Epoch snapshot.** At each epoch start (:meth:`StreamingExamples.set_epoch`, which
:class:`StreamingLoader` calls from ``iter()``) a ``.jsonl`` file is measured in complete
lines; the epoch reads those lines and nothing past them, so a record half-written by a
live writer is never seen and a record appended mid-epoch waits for the next epoch.
Under DDP the ranks agree on the snapshot (the smallest line count any rank saw; files
only grow by appending, so that is a prefix every rank can read). ``.json`` files (the
paper's releases) are parsed whole. The same pass counts the epoch's examples, reports
bad records once (``skipped``), and fails early in the main process under
``errors="raise"``.

**Sharding** (see :mod:`prompt_a_video.datamodules.split` for the ownership rule and the
remainder policy). The examples of one side (train or validation, split by prompt) form
one stream, in file order, buffer-shuffled with a seed derived from ``(seed, epoch)``
when ``shuffle`` is on. Every worker of every rank reads the whole stream (parsing is
cheap next to a training step) and keeps the positions it owns: each example has exactly
one owner, with no communication. Training drops the remainder, validation pads it, so
every rank runs the same number of batches, which :class:`StreamingLoader` reports
exactly as its ``len``.

The data module over these streams is :mod:`~prompt_a_video.datamodules.streaming_module`.

**With Lightning.** Lightning never wraps an ``IterableDataset`` in a
``DistributedSampler`` (``use_distributed_sampler`` does not apply to it), so sharding is
ours alone. Lightning reads the loader's length when it asks for the loader: when files
grow during training, set the trainer's ``reload_dataloaders_every_n_epochs: 1`` so each
epoch's length follows its snapshot; otherwise an epoch is cut at the length read at
the start (on every rank alike, so nothing hangs, but some new examples wait).
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from prompt_a_video.data import DataFormatError, DataFormatWarning, ErrorPolicy, iter_jsonl
from prompt_a_video.datamodules.split import (
    REMAINDER_POLICIES, batches_per_rank, examples_per_rank, in_validation, owns_position,
)

__all__ = [
    "StreamingExamples",
    "StreamingLoader",
    "complete_lines",
    "agree_on_snapshot",
    "buffer_shuffle",
]

Example = dict[str, str]


def complete_lines(path: Path) -> int:
    """Lines of a file that end with a newline: what a reader may take of a live file."""
    count = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
    return count


def buffer_shuffle(items: Iterable[Any], size: int, rng: random.Random) -> Iterator[Any]:
    """Shuffle a stream holding at most ``size`` items: each arrival replaces a random held
    item, which is yielded. Bigger buffers mix files and distant lines better."""
    held: list[Any] = []
    for item in items:
        if len(held) < size:
            held.append(item)
            continue
        j = rng.randrange(size)
        yield held[j]
        held[j] = item
    rng.shuffle(held)
    yield from held


def _quietly(items: Iterable[Any]) -> Iterator[Any]:
    # Bad records were already reported by the epoch's counting pass; re-reads (one per
    # worker) stay silent. The filter is on only while the reader runs, never while the
    # consumer holds control between items.
    it = iter(items)
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataFormatWarning)
            try:
                item = next(it)
            except StopIteration:
                return
        yield item


def agree_on_snapshot(lines: list[int | None]) -> list[int | None]:
    """The element-wise minimum over DDP ranks (a no-op outside DDP)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return lines
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, lines)  # any backend, NCCL included
    return [None if col[0] is None else min(col) for col in zip(*gathered)]


def _rank_and_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class StreamingExamples(IterableDataset):
    """One side (train or validation) of a set of data files, as a sharded stream of dicts.

    Subclasses say how to read a format: ``parse_record`` (a JSONL object -> record, e.g.
    ``PoolRecord.from_dict``), ``read_whole`` (a non-JSONL file -> records, e.g.
    ``iter_pool``) and ``examples`` (records -> example dicts, each with a ``"prompt"``
    key, the user prompt the validation split is decided by).

    Args:
        files: the data files, read in this order; ``.jsonl`` ones may be growing.
        side: ``"train"`` or ``"val"``.
        val_fraction, seed: the split by prompt (see ``in_validation``); ``seed`` also
            seeds the shuffle, with the epoch.
        shuffle: buffer-shuffle the stream, differently each epoch.
        shuffle_buffer: examples held by the shuffle.
        remainder: ``"drop"`` or ``"pad"`` (see :mod:`prompt_a_video.datamodules.split`).
        errors: ``"raise"`` or ``"skip"`` bad records (see ``ErrorPolicy``).
        rank, world_size: this process's DDP rank and the number of ranks; None reads
            them from ``torch.distributed`` (0 and 1 outside DDP).
        skipped: list that collects each skipped record's error once (shared by the
            train and validation sides of one data module).
    """

    #: Noun for messages ("SFT examples"), set by subclasses.
    what = "examples"

    def __init__(self, files: list[str], *, side: str = "train", val_fraction: float = 0.1, seed: int = 0,
                 shuffle: bool = False, shuffle_buffer: int = 1024, remainder: str = "drop",
                 errors: str = "raise", rank: int | None = None, world_size: int | None = None,
                 skipped: list[DataFormatError] | None = None) -> None:
        if side not in ("train", "val"):
            raise ValueError(f"side={side!r}: expected 'train' or 'val'")
        if remainder not in REMAINDER_POLICIES:
            raise ValueError(f"remainder={remainder!r}: expected one of {REMAINDER_POLICIES}")
        if shuffle_buffer < 1:
            raise ValueError(f"shuffle_buffer={shuffle_buffer}: expected >= 1")
        ErrorPolicy(errors)  # validates the mode now rather than at the first read
        in_validation("", val_fraction)  # validates the fraction likewise
        self.files = [Path(f) for f in files]
        self.side, self.val_fraction, self.seed = side, val_fraction, seed
        self.shuffle, self.shuffle_buffer, self.remainder = shuffle, shuffle_buffer, remainder
        self.errors = errors
        self.rank, self.world_size = rank, world_size
        self.skipped = [] if skipped is None else skipped
        # Set by refresh() in the main process, then copied into every worker with the dataset.
        self.epoch: int | None = None
        self.lines: list[int | None] | None = None  # the snapshot: complete lines per file
        self.total: int | None = None  # examples of this side in the snapshot, all ranks
        self._rank, self._world = 0, 1

    # -- what subclasses provide -------------------------------------------------------
    def parse_record(self, obj: dict) -> Any:
        raise NotImplementedError

    def read_whole(self, path: Path, errors: str, skipped: list[DataFormatError]) -> Iterable[Any]:
        raise NotImplementedError

    def examples(self, records: Iterable[Any]) -> Iterator[Example]:
        raise NotImplementedError

    # -- epochs ------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch``: new shuffle, new snapshot of the files (if it changed)."""
        if epoch != self.epoch or self.total is None:
            self.epoch = epoch
            self.refresh()

    def refresh(self) -> None:
        """Take the snapshot, count this side's examples, report new bad records.

        Under DDP every rank must call this together (a collective agrees on the
        snapshot); ``set_epoch`` from the loader's ``iter()`` does, as Lightning iterates
        each loader on every rank.
        """
        if self.rank is not None and self.world_size is not None:
            self._rank, self._world = self.rank, self.world_size
        else:
            self._rank, self._world = _rank_and_world()
        lines = []
        for path in self.files:
            if not path.is_file():
                raise FileNotFoundError(f"{path}: data file {'is a folder' if path.is_dir() else 'not found'}")
            lines.append(complete_lines(path) if path.suffix.lower() == ".jsonl" else None)
        self.lines = agree_on_snapshot(lines)
        found: list[DataFormatError] = []
        self.total = sum(1 for _ in _quietly(self._stream(found)))
        reported = {str(e) for e in self.skipped}
        for err in found:
            if str(err) not in reported:
                reported.add(str(err))
                self.skipped.append(err)
                warnings.warn(str(err), DataFormatWarning, stacklevel=2)

    def _records(self, index: int, skipped: list[DataFormatError]) -> Iterator[Any]:
        path, limit = self.files[index], self.lines[index]
        if limit is None:
            yield from self.read_whole(path, self.errors, skipped)
            return
        local: list[DataFormatError] = []
        try:
            for lineno, record in iter_jsonl(path, parse=self.parse_record, errors=self.errors, skipped=local):
                if lineno > limit:
                    break
                yield record
        except DataFormatError as err:
            # A line past the snapshot (a record still being written) is not ours yet.
            if not (isinstance(err.line, int) and err.line > limit):
                raise
        finally:
            skipped.extend(e for e in local if not (isinstance(e.line, int) and e.line > limit))

    def _stream(self, skipped: list[DataFormatError]) -> Iterator[Example]:
        """This side's examples of the snapshot, in file order."""
        want_val = self.side == "val"
        for index in range(len(self.files)):
            for example in self.examples(self._records(index, skipped)):
                if in_validation(example["prompt"], self.val_fraction, self.seed) == want_val:
                    yield example

    # -- iteration ---------------------------------------------------------------------
    @property
    def ranks(self) -> int:
        """The number of DDP ranks the last ``refresh`` shared the stream between."""
        return self._world

    def __len__(self) -> int:
        """Examples this rank gets per epoch (all its workers together)."""
        if self.total is None:
            self.set_epoch(0)
        return examples_per_rank(self.total, self._world, self.remainder)

    def __iter__(self) -> Iterator[Example]:
        info = get_worker_info()
        return self.iter_shard(info.id if info else 0, info.num_workers if info else 1)

    def iter_shard(self, worker: int, workers: int) -> Iterator[Example]:
        """The examples of one worker of this rank, for the current epoch."""
        if self.total is None:
            self.set_epoch(0)
        total, rank, world = self.total, self._rank, self._world
        kept = total - total % world if self.remainder == "drop" else total
        n_pad = examples_per_rank(total, world, self.remainder) * world - kept if self.remainder == "pad" else 0
        stream = _quietly(self._stream([]))
        if self.shuffle:
            stream = buffer_shuffle(stream, self.shuffle_buffer, random.Random(f"{self.seed}:{self.epoch}"))

        def owns(i: int) -> bool:
            return owns_position(i, rank, world, worker, workers)

        head: list[Example] = []  # the first n_pad examples, repeated at the end ("pad")
        seen = 0
        for i, example in enumerate(stream):
            seen += 1
            if i < n_pad:
                head.append(example)
            if i < kept and owns(i):
                yield example
        if seen != total:
            # Ranks would then run different numbers of steps: fail instead of hanging.
            raise RuntimeError(
                f"{', '.join(map(str, self.files))}: {seen} {self.what} on re-reading, {total} when the epoch "
                f"started; a data file was changed other than by appending to it"
            )
        for k in range(n_pad):  # cyclic, for the case of fewer examples than ranks
            if owns(total + k):
                yield head[k % len(head)]


class StreamingLoader(DataLoader):
    """A DataLoader over :class:`StreamingExamples` that starts an epoch at each ``iter()``
    and reports the exact number of batches this rank yields as its ``len``.

    Args:
        dataset: the examples.
        batch_size, num_workers, collate_fn: as for ``DataLoader`` (workers are never
            persistent: each epoch's workers need that epoch's snapshot and seed).
        epoch_fn: returns the current epoch (e.g. the trainer's), or None to count
            ``iter()`` calls instead.
    """

    def __init__(self, dataset: StreamingExamples, batch_size: int, num_workers: int = 0,
                 collate_fn: Callable[[list[Example]], Any] | None = None,
                 epoch_fn: Callable[[], int | None] | None = None) -> None:
        super().__init__(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_fn,
                         persistent_workers=False)
        self.epoch_fn = epoch_fn
        self._next_epoch = 0

    def __iter__(self):
        epoch = self.epoch_fn() if self.epoch_fn is not None else None
        epoch = self._next_epoch if epoch is None else epoch
        self._next_epoch = epoch + 1
        self.dataset.set_epoch(epoch)
        return super().__iter__()

    def __len__(self) -> int:
        return batches_per_rank(len(self.dataset), self.batch_size, self.num_workers)
