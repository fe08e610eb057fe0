"""SFT examples from evolved pools: (original prompt -> its best evolved prompt).

Accepts every pool format of :mod:`prompt_a_video.data.pool`: our ``.jsonl`` pools,
streamed and followed while evolution still appends to them, and the paper's ``.json``
releases (SFT pairs, evolution logs), read whole. Records without a ``best`` give no
example (their evolution found nothing above the floors). Batches are lists of texts;
the module owns the chat template and the tokenisation. Sharding over DDP ranks and
workers, the per-epoch snapshot and the remainder policy: see
:mod:`prompt_a_video.datamodules.streaming`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from prompt_a_video.data import DataFormatError, PoolRecord, iter_pool, sft_pairs
from prompt_a_video.datamodules.streaming import StreamingExamples
from prompt_a_video.datamodules.streaming_module import StreamingDataModule


def preset_sum(name: str):
    """``scores -> sum(weight x score)`` with a reward preset's weights
    (:meth:`Preset.weighted_sum`; a dimension a candidate lacks fails that record, naming
    it); picklable, for DataLoader workers."""
    from prompt_a_video.rewards.presets import get_preset

    return get_preset(name).weighted_sum


class SFTExamples(StreamingExamples):
    """``{"prompt": original, "target": best}`` for each pool record that has a best."""

    what = "SFT examples"
    #: ranks the candidates of the paper's evolution logs (None: ``mean_score``); set by SFTDataModule
    aggregate = None

    def parse_record(self, obj: dict) -> PoolRecord:
        return PoolRecord.from_dict(obj)

    def read_whole(self, path: Path, errors: str, skipped: list[DataFormatError]) -> Iterable[PoolRecord]:
        return iter_pool(path, aggregate=self.aggregate, errors=errors, skipped=skipped)

    def examples(self, records: Iterable[PoolRecord]) -> Iterator[dict[str, str]]:
        for original, target in sft_pairs(records):
            yield {"prompt": original, "target": target}


class SFTDataModule(StreamingDataModule):
    """Evolved pools -> ``{"prompt": [...], "target": [...]}`` batches (lists of str).

    Args:
        pools: pool files (``.jsonl`` pools, possibly still growing; the paper's ``.json``
            SFT pairs or evolution logs).
        val_fraction: share of prompts held out for validation (split by prompt text, so
            all examples of one prompt fall on the same side).
        batch_size: examples per batch, per rank and worker.
        num_workers: DataLoader workers per rank.
        seed: seed of the split and of the per-epoch shuffle.
        errors: ``raise`` on a malformed record, or ``skip`` it with a warning (each
            counted once in ``skipped``).
        shuffle_buffer: examples held by the training shuffle (a buffer shuffle: files
            are streamed, never loaded whole).
        paper_log_aggregate: how the candidates of the paper's evolution logs are ranked
            to pick each prompt's best: a reward preset's name (``evolution``: the
            paper's own formula, ``booster/finetuning/gpt_boost.py``), or null for the
            plain mean of the scores. Our ``.jsonl`` pools carry their rewards and ignore it.

    Attributes ``train`` and ``val`` (after ``setup``) are the :class:`SFTExamples` of
    each side: iterable, with ``len`` the examples this rank gets per epoch.
    """

    dataset_class = SFTExamples
    batch_keys = ("prompt", "target")

    def __init__(self, pools: list[str], val_fraction: float = 0.1, batch_size: int = 8,
                 num_workers: int = 0, seed: int = 0, errors: str = "raise", shuffle_buffer: int = 1024,
                 paper_log_aggregate: str | None = None) -> None:
        if not pools:
            raise ValueError("data.pools is empty: give at least one pool file")
        self._aggregate = None if paper_log_aggregate is None else preset_sum(paper_log_aggregate)
        super().__init__(pools, val_fraction=val_fraction, batch_size=batch_size, num_workers=num_workers,
                         seed=seed, errors=errors, shuffle_buffer=shuffle_buffer)
        self.pools = self.files

    def _dataset(self, side: str, rank: int | None, world: int | None) -> SFTExamples:
        dataset = super()._dataset(side, rank, world)
        dataset.aggregate = self._aggregate
        return dataset

    def _empty_hint(self) -> str:
        return " (records need a 'best' candidate)"
