"""Work spread over Lightning ranks: ``Trainer.predict`` with per-rank shards.

A stage hands :func:`run_sharded` its units of work (prompts to evolve, rewrites to
render, prompts to sample pairs for), a key per unit, and a ``process`` function that
turns a fixed chunk of units into output records. Lightning runs the processes
(``--trainer.devices N --trainer.num_nodes M --trainer.strategy ddp``: N*M ranks, no code
change); rank ``r`` of ``W`` processes the units ``r, r+W, ...`` still to do and appends
each record to its shard (:mod:`~prompt_a_video.scoring.shards`); after a barrier rank 0
merges the shards into ``OUT`` in the order of the work, and every rank reads the merged
records back. A run killed at any point and restarted skips what any shard or ``OUT``
already holds and ends with the bytes of an uninterrupted run, when ``process`` is
deterministic per chunk; chunks do not depend on the number of ranks.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from prompt_a_video.scoring.shards import MergeReport, ShardedOutput

log = logging.getLogger(__name__)


@dataclass
class TrainerOptions:
    """The Lightning Trainer settings that place a stage's processes.

    Args:
        accelerator: ``cpu``, ``gpu``, ``auto``... The generator and rewards place
            themselves by their own ``device`` settings; with ``gpu`` and several devices
            Lightning makes each process's GPU the current one, so ``cuda`` there means
            that process's GPU.
        devices: processes per node (or ``auto``, or a device list such as ``"0,1"``).
        num_nodes: machines.
        strategy: ``auto`` (one process), ``ddp`` (one process per device, the script
            relaunched), ``ddp_spawn``...
    """

    accelerator: str = "cpu"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"


def make_trainer(options: TrainerOptions, root: str | Path) -> pl.Trainer:
    """A predict-only Trainer: no logger, checkpoints or Lightning bar (records go to
    shards, metrics to the stage's own MLflow run). Make one per command and reuse it for
    every sharded job of the command: the process group lives as long as it does."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*`use_distributed_sampler=False`.*")
        return pl.Trainer(**asdict(options), logger=False, enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False, use_distributed_sampler=False, default_root_dir=str(root))


class ShardedWorkData(pl.LightningDataModule):
    """The chunks of work not yet in the output, split over the ranks.

    The units are cut into fixed chunks of ``chunk_size`` in input order, the same for
    any number of ranks, and a chunk is processed as one batch: so a result that depends
    on its batch (LLM sampling seeded per call, a reward that is not batch-invariant) is
    the same in one process and in several, and in a resumed run (a chunk left half done
    is done again whole). Rank 0 decides what is left and broadcasts it, so every rank
    splits the same list even while another has started writing. Rank ``r`` of ``W``
    gets chunks ``r, r+W, ...``: a plain split without the padding a
    ``DistributedSampler`` adds (the trainer runs with ``use_distributed_sampler=False``).
    """

    def __init__(self, units: Sequence[Any], keys: Sequence[str | tuple[str, ...]], output: ShardedOutput,
                 chunk_size: int = 1, retry_failed: bool = False) -> None:
        super().__init__()
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"batch size must be an int >= 1, got {chunk_size!r}")
        units, keys = list(units), list(keys)  # keys: a str or a tuple of str per unit
        self.chunks = [units[i:i + chunk_size] for i in range(0, len(units), chunk_size)]
        self.chunk_keys = [{k for unit_keys in keys[i:i + chunk_size] for k in _record_keys(unit_keys)}
                           for i in range(0, len(units), chunk_size)]
        self.output, self.retry_failed = output, retry_failed
        self.assigned: list[list[Any]] = []

    def todo(self) -> list[int]:
        done = self.output.done(retry_failed=self.retry_failed)
        return [i for i, keys in enumerate(self.chunk_keys) if not done.issuperset(keys)]

    def setup(self, stage: str) -> None:
        trainer = self.trainer
        todo = self.todo() if trainer is None or trainer.is_global_zero else None
        if trainer is not None:
            todo = trainer.strategy.broadcast(todo, src=0)
            todo = todo[trainer.global_rank::trainer.world_size]
        self.assigned = [self.chunks[i] for i in todo]
        if not self.assigned and trainer is not None and trainer.world_size > 1:
            # Lightning refuses a rank with no batch while others have some: an empty chunk
            # keeps this rank in step, and predict_step skips it.
            self.assigned = [[]]

    def units_left(self) -> int:
        return sum(len(chunk) for chunk in self.assigned)

    def predict_dataloader(self):
        from torch.utils.data import DataLoader

        return DataLoader(self.assigned, batch_size=1, shuffle=False, collate_fn=lambda batch: batch[0])


