"""The optimiser of the refiner modules: AdamW, linear warm-up, then cosine decay to 0."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier at ``step``: ``(step+1)/(warmup+1)`` during warm-up, then a half cosine
    from 1 to 0 over the remaining ``total_steps - warmup_steps`` steps (0 after them)."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def adamw_warmup_cosine(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
                        warmup_steps: int, total_steps: int) -> dict:
    """Lightning's ``configure_optimizers`` answer: AdamW on the trainable ``params`` with a
    per-step :func:`warmup_cosine` schedule. Warm-up is capped at ``total_steps``."""
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        raise ValueError("no trainable parameters: check the backbone's lora spec")
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    total = max(1, int(total_steps))
    warmup = min(warmup_steps, total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup, total))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
