"""A fit stopped by SIGTERM or SIGINT saves a checkpoint, closes its MLflow run as KILLED
and ends the command with the signal's exit status (143, 130).

Lightning's own SIGTERM handling raises ``SIGTERMException``, a ``SystemExit`` with no
code: the process exits 0 with no checkpoint, and a scheduler sees a finished job. This
callback takes the signals over while the fit trains (:class:`DeferredSignals`): it
stops at the next optimizer step boundary, saves ``interrupted.ckpt`` beside the fit's
other checkpoints, and raises :class:`~prompt_a_video.interrupts.Interrupted`, which
`pav` turns into one line and the exit status. `pav fit ... --ckpt_path` on that file
continues the same MLflow run; `pav pipeline` resumes from it on its own.

`pav fit` adds this callback to every trainer (:mod:`prompt_a_video.lightning_cli`).
"""

from __future__ import annotations

import os
import signal
from typing import Any

import lightning.pytorch as pl

from prompt_a_video.interrupts import DeferredSignals, Interrupted

CHECKPOINT_NAME = "interrupted.ckpt"


class StopOnSignal(pl.Callback):
    """Stop a fit at a step boundary on SIGTERM/SIGINT, with a checkpoint to resume from."""

    def __init__(self) -> None:
        self._signals: DeferredSignals | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After Lightning registered its own SIGTERM handler (which would exit 0): ours wins
        # while training, and Lightning restores the command's handlers at teardown.
        self._signals = DeferredSignals().__enter__()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        at_step_boundary = (batch_idx + 1) % max(1, trainer.accumulate_grad_batches) == 0
        if at_step_boundary:
            self._stop_if_signalled(trainer)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:  # a validation can render for minutes: stop inside it too
            self._stop_if_signalled(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._release()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._release()
        if isinstance(exception, Interrupted):
            for logger in trainer.loggers:
                mark_killed = getattr(logger, "mark_killed", None)
                if callable(mark_killed):  # its finalize("failed") that follows then records KILLED
                    mark_killed()

    def _stop_if_signalled(self, trainer: pl.Trainer) -> None:
        signum = self._signals.received if self._signals is not None else None
        if trainer.world_size > 1:  # a signal to one rank stops them all at the same step
            signalled = trainer.strategy.reduce_boolean_decision(signum is not None, all=False)
            if signalled and signum is None:  # another rank got it: the scheduler's SIGTERM
                signum = signal.SIGTERM
        if signum is None:
            return
        path = os.path.join(checkpoint_folder(trainer), CHECKPOINT_NAME)
        trainer.save_checkpoint(path)
        raise Interrupted(signum, checkpoint=path, step=trainer.global_step)

    def _release(self) -> None:
        if self._signals is not None:
            self._signals.__exit__(None, None, None)
            self._signals = None


def checkpoint_folder(trainer: pl.Trainer) -> str:
    """Where the fit's checkpoints go: its ModelCheckpoint's folder, else ``<root>/checkpoints``."""
    callback = trainer.checkpoint_callback
    folder = getattr(callback, "dirpath", None) if callback is not None else None
    return str(folder) if folder else os.path.join(trainer.default_root_dir, "checkpoints")
