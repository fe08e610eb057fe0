"""The optimiser of the refiner modules: AdamW, with a learning-rate schedule chosen by
``class_path`` (``model.init_args.schedule``):

- :class:`WarmupCosine` (the default): linear warm-up, then a half cosine to 0;
- :class:`WarmupLinear`: linear warm-up over a share of the steps, then linear to 0
  (Hugging Face's ``get_linear_schedule_with_warmup``, what TRL's ``DPOTrainer`` uses by
  default, so the paper's DPO: ``booster/dpo/dpo.py``, ``warmup_ratio=0.1``);
- :class:`StepPerEpoch`: the rate times ``gamma`` after every epoch (``StepLR(step_size=1)``
  stepped per epoch, llama-recipes' SFT schedule, so the paper's SFT: ``gamma=0.85``).

A schedule is a multiplier of the peak rate per optimizer step, applied by a
``LambdaLR`` stepped every optimizer step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from prompt_a_video.data.validation import is_count


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier at ``step``: ``(step+1)/(warmup+1)`` during warm-up, then a half cosine
    from 1 to 0 over the remaining ``total_steps - warmup_steps`` steps (0 after them)."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class LRSchedule:
    """How the learning rate moves over a fit: a multiplier of the peak rate per step."""

    def multiplier(self, step: int, total_steps: int, steps_per_epoch: int) -> float:
        raise NotImplementedError


@dataclass
class WarmupCosine(LRSchedule):
    """Linear warm-up over ``warmup_steps`` (capped at the fit's steps), then a half cosine
    to 0 (:func:`warmup_cosine`). The modules' default, with their ``warmup_steps``."""

    warmup_steps: int = 0

    def __post_init__(self) -> None:
        if not is_count(self.warmup_steps, 0):
            raise ValueError(f"WarmupCosine.warmup_steps must be an int >= 0, got {self.warmup_steps!r}")

    def multiplier(self, step: int, total_steps: int, steps_per_epoch: int) -> float:
        return warmup_cosine(step, min(self.warmup_steps, total_steps), total_steps)


@dataclass
class WarmupLinear(LRSchedule):
    """Hugging Face's linear schedule: ``step / warmup`` for the first ``ceil(warmup_ratio x
    total)`` steps, then ``(total - step) / (total - warmup)`` down to 0."""

    warmup_ratio: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.warmup_ratio, (int, float)) or not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"WarmupLinear.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")

    def multiplier(self, step: int, total_steps: int, steps_per_epoch: int) -> float:
        warmup = math.ceil(self.warmup_ratio * total_steps)
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


@dataclass
class StepPerEpoch(LRSchedule):
    """The peak rate for the first epoch, times ``gamma`` after each epoch: epoch ``e``
    trains at ``lr x gamma**e`` (llama-recipes' ``StepLR(step_size=1, gamma)``)."""

    gamma: float = 0.85

    def __post_init__(self) -> None:
        if not isinstance(self.gamma, (int, float)) or not 0 < self.gamma <= 1:
            raise ValueError(f"StepPerEpoch.gamma must be in (0, 1], got {self.gamma!r}")

    def multiplier(self, step: int, total_steps: int, steps_per_epoch: int) -> float:
        return float(self.gamma) ** (step // max(1, steps_per_epoch))


def adamw_with_schedule(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
                        schedule: LRSchedule, total_steps: int, steps_per_epoch: int) -> dict:
    """Lightning's ``configure_optimizers`` answer: AdamW on the trainable ``params``, its
    rate multiplied per optimizer step by ``schedule``."""
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        raise ValueError("no trainable parameters: check the backbone's lora spec")
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    total, per_epoch = max(1, int(total_steps)), max(1, int(steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                  lambda step: schedule.multiplier(step, total, per_epoch))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

