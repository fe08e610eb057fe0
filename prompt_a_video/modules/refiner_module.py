"""What every refiner LightningModule shares (SFT, DPO, and later GRPO).

A refiner module holds a :class:`~prompt_a_video.modules.backbone.CausalLMBackbone`, loads
its tokenizer on first use and its model in ``configure_model`` (the subclass's), refuses
an example longer than ``max_length`` before the first step, trains with AdamW (linear
warm-up, then cosine decay over the fit's steps), and samples with ``refine`` (from
:class:`~prompt_a_video.refiner.generation.RefinerMixin`).

Subclasses set :attr:`answer_fields` (the batch fields holding answers, checked for
length together with ``prompt``) and call ``self.save_hyperparameters()`` in their own
``__init__``, whose signature is their YAML config; the hyperparameters ``lr``,
``weight_decay``, ``warmup_steps`` and ``max_length`` are read from there.
"""

from __future__ import annotations

from lightning.pytorch import LightningModule

from prompt_a_video.modules.backbone import CausalLMBackbone
from prompt_a_video.modules.chat_encoding import check_datamodule_fits
from prompt_a_video.modules.optim import adamw_warmup_cosine
from prompt_a_video.refiner.generation import RefinerMixin


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
        return adamw_warmup_cosine(self.model.parameters(), lr=self.hparams.lr,
                                   weight_decay=self.hparams.weight_decay, warmup_steps=self.hparams.warmup_steps,
                                   total_steps=self.trainer.estimated_stepping_batches)
