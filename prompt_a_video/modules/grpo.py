"""Online RL of the refiner: GRPO with the render-and-score reward in the training loop.

Each training step takes a batch of user prompts and, for each, samples ``group_size``
rewrites from the current policy, renders and scores every rewrite against its ORIGINAL
prompt through the :class:`~prompt_a_video.scoring.ScoringEngine` (cached: a rewrite seen
before is never rendered twice), turns the rewards into group-relative advantages and
takes one GRPO step (:mod:`.grpo_loss`; one update per rollout, so the ratio is 1 and the
clip inactive). The reference, when ``beta > 0``, is the policy with its LoRA adapter
switched off: the SFT model the adapter was added to, one copy of the weights.

A rewrite that fails to render or score, or fails the reward's floors (the text-quality
and intent floors among them), gets the lowest reward of its batch: degenerate text can
never buy reward. Prompts come from a :class:`~prompt_a_video.datamodules.prompts.PromptSetDataModule`.

Not yet here (issue 15): several updates per rollout, overlap of rendering and sampling,
the table of rewrites, the pipeline stage, the TRL benchmark.
"""

from __future__ import annotations

import math
import zlib

import torch

from prompt_a_video.data.validation import is_count
from prompt_a_video.generators.base import Generator
from prompt_a_video.modules.backbone import CausalLMBackbone
from prompt_a_video.modules.chat_encoding import encode_chat, pad_batch
from prompt_a_video.modules.grpo_loss import LOSS_TYPES, group_advantages, grpo_loss
from prompt_a_video.modules.optim import LRSchedule
from prompt_a_video.modules.refiner_module import RefinerModule, check_fit_settings
from prompt_a_video.rewards.base import Reward


