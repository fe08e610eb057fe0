"""DPO examples from preference-pair files: (prompt, chosen, rejected) texts.

Reads our ``.jsonl`` pair records (streamed, followed while pair building still appends)
and the paper's ``.json`` triplet lists (read whole) through
:func:`prompt_a_video.data.iter_pairs`. Only the three texts reach the batches; the
rewards and scores stay in the files for audits. Sharding over DDP ranks and workers,
the per-epoch snapshot and the remainder policy: see
:mod:`prompt_a_video.datamodules.streaming`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from prompt_a_video.data import DataFormatError, PreferencePair, iter_pairs
from prompt_a_video.datamodules.streaming import StreamingExamples
from prompt_a_video.datamodules.streaming_module import StreamingDataModule


class PreferenceExamples(StreamingExamples):
    """``{"prompt", "chosen", "rejected"}`` for each preference pair."""

    what = "preference pairs"

    def parse_record(self, obj: dict) -> PreferencePair:
        return PreferencePair.from_dict(obj)

    def read_whole(self, path: Path, errors: str, skipped: list[DataFormatError]) -> Iterable[PreferencePair]:
        return iter_pairs(path, errors=errors, skipped=skipped)

    def examples(self, records: Iterable[PreferencePair]) -> Iterator[dict[str, str]]:
        for pair in records:
            yield {"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected}


class DPODataModule(StreamingDataModule):
    """Preference pairs -> ``{"prompt": [...], "chosen": [...], "rejected": [...]}`` batches.

    Each value is a list of str of the batch's length; the DPO module tokenises.

    Args:
        pairs: pair files (``.jsonl`` records, possibly still growing; ``.json`` lists of
            pair objects, e.g. the paper's triplets).
        val_fraction: share of prompts held out for validation (split by prompt text: all
            pairs of one prompt fall on the same side).
        batch_size: pairs per batch, per rank and worker.
        num_workers: DataLoader workers per rank.
        seed: seed of the split and of the per-epoch shuffle.
        errors: ``raise`` on a malformed record, or ``skip`` it with a warning (each
            counted once in ``skipped``).
        shuffle_buffer: pairs held by the training shuffle.
    """

    dataset_class = PreferenceExamples
    batch_keys = ("prompt", "chosen", "rejected")

    def __init__(self, pairs: list[str], val_fraction: float = 0.1, batch_size: int = 8,
                 num_workers: int = 0, seed: int = 0, errors: str = "raise", shuffle_buffer: int = 1024) -> None:
        if not pairs:
            raise ValueError("data.pairs is empty: give at least one preference-pair file")
        super().__init__(pairs, val_fraction=val_fraction, batch_size=batch_size, num_workers=num_workers,
                         seed=seed, errors=errors, shuffle_buffer=shuffle_buffer)
        self.pairs = self.files
