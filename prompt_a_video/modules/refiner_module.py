"""What every refiner LightningModule shares (SFT, DPO, and later GRPO).

A refiner module holds a :class:`~prompt_a_video.modules.backbone.CausalLMBackbone`, loads
its tokenizer on first use and its model in ``configure_model`` (the subclass's), refuses
an example longer than ``max_length`` before the first step, trains with AdamW and the
``schedule`` of its hyperparameters (default: linear warm-up over ``warmup_steps``, then
cosine decay over the fit's steps; :mod:`~prompt_a_video.modules.optim`), and samples with ``refine`` (from
:class:`~prompt_a_video.refiner.generation.RefinerMixin`).

Subclasses set :attr:`answer_fields` (the batch fields holding answers, checked for
length together with ``prompt``) and call ``self.save_hyperparameters()`` in their own
``__init__``, whose signature is their YAML config; the hyperparameters ``lr``,
``weight_decay``, ``warmup_steps`` and ``max_length`` are read from there.
"""

from __future__ import annotations

import math

from lightning.pytorch import LightningModule

from prompt_a_video.data.validation import is_count
from prompt_a_video.modules.backbone import CausalLMBackbone
from prompt_a_video.modules.chat_encoding import check_datamodule_fits
from prompt_a_video.modules.optim import WarmupCosine, adamw_with_schedule
from prompt_a_video.refiner.generation import RefinerMixin


def check_fit_settings(*, lr: float, weight_decay: float, warmup_steps: int, max_length: int) -> None:
    """The training settings every refiner module shares, checked in its ``__init__`` (when
    the config is read, before any weights load); a ``ValueError`` names the setting as
    the YAML writes it and what it accepts."""
    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    checks = (("lr", lr, number(lr) and lr > 0, "a number > 0"),
              ("weight_decay", weight_decay, number(weight_decay) and weight_decay >= 0, "a number >= 0"),
              ("warmup_steps", warmup_steps, is_count(warmup_steps, 0), "an int >= 0"),
              ("max_length", max_length, is_count(max_length, 1), "an int >= 1 (tokens per example)"))
    for name, value, ok, accepted in checks:
        if not ok:
            raise ValueError(f"model.init_args.{name} must be {accepted}, got {value!r}")


class RefinerModule(RefinerMixin, LightningModule):
    """The shared base of the refiner modules (see the module doc)."""

    #: batch fields that hold answers (``("target",)`` for SFT, ``("chosen", "rejected")`` for DPO)
    answer_fields: tuple[str, ...] = ()

    def __init__(self, backbone: CausalLMBackbone) -> None:
        super().__init__()
        self.backbone = backbone
        self.model = None
        self._tokenizer = None

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = self.backbone.load_tokenizer()
        return self._tokenizer

    def on_fit_start(self) -> None:
        # Refuse overlong examples before the first step, naming the longest (never cut them).
        check_datamodule_fits(self, self.answer_fields)

    def configure_optimizers(self):
        total = self.trainer.estimated_stepping_batches  # also sets up the data: batches are known now
        batches = self.trainer.num_training_batches
        per_epoch = total if math.isinf(batches) else math.ceil(batches / self.trainer.accumulate_grad_batches)
        schedule = self.hparams.get("schedule") or WarmupCosine(self.hparams.warmup_steps)
        return adamw_with_schedule(self.model.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay,
                                   schedule=schedule, total_steps=total, steps_per_epoch=per_epoch)
