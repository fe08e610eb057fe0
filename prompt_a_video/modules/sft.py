"""Supervised fine-tuning of the refiner: (original prompt -> best evolved prompt).

Loss: token-level cross-entropy on the assistant's tokens only (the prompt side is
masked with -100), averaged over the answer tokens of the batch. LoRA or full
fine-tuning, AdamW with linear warm-up then cosine decay.
"""

from __future__ import annotations

import torch

from prompt_a_video.modules.backbone import CausalLMBackbone
from prompt_a_video.modules.chat_encoding import encode_chat, pad_batch
from prompt_a_video.modules.optim import LRSchedule
from prompt_a_video.modules.refiner_module import RefinerModule, check_fit_settings
from prompt_a_video.modules.shared_prompt import shared_prefix_sequence_logps


class SFTRefiner(RefinerModule):
    """LoRA (or full) SFT of an instruct LLM into a prompt refiner.

    Args:
        backbone: the causal LM, its chat prompt and LoRA spec.
        lr: peak learning rate of AdamW (> 0).
        weight_decay: AdamW weight decay (>= 0).
        warmup_steps: linear warm-up from 0 to ``lr`` (>= 0 steps).
        max_length: tokens per example (prompt + answer); an example that does not fit is refused
            before the fit starts (never cut; ``chat_encoding.check_examples_fit``).
        schedule: the learning-rate schedule, by class_path (default ``WarmupCosine`` with
            ``warmup_steps``; the paper's SFT: ``StepPerEpoch`` with gamma 0.85).
    """

    answer_fields = ("target",)

    def __init__(self, backbone: CausalLMBackbone, lr: float = 2e-4, weight_decay: float = 0.0,
                 warmup_steps: int = 0, max_length: int = 512, schedule: LRSchedule | None = None) -> None:
        super().__init__(backbone)
        # Fail on a bad setting at instantiation, before any weights load.
        check_fit_settings(lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, max_length=max_length)
        self.save_hyperparameters()

    def configure_model(self) -> None:
        if self.model is None:
            self.model = self.backbone.load_model()
            # from_pretrained returns eval mode, and Lightning keeps each module's mode
            # as it finds it: without this, dropout (LoRA's included) stays off in training.
            self.model.train()

    def encode(self, prompts: list[str], answers: list[str]) -> dict[str, torch.Tensor]:
        """Chat-format and tokenise a batch; tensors ``[B, T]`` on the module's device."""
        rows = [encode_chat(self.tokenizer, self.backbone.messages(p), a, self.hparams.max_length)
                for p, a in zip(prompts, answers)]
        return {k: v.to(self.device) for k, v in pad_batch(rows, self.tokenizer.pad_token_id).items()}

    def _loss(self, batch) -> torch.Tensor:
        """Mean next-token cross-entropy over the batch's answer tokens (nats per token).

        The same value as the model's own ``loss`` (``labels`` passed to its forward), but
        the batch runs as one row behind the prefix its examples share (the chat template
        and system prompt, once: :func:`.shared_prompt.shared_prefix_sequence_logps`), and
        the logits exist only for the answer positions, a chunk at a time and recomputed in
        backward (:mod:`.logprobs`), instead of a full ``[B, T, V]`` float32 tensor, its
        log-softmax and its gradient.
        """
        encoded = self.encode(batch["prompt"], batch["target"])
        logps, counts = shared_prefix_sequence_logps(self.model, encoded["input_ids"], encoded["attention_mask"],
                                                     encoded["labels"])
        return -logps.sum() / counts.sum()

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["prompt"]))
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(batch["prompt"]))
