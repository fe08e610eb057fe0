"""SFT examples from evolved pools: (original prompt -> its best evolved prompt).

Accepts every pool format of :mod:`prompt_a_video.data.pool` (our JSONL, the paper's
released SFT pairs and its evolution logs). Records without a ``best`` are skipped (their
evolution found nothing above the floors). Batches are lists of texts; the module owns
the chat template and the tokenisation.
"""

from __future__ import annotations

import logging

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from prompt_a_video.datamodules.split import in_validation

log = logging.getLogger(__name__)


def _collate_texts(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    return {"prompt": [r["prompt"] for r in rows], "target": [r["target"] for r in rows]}


class SFTDataModule(LightningDataModule):
    """Evolved pools -> ``{"prompt": [...], "target": [...]}`` batches.

    Args:
        pools: pool files (``.jsonl`` pools, the paper's ``.json`` SFT pairs or evolution logs).
        val_fraction: share of prompts held out for validation (split by prompt text).
        batch_size: examples per batch.
        num_workers: DataLoader workers.
        seed: seed of the split.
        errors: ``raise`` on a malformed record, or ``skip`` it with a warning (counted).
    """

    def __init__(self, pools: list[str], val_fraction: float = 0.1, batch_size: int = 8,
                 num_workers: int = 0, seed: int = 0, errors: str = "raise") -> None:
        super().__init__()
        if not pools:
            raise ValueError("data.pools is empty: give at least one pool file")
        self.pools = list(pools)
        self.val_fraction = val_fraction
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.errors = errors
        self.train: list[dict[str, str]] = []
        self.val: list[dict[str, str]] = []
        self.skipped: list = []

    def setup(self, stage: str | None = None) -> None:
        if self.train or self.val:
            return
        from prompt_a_video.data import iter_pool, sft_pairs

        for path in self.pools:
            records = iter_pool(path, errors=self.errors, skipped=self.skipped)
            for original, target in sft_pairs(records):
                side = self.val if in_validation(original, self.val_fraction, self.seed) else self.train
                side.append({"prompt": original, "target": target})
        if not self.train:
            raise ValueError(f"no SFT examples in {self.pools} (records need a 'best' candidate)")
        log.info("SFT examples: %d train, %d val, %d skipped records", len(self.train), len(self.val),
                 len(self.skipped))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True,
                          num_workers=self.num_workers, collate_fn=_collate_texts)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.batch_size, shuffle=False,
                          num_workers=self.num_workers, collate_fn=_collate_texts)