class GRPORefiner(RefinerModule):
    """GRPO of a refiner against a backbone and a reward set.

    Args:
        backbone: the policy LLM (e.g. the merged SFT model) and the LoRA spec of the
            adapter GRPO trains.
        generator: the text-to-video backbone the rewrites are rendered with, by class_path.
        reward: the reward set (a ``CompositeReward`` with an aggregate ``reward``), by class_path.
        group_size: rewrites sampled per prompt, ``G`` (>= 2).
        beta: weight of the k3 KL to the reference (0: none, and no reference forward).
        epsilon_low, epsilon_high: the ratio's clip range (see :func:`.grpo_loss.grpo_loss`).
        loss_type: ``grpo``, ``dapo`` or ``dr_grpo``.
        scale_advantages: divide by the group's std (False: Dr. GRPO).
        temperature, top_p, max_new_tokens: sampling of the rollouts.
        seeds: render seeds; a rewrite's reward is its mean over them (default ``[0]``).
        render_batch_size: videos per generate/score call (None: all of a step's).
        use_cache: go through the render-and-score cache.
        lr, weight_decay, warmup_steps, max_length, schedule: as the other refiner modules.
    """

    answer_fields = ()

    def __init__(self, backbone: CausalLMBackbone, generator: Generator, reward: Reward, group_size: int = 4,
                 beta: float = 0.0, epsilon_low: float = 0.2, epsilon_high: float | None = None,
                 loss_type: str = "grpo", scale_advantages: bool = True, temperature: float = 1.0,
                 top_p: float = 1.0, max_new_tokens: int = 128, seeds: list[int] | None = None,
                 render_batch_size: int | None = None, use_cache: bool = True, lr: float = 1e-5,
                 weight_decay: float = 0.0, warmup_steps: int = 0, max_length: int = 512,
                 schedule: LRSchedule | None = None) -> None:
        super().__init__(backbone)
        from prompt_a_video.data.prompts import check_seeds
        from prompt_a_video.refiner.generation import check_sampling

        check_fit_settings(lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, max_length=max_length)
        check_sampling(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
        if not is_count(group_size, 2):
            raise ValueError(f"model.init_args.group_size must be an int >= 2, got {group_size!r}")
        if loss_type not in LOSS_TYPES:
            raise ValueError(f"model.init_args.loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
        if not beta >= 0:
            raise ValueError(f"model.init_args.beta must be >= 0, got {beta!r}")
        if "reward" not in tuple(reward.dimensions):
            raise ValueError(f"model.init_args.reward: {type(reward).__name__} gives no aggregate 'reward'; "
                             "use a CompositeReward")
        self.seeds = check_seeds(seeds, "model.init_args.seeds")
        self.save_hyperparameters(ignore=["generator", "reward"])
        self.generator, self.reward = generator, reward
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            from prompt_a_video.scoring import ScoringEngine, ScoringSettings

            self._engine = ScoringEngine(self.generator, self.reward,
                                         ScoringSettings(self.hparams.render_batch_size, self.hparams.use_cache))
        return self._engine

    def configure_model(self) -> None:
        if self.model is None:
            self.model = self.backbone.load_model()
            self.model.train()  # from_pretrained returns eval mode; LoRA's dropout must train

    # -- rollouts ------------------------------------------------------------------------

    def rollout(self, prompts: list[str]) -> tuple[list[str], list[str], torch.Tensor, dict[str, float]]:
        """Sample ``G`` rewrites per prompt, render and score them.

        Returns ``(originals, rewrites, rewards, stats)``: ``N = len(prompts) x G`` of
        each (a prompt's rewrites next to each other), ``rewards`` ``float [N]`` with
        failures and floor failures at the batch's lowest reward, and the step's means.
        """
        from prompt_a_video.scoring import Item, average_over_seeds

        group = self.hparams.group_size
        seed = zlib.crc32(f"{self.global_step}\n{chr(10).join(prompts)}".encode()) & 0x7FFFFFFF
        texts = self.refine(prompts, n=group, temperature=self.hparams.temperature, top_p=self.hparams.top_p,
                            max_new_tokens=self.hparams.max_new_tokens, seed=seed)
        originals = [p for p in prompts for _ in range(group)]
        rewrites = [t.strip() or p for p, samples in zip(prompts, texts) for t in samples]
        items = [Item(text, original, s, str(i)) for i, (text, original) in enumerate(zip(rewrites, originals))
                 for s in self.seeds]
        means = average_over_seeds(self.engine.score(items))
        by_key = {m.key: m for m in means}
        raw = [by_key[str(i)] for i in range(len(rewrites))]
        good = [not r.failed and math.isfinite(r.reward) and r.passes_floors is not False for r in raw]
        finite = [r.reward for r, ok in zip(raw, good) if ok]
        floor = min(finite) if finite else 0.0
        rewards = torch.tensor([r.reward if ok else floor for r, ok in zip(raw, good)], dtype=torch.float32)
        stats = {"degenerate_rate": 1.0 - sum(good) / len(good)}
        for dimension in self.reward.dimensions:
            values = [r.scores.get(dimension) for r, ok in zip(raw, good) if ok]
            values = [v for v in values if v is not None and math.isfinite(v)]
            if values and dimension != "reward":
                stats[f"reward/{dimension}"] = sum(values) / len(values)
        return originals, rewrites, rewards, stats

    # -- training ------------------------------------------------------------------------

    def _token_logps(self, originals: list[str], rewrites: list[str]):
        from prompt_a_video.modules.logprobs import model_token_logps

        rows = [encode_chat(self.tokenizer, self.backbone.messages(o), r, self.hparams.max_length)
                for o, r in zip(originals, rewrites)]
        batch = {k: v.to(self.device) for k, v in pad_batch(rows, self.tokenizer.pad_token_id).items()}
        return batch, model_token_logps(self.model, batch["input_ids"], batch["attention_mask"], batch["labels"])

    def training_step(self, batch, batch_idx):
        originals, rewrites, rewards, stats = self.rollout(list(batch["prompt"]))
        advantages = group_advantages(rewards, self.hparams.group_size, scale=self.hparams.scale_advantages)
        encoded, (logps, mask) = self._token_logps(originals, rewrites)
        ref_logps = None
        if self.hparams.beta > 0:
            from prompt_a_video.modules.logprobs import model_token_logps

            with torch.no_grad(), self.model.disable_adapter():
                ref_logps, _ = model_token_logps(self.model, encoded["input_ids"], encoded["attention_mask"],
                                                 encoded["labels"])
        out = grpo_loss(logps, advantages.to(logps.device), mask, ref_logps=ref_logps, beta=self.hparams.beta,
                        epsilon_low=self.hparams.epsilon_low, epsilon_high=self.hparams.epsilon_high,
                        loss_type=self.hparams.loss_type, max_completion_length=self.hparams.max_new_tokens)
        size = len(rewrites)
        self.log("train/loss", out.loss, prog_bar=True, batch_size=size)
        self.log("train/reward", rewards.mean(), prog_bar=True, batch_size=size)
        self.log("train/reward_std", rewards.view(-1, self.hparams.group_size).std(dim=1).mean(), batch_size=size)
        self.log("train/kl", out.kl.mean(), batch_size=size)
        self.log("train/clip_fraction", out.clip_fraction, batch_size=size)
        self.log("train/completion_tokens", mask.sum(dim=1).float().mean(), batch_size=size)
        for name, value in stats.items():
            self.log(f"train/{name}", value, batch_size=size)
        return out.loss
