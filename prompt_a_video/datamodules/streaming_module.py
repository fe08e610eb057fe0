"""The shared body of the SFT and DPO data modules: a train and a validation stream of
:class:`~prompt_a_video.datamodules.streaming.StreamingExamples`."""

from __future__ import annotations

from functools import partial

from lightning.pytorch import LightningDataModule

from prompt_a_video.data import DataFormatError
from prompt_a_video.datamodules.streaming import Example, StreamingExamples, StreamingLoader

__all__ = ["StreamingDataModule", "collate_texts"]


def collate_texts(rows: list[Example], keys: tuple[str, ...]) -> dict[str, list[str]]:
    """Rows of texts -> ``{key: [text, ...]}`` for each key (a module-level function, so
    workers started by spawn can unpickle it)."""
    return {k: [row[k] for row in rows] for k in keys}


class StreamingDataModule(LightningDataModule):
    """Shared body of the SFT and DPO data modules: a train and a validation stream.

    Subclasses set ``dataset_class`` (a :class:`StreamingExamples` subclass) and
    ``batch_keys`` (the keys of a batch dict), and call this ``__init__`` with their files.
    Training shuffles and drops the remainder; validation keeps file order and pads (see
    :mod:`prompt_a_video.datamodules.split`). ``skipped`` collects each bad record's error
    once.
    """

    dataset_class: type[StreamingExamples] = StreamingExamples
    batch_keys: tuple[str, ...] = ("prompt",)

    def __init__(self, files: list[str], val_fraction: float = 0.1, batch_size: int = 8, num_workers: int = 0,
                 seed: int = 0, errors: str = "raise", shuffle_buffer: int = 1024) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: expected >= 1")
        if num_workers < 0:
            raise ValueError(f"num_workers={num_workers}: expected >= 0")
        self.files = list(files)
        self.val_fraction, self.batch_size, self.num_workers = val_fraction, batch_size, num_workers
        self.seed, self.errors, self.shuffle_buffer = seed, errors, shuffle_buffer
        self.skipped: list[DataFormatError] = []
        self.train: StreamingExamples | None = None
        self.val: StreamingExamples | None = None
        # Fail at construction (config time), not at the first epoch.
        self._dataset("train", None, None)

    def _dataset(self, side: str, rank: int | None, world: int | None) -> StreamingExamples:
        return self.dataset_class(
            self.files, side=side, val_fraction=self.val_fraction, seed=self.seed, shuffle=side == "train",
            shuffle_buffer=self.shuffle_buffer, remainder="drop" if side == "train" else "pad",
            errors=self.errors, rank=rank, world_size=world, skipped=self.skipped,
        )

    def _epoch(self) -> int | None:
        return None if self.trainer is None else self.trainer.current_epoch

    def setup(self, stage: str | None = None) -> None:
        if self.train is None:
            trainer = self.trainer
            rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (None, None)
            self.train = self._dataset("train", rank, world)
            self.val = self._dataset("val", rank, world)
        epoch = self._epoch() or 0
        if stage in (None, "fit"):
            self.train.set_epoch(epoch)
            if self.train.total == 0:
                raise ValueError(f"no {self.train.what} in {self.files} for training{self._empty_hint()}")
            if len(self.train) == 0:
                raise ValueError(
                    f"{self.train.total} training {self.train.what} in {self.files} cannot be shared by "
                    f"{self.train.ranks} ranks: each would get none"
                )
        if stage in (None, "fit", "validate"):
            self.val.set_epoch(epoch)

    def _empty_hint(self) -> str:
        return ""

    def _loader(self, dataset: StreamingExamples) -> StreamingLoader:
        return StreamingLoader(dataset, self.batch_size, self.num_workers,
                               collate_fn=partial(collate_texts, keys=self.batch_keys), epoch_fn=self._epoch)

    # Lightning reads len() of a loader before its first iter(): refresh here, so that with
    # reload_dataloaders_every_n_epochs the length it reads is this epoch's.
    def train_dataloader(self) -> StreamingLoader:
        if self.train is None:
            self.setup("fit")
        self.train.set_epoch(self._epoch() or 0)
        return self._loader(self.train)

    def val_dataloader(self) -> StreamingLoader:
        if self.val is None:
            self.setup("validate")
        self.val.set_epoch(self._epoch() or 0)
        return self._loader(self.val)
