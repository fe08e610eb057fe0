"""A prompt set as batches of prompts, for prediction (refinement) and evaluation.

Prompt sets are small and read whole (:func:`prompt_a_video.data.load_prompts`), so this
is an ordinary map-style dataset: under DDP, ``predict`` gives each prompt to exactly
one rank (Lightning's unrepeated distributed sampler; uneven counts are allowed there,
as prediction has no collectives), while ``test`` uses Lightning's ``DistributedSampler``,
which repeats a few prompts to even the ranks out.
"""

from __future__ import annotations

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from prompt_a_video.data import DataFormatError, ErrorPolicy, PromptItem
from prompt_a_video.data.prompts import check_limit


def _collate_prompts(prompts: list[str]) -> dict[str, list[str]]:
    return {"prompt": list(prompts)}


class PromptSetDataModule(LightningDataModule):
    """A prompt set -> ``{"prompt": [...]}`` batches (lists of str), in the set's order.

    Args:
        prompts: a ``.txt`` file (one prompt a line; blank lines and ``#`` comment lines
            are skipped), a ``.jsonl`` file with a ``"prompt"`` key, or a named set:
            ``vbench`` or ``vbench:DIM,...``.
        batch_size: prompts per batch.
        limit: keep only the first ``limit`` prompts (an int >= 1; None: all).
        errors: ``raise`` on a malformed prompt, or ``skip`` it with a warning (counted
            in ``skipped``).
        num_workers: DataLoader workers.

    After ``setup``, ``items`` holds the :class:`~prompt_a_video.data.PromptItem` s (with
    their metadata, e.g. VBench dimensions), in batch order.
    """

    def __init__(self, prompts: str, batch_size: int = 8, limit: int | None = None, errors: str = "raise",
                 num_workers: int = 0) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: expected >= 1")
        check_limit(limit)
        ErrorPolicy(errors)  # validates the mode at config time
        self.prompts = prompts
        self.batch_size, self.limit, self.errors, self.num_workers = batch_size, limit, errors, num_workers
        self.items: list[PromptItem] | None = None
        self.skipped: list[DataFormatError] = []

    def setup(self, stage: str | None = None) -> None:
        if self.items is not None:
            return
        from prompt_a_video.data import load_prompts

        # the first `limit` prompts; a set without a prompt is an error naming it
        self.items = load_prompts(self.prompts, limit=self.limit, errors=self.errors, skipped=self.skipped)

    def _loader(self) -> DataLoader:
        if self.items is None:
            self.setup()
        return DataLoader([item.prompt for item in self.items], batch_size=self.batch_size, shuffle=False,
                          num_workers=self.num_workers, collate_fn=_collate_prompts)

    def predict_dataloader(self) -> DataLoader:
        return self._loader()

    def train_dataloader(self) -> DataLoader:
        """The prompts shuffled each epoch (online RL trains on prompts alone: GRPO)."""
        if self.items is None:
            self.setup()
        return DataLoader([item.prompt for item in self.items], batch_size=self.batch_size, shuffle=True,
                          num_workers=self.num_workers, collate_fn=_collate_prompts)

    def test_dataloader(self) -> DataLoader:
        return self._loader()
