"""2-process DDP on CPU (gloo, ``ddp_spawn``): each rank's share of the streamed pool.

A tiny LightningModule records the prompts every rank sees per epoch into files; the
test checks that each training example is seen exactly once per epoch across ranks
(less the documented "drop" remainder), that ranks run equal batch counts, that
validation covers every held-out prompt ("pad"), that Lightning left the loader
unwrapped, and that records a producer appends between epochs are read the next epoch.
"""

import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer

from prompt_a_video.data import Candidate, JsonlWriter, PoolRecord
from prompt_a_video.datamodules.sft import SFTDataModule
from prompt_a_video.datamodules.split import in_validation
from prompt_a_video.datamodules.streaming import agree_on_snapshot

pytestmark = pytest.mark.integration

VAL_FRACTION = 0.3


def write_pool(path, prompts):
    with JsonlWriter(path) as writer:
        for p in prompts:
            best = Candidate(f"{p}, cinematic", 1, {"TVA": 1.0}, 1.0)
            writer.write(PoolRecord(p, "synthetic", [best], best))


class RecordingModule(LightningModule):
    """Fits one scalar; writes what each rank saw to ``out/<stage>-e<epoch>-r<rank>.json``."""

    def __init__(self, out: str, pool: str, late: list[str]):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.out, self.pool, self.late = Path(out), pool, late
        self.seen = {"train": [], "val": []}
        self.batches = {"train": 0, "val": 0}

    def on_fit_start(self):
        # Rank-dependent views of three files: every rank must end up with the minimum.
        views = [5 + self.global_rank, None, 7 - 4 * self.global_rank]
        (self.out / f"agreed-r{self.global_rank}.json").write_text(json.dumps(agree_on_snapshot(views)))

    def training_step(self, batch, batch_idx):
        self.seen["train"] += batch["prompt"]
        self.batches["train"] += 1
        return ((self.weight - 1.0) ** 2).sum()

    def validation_step(self, batch, batch_idx):
        self.seen["val"] += batch["prompt"]
        self.batches["val"] += 1
        self.log("val/n", float(len(batch["prompt"])), sync_dist=True, batch_size=len(batch["prompt"]))

    def _dump(self, stage, loader):
        facts = {"prompts": self.seen[stage], "batches": self.batches[stage],
                 "loader": type(loader).__name__, "sampler": type(loader.sampler).__name__}
        (self.out / f"{stage}-e{self.current_epoch}-r{self.global_rank}.json").write_text(json.dumps(facts))
        self.seen[stage], self.batches[stage] = [], 0

    def on_validation_epoch_end(self):
        self._dump("val", self.trainer.val_dataloaders)

    def on_train_epoch_end(self):
        self._dump("train", self.trainer.train_dataloader)
        if self.current_epoch == 0 and self.global_rank == 0:
            write_pool(self.pool, self.late)  # a producer appends between epochs
        self.trainer.strategy.barrier()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _ranks(out, stage, epoch):
    return [json.loads((out / f"{stage}-e{epoch}-r{rank}.json").read_text()) for rank in (0, 1)]


def test_two_ranks_see_each_example_once_per_epoch(tmp_path):
    pool, out = tmp_path / "pool.jsonl", tmp_path / "seen"
    out.mkdir()
    early = [f"prompt {i:02d}" for i in range(21)]
    late = [f"late prompt {i}" for i in range(6)]
    write_pool(pool, early)
    data = SFTDataModule(pools=[str(pool)], val_fraction=VAL_FRACTION, batch_size=2)
    trainer = Trainer(accelerator="cpu", devices=2, strategy="ddp_fork", max_epochs=2,
                      reload_dataloaders_every_n_epochs=1, num_sanity_val_steps=0, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path)
    trainer.fit(RecordingModule(str(out), str(pool), late), datamodule=data)

    assert [json.loads((out / f"agreed-r{r}.json").read_text()) for r in (0, 1)] == [[5, None, 3]] * 2
    for epoch, prompts in ((0, early), (1, early + late)):
        val_side = [p for p in prompts if in_validation(p, VAL_FRACTION)]
        train_side = [p for p in prompts if p not in val_side]
        assert val_side and train_side

        ranks = _ranks(out, "train", epoch)
        assert {(r["loader"], r["sampler"]) for r in ranks} == {("StreamingLoader", "_InfiniteConstantSampler")}
        seen = Counter(p for r in ranks for p in r["prompts"])
        assert max(seen.values()) == 1 and set(seen) <= set(train_side)
        assert len(train_side) - len(seen) == len(train_side) % 2  # "drop": at most one left out
        assert ranks[0]["batches"] == ranks[1]["batches"] == math.ceil(len(train_side) // 2 / 2)

        ranks = _ranks(out, "val", epoch)
        seen = Counter(p for r in ranks for p in r["prompts"])
        assert set(seen) == set(val_side)  # "pad": all, a repeat at most
        assert sum(seen.values()) == 2 * math.ceil(len(val_side) / 2)
        assert ranks[0]["batches"] == ranks[1]["batches"]
