"""Evolution as ``Trainer.predict``: Lightning spreads the source prompts over processes.

``EvolvePromptData`` hands each rank its share of the prompts still to evolve;
``EvolveModule.predict_step`` evolves a batch of them with an
:class:`~prompt_a_video.evolution.loop.EvolutionLoop` and appends the records to the
rank's shard (``OUT.rank{r}.jsonl``, see :mod:`~prompt_a_video.evolution.shards`). So
``--trainer.devices N --trainer.num_nodes M --trainer.strategy ddp`` runs N*M processes
with no code change; the caller merges the shards on rank 0 afterwards.
"""

from __future__ import annotations

import logging

import lightning.pytorch as pl

from prompt_a_video.evolution.loop import EvolutionLoop
from prompt_a_video.evolution.shards import completed_prompts, shard_path

log = logging.getLogger(__name__)


class EvolvePromptData(pl.LightningDataModule):
    """The source prompts not yet in ``out`` or its shards, split over the ranks.

    Rank 0 decides what is left to do and broadcasts it, so every rank splits the same
    list even while another rank has started writing. Rank ``r`` of ``W`` gets prompts
    ``r, r+W, ...``: a plain split without the padding a ``DistributedSampler`` adds (that
    would evolve some prompts twice; the trainer runs with ``use_distributed_sampler=False``).

    Args:
        prompts: the source prompts, distinct, in the order of the source set.
        out: the pool file (its shards sit beside it).
        batch_size: source prompts per ``predict_step`` (evolved together, their renders batched).
        retry_failed: evolve again the prompts recorded with an ``error``.
    """

    def __init__(self, prompts: list[str], out: str, batch_size: int = 4, retry_failed: bool = False) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"EvolvePromptData.batch_size must be >= 1, got {batch_size}")
        self.prompts, self.out, self.batch_size, self.retry_failed = list(prompts), str(out), batch_size, retry_failed
        self.assigned: list[str] = []

    def todo(self) -> list[str]:
        done = completed_prompts(self.out, retry_failed=self.retry_failed)
        return [p for p in self.prompts if p not in done]

    def setup(self, stage: str) -> None:
        trainer = self.trainer
        if trainer is None:
            self.assigned = self.todo()
            return
        todo = self.todo() if trainer.is_global_zero else None
        todo = trainer.strategy.broadcast(todo, src=0)
        self.assigned = todo[trainer.global_rank::trainer.world_size]
        log.info("evolve: rank %d of %d evolves %d of %d prompts left", trainer.global_rank, trainer.world_size,
                 len(self.assigned), len(todo))

    def predict_dataloader(self):
        from torch.utils.data import DataLoader

        return DataLoader(self.assigned, batch_size=self.batch_size, shuffle=False, collate_fn=list)


class EvolveModule(pl.LightningModule):
    """Evolves each predict batch of source prompts and writes one pool record per prompt
    (plus ``error`` when it failed) to this rank's shard, flushed per record.

    ``predict_step`` returns None: records go to the shard, not into memory (run the
    trainer with ``return_predictions=False``).

    Args:
        loop: the evolution loop (generator, reward, operator, K, N, top-k, seeds).
        out: the pool file; this rank writes ``shard_path(out, rank)``.
        progress: tqdm bars (prompts, and iterations of the current batch) on rank 0.
    """

    def __init__(self, loop: EvolutionLoop, out: str, progress: bool = True) -> None:
        super().__init__()
        self.loop, self.out, self.progress = loop, str(out), progress
        self._writer = None
        self._bar = None

    def on_predict_start(self) -> None:
        if self.progress and self.trainer.is_global_zero:
            from tqdm.auto import tqdm

            loader = self.trainer.predict_dataloaders
            total = len(loader.dataset) if hasattr(loader, "dataset") else None
            where = f" (rank 0 of {self.trainer.world_size})" if self.trainer.world_size > 1 else ""
            self._bar = tqdm(total=total, desc=f"evolve{where}", unit="prompt")

    def predict_step(self, batch: list[str], batch_idx: int) -> None:
        from prompt_a_video.data import JsonlWriter

        inner = None
        if self._bar is not None:
            from tqdm.auto import tqdm

            inner = tqdm(total=self.loop.iterations + 1, desc=f"  {len(batch)} prompt(s): iteration", unit="it",
                         leave=False)
        results = self.loop.evolve(batch, on_iteration=(lambda i: inner.update(1)) if inner else None)
        if inner is not None:
            inner.close()
        if self._writer is None:  # opened on first use: a rank with nothing to do writes no shard
            self._writer = JsonlWriter(shard_path(self.out, self.global_rank))
        for result in results:
            if result.error:
                log.warning("evolve: %r failed: %s", result.record.prompt[:80], result.error)
            self._writer.write(result.to_dict())
        if self._bar is not None:
            self._bar.update(len(batch))

    def teardown(self, stage: str) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None