class ShardedWorkModule(pl.LightningModule):
    """Runs ``process`` on each predict batch and appends its records to this rank's
    shard, flushed per record. ``predict_step`` returns None (records go to the shard)."""

    def __init__(self, process: Callable[[list[Any]], Iterable[dict]], output: ShardedOutput,
                 desc: str = "work", unit: str = "item", progress: bool = True) -> None:
        super().__init__()
        self.process, self.output = process, output
        self.desc, self.unit, self.progress = desc, unit, progress
        self._writer = None
        self._bar = None

    def on_predict_start(self) -> None:
        if self.progress and self.trainer.is_global_zero:
            from tqdm.auto import tqdm

            data = self.trainer.datamodule
            total = data.units_left() if isinstance(data, ShardedWorkData) else None
            where = f" (rank 0 of {self.trainer.world_size})" if self.trainer.world_size > 1 else ""
            self._bar = tqdm(total=total, desc=f"{self.desc}{where}", unit=self.unit)

    def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
        return batch  # units of work (texts, items), not tensors: the components place themselves

    def predict_step(self, batch: list[Any], batch_idx: int) -> None:
        from prompt_a_video.data import JsonlWriter

        if not batch:
            return
        records = list(self.process(batch))
        if self._writer is None:  # opened on first use: a rank with nothing to do writes no shard
            self._writer = JsonlWriter(self.output.shard(self.global_rank))
        for record in records:
            self._writer.write(record)
        if self._bar is not None:
            self._bar.update(len(batch))

    def teardown(self, stage: str) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _record_keys(keys: str | tuple[str, ...]) -> tuple[str, ...]:
    return (keys,) if isinstance(keys, str) else tuple(keys)


def run_sharded(trainer: pl.Trainer, units: Sequence[Any], keys: Sequence[str | tuple[str, ...]],
                process: Callable[[list[Any]], Iterable[dict]], output: ShardedOutput, *, chunk_size: int = 1,
                retry_failed: bool = False, desc: str = "work", unit: str = "item",
                progress: bool = True, merge_order: Sequence[str] | None = None) -> MergeReport | None:
    """Process every unit not yet in ``output`` over the trainer's ranks, then merge.

    ``keys[i]`` is the key of the record unit ``i`` writes, or the tuple of the keys of
    the several records it writes (a unit is done when all of them are written).
    ``process`` gets one fixed chunk of ``chunk_size`` units at a time (see
    :class:`ShardedWorkData`) and returns the records of its units. ``OUT`` is merged in
    the order of ``keys``, or of ``merge_order`` when several jobs share one output.
    Collective: every rank calls it with the same units. Returns the merge report on
    rank 0 and None elsewhere; past the call, ``output.out`` holds every unit's records
    on every rank.
    """
    import warnings

    if len(units) != len(keys):
        raise ValueError(f"run_sharded: {len(units)} units but {len(keys)} keys")
    data = ShardedWorkData(units, keys, output, chunk_size=chunk_size, retry_failed=retry_failed)
    module = ShardedWorkModule(process, output, desc=desc, unit=unit, progress=progress)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=r"predict returned None")  # records go to shards
        warnings.filterwarnings("ignore", message=r".*Total length of `DataLoader` across ranks is zero.*")
        warnings.filterwarnings("ignore", message=r".*overridden `transfer_batch_to_device`.*")
        trainer.predict(module, datamodule=data, return_predictions=False)
    trainer.strategy.barrier(f"{desc}-merge")  # every shard is complete past this line
    order = merge_order if merge_order is not None else [k for unit_keys in keys for k in _record_keys(unit_keys)]
    report = output.merge(order) if trainer.is_global_zero else None
    trainer.strategy.barrier(f"{desc}-merged")  # every rank may read OUT past this line
    return report


class _Untracked:
    """Stands in for the ``mlflow`` module on ranks other than 0: logging is rank 0's."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


@contextlib.contextmanager
def rank_zero_tracked(trainer: pl.Trainer, stage: str, params: dict | None = None, **kwargs) -> Iterator[Any]:
    """``tracked_stage`` on rank 0, a no-op stand-in elsewhere (one MLflow run per stage)."""
    if not trainer.is_global_zero:
        yield _Untracked()
        return
    from prompt_a_video.tracking import tracked_stage

    with tracked_stage(stage, params, **kwargs) as mlflow:
        yield mlflow
