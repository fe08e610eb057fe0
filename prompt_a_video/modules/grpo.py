"""Online RL of the refiner: GRPO with the render-and-score reward in the training loop.

Each training step takes a batch of user prompts and, for each, samples ``group_size``
rewrites from the current policy, renders and scores every rewrite against its ORIGINAL
prompt through the :class:`~prompt_a_video.scoring.ScoringEngine` (cached: a rewrite seen
before is never rendered twice), turns the rewards into group-relative advantages and
takes a GRPO step (:mod:`.grpo_loss`). The reference, when ``beta > 0``, is the policy
with its LoRA adapter switched off: the SFT model the adapter was added to, one copy of
the weights.

``updates_per_rollout`` (``mu`` in DeepSeekMath's algorithm 1, TRL's ``num_iterations``)
> 1 reuses a rollout for that many optimizer steps: the first computes the log-probs of
the sampling policy (``old_logps``), the later ones train on the same rewrites with the
clipped ratio ``pi / pi_old``; their dataloader batches are not used (a step trains on one
rollout, never on two). The reference log-probs are computed once per rollout.

A rewrite that fails to render or score, or fails the reward's floors (the text-quality
and intent floors among them), gets the lowest reward of its batch: degenerate text can
never buy reward. Prompts come from a :class:`~prompt_a_video.datamodules.prompts.PromptSetDataModule`.

Every ``table_every_n_steps`` steps the step's rollout (prompt, rewrite, reward, scores,
advantage) goes to the MLflow run as a table (``rollouts/step000010.json``) and to
``rollouts.jsonl`` in the fit's folder, so what the policy writes can be read as it trains.

The rewrites are scored as text and re-encoded for the loss (``encode_chat``, as in SFT),
so the loss sees exactly the text the reward judged; the sampled ids can differ where
:func:`~prompt_a_video.refiner.generation.clean_refinement` removed a label or quotes, or
where decoding and encoding again tokenise differently (bytes that are not UTF-8 decode to
U+FFFD, several tokens each), and the answer's end-of-turn token is the template's.
A group's rewrites share their prompt (~100 of ~150 tokens a row for the refiner), so it
runs once per group: sampling prefills it once (``refine_with``), and the loss's
log-probs pack each group into one row behind it (:func:`~prompt_a_video.modules.shared_prompt.grouped_token_logps`).
Rendering does not overlap sampling: on CPU both would share the same cores, and the step
logs how its time splits (``perf/sample_s``, ``perf/score_s``, ``perf/update_s``).
"""

from __future__ import annotations

import json
import logging
import math
import time
import zlib
from dataclasses import dataclass

import torch

from prompt_a_video.data.validation import is_count
from prompt_a_video.generators.base import Generator
from prompt_a_video.modules.backbone import CausalLMBackbone
from prompt_a_video.modules.chat_encoding import encode_chat, pad_batch
from prompt_a_video.modules.grpo_loss import LOSS_TYPES, group_advantages, grpo_loss
from prompt_a_video.modules.optim import LRSchedule
from prompt_a_video.modules.refiner_module import RefinerModule, check_fit_settings
from prompt_a_video.rewards.base import Reward

log = logging.getLogger(__name__)


class GRPORefiner(RefinerModule):
    """GRPO of a refiner against a backbone and a reward set.

    Args:
        backbone: the policy LLM (e.g. the merged SFT model) and the LoRA spec of the
            adapter GRPO trains.
        generator: the text-to-video backbone the rewrites are rendered with, by class_path.
            Required to train; None only to rebuild a checkpoint for export or refining
            (`pav export`: they are not stored in the checkpoint's hyperparameters).
        reward: the reward set (a ``CompositeReward`` with an aggregate ``reward``), by
            class_path; required to train, as ``generator``.
        group_size: rewrites sampled per prompt, ``G`` (>= 2).
        beta: weight of the k3 KL to the reference (0: none, and no reference forward).
        kl_importance_weighted: the KL term times the ratio (DeepSeek-V3.2's unbiased KL
            gradient, TRL's default; see :func:`.grpo_loss.grpo_loss`); False: the plain
            k3 of DeepSeekMath.
        epsilon_low, epsilon_high: the ratio's clip range (see :func:`.grpo_loss.grpo_loss`).
        loss_type: ``grpo``, ``dapo`` or ``dr_grpo``.
        scale_advantages: divide by the group's std (False: Dr. GRPO).
        temperature, top_p, max_new_tokens: sampling of the rollouts.
        updates_per_rollout: optimizer steps per rollout (``mu``; > 1 turns on the clipped
            ratio against the sampling policy).
        seeds: render seeds; a rewrite's reward is its mean over them (default ``[0]``).
        render_batch_size: videos per generate/score call (None: all of a step's).
        use_cache: go through the render-and-score cache.
        table_every_n_steps: log the step's rollout as a table every this many steps (0: never).
        lr, weight_decay, warmup_steps, max_length, schedule: as the other refiner modules.
    """

    answer_fields = ()

    def __init__(self, backbone: CausalLMBackbone, generator: Generator | None = None, reward: Reward | None = None,
                 group_size: int = 4, beta: float = 0.0, kl_importance_weighted: bool = False,
                 epsilon_low: float = 0.2, epsilon_high: float | None = None, loss_type: str = "grpo",
                 scale_advantages: bool = True, updates_per_rollout: int = 1,
                 temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 128,
                 seeds: list[int] | None = None, render_batch_size: int | None = None, use_cache: bool = True,
                 table_every_n_steps: int = 10, lr: float = 1e-5,
                 weight_decay: float = 0.0, warmup_steps: int = 0, max_length: int = 512,
                 schedule: LRSchedule | None = None) -> None:
        super().__init__(backbone)
        from prompt_a_video.data.prompts import check_seeds
        from prompt_a_video.refiner.generation import check_sampling

        check_fit_settings(lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, max_length=max_length)
        check_sampling(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
        if not is_count(group_size, 2):
            raise ValueError(f"model.init_args.group_size must be an int >= 2, got {group_size!r}")
        if not is_count(updates_per_rollout, 1):
            raise ValueError(f"model.init_args.updates_per_rollout must be an int >= 1, got {updates_per_rollout!r}")
        if not is_count(table_every_n_steps, 0):
            raise ValueError(f"model.init_args.table_every_n_steps must be an int >= 0, got {table_every_n_steps!r}")
        if loss_type not in LOSS_TYPES:
            raise ValueError(f"model.init_args.loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
        if not beta >= 0:
            raise ValueError(f"model.init_args.beta must be >= 0, got {beta!r}")
        if reward is not None and "reward" not in tuple(reward.dimensions):
            raise ValueError(f"model.init_args.reward: {type(reward).__name__} gives no aggregate 'reward'; "
                             "use a CompositeReward")
        self.seeds = check_seeds(seeds, "model.init_args.seeds")
        self.save_hyperparameters(ignore=["generator", "reward"])
        self.generator, self.reward = generator, reward
        self._engine = None
        self._rollout: Rollout | None = None

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

    def rollout(self, prompts: list[str]) -> Rollout:
        """Sample ``G`` rewrites per prompt, render and score them.

        Returns a :class:`Rollout` of ``N = len(prompts) x G`` rewrites (a prompt's next to
        each other) with their rewards, failures and floor failures at the batch's lowest
        reward, each rewrite's scores, and the step's means and timings in ``stats``.
        """
        from prompt_a_video.scoring import Item, average_over_seeds

        group = self.hparams.group_size
        seed = zlib.crc32(f"{self.global_step}\n{chr(10).join(prompts)}".encode()) & 0x7FFFFFFF
        started = time.perf_counter()
        texts = self.refine(prompts, n=group, temperature=self.hparams.temperature, top_p=self.hparams.top_p,
                            max_new_tokens=self.hparams.max_new_tokens, seed=seed)
        sampled = time.perf_counter()
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
        stats = {"degenerate_rate": 1.0 - sum(good) / len(good),
                 "perf/sample_s": sampled - started, "perf/score_s": time.perf_counter() - sampled}
        for dimension in self.reward.dimensions:
            values = [r.scores.get(dimension) for r, ok in zip(raw, good) if ok]
            values = [v for v in values if v is not None and math.isfinite(v)]
            if values and dimension != "reward":
                stats[f"reward/{dimension}"] = sum(values) / len(values)
        scores = [{**r.scores, "passes_floors": r.passes_floors, "failed": r.failed} for r in raw]
        return Rollout(originals, rewrites, rewards, stats, scores)

    # -- training ------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        if self.generator is None or self.reward is None:
            missing = " and ".join(n for n in ("generator", "reward") if getattr(self, n) is None)
            raise ValueError(f"model.init_args.{missing}: GRPO renders and scores its rollouts, so training needs "
                             "both (by class_path); only export and refining work without them")
        if self.hparams.updates_per_rollout > 1 and self.trainer.accumulate_grad_batches > 1:
            raise ValueError("model.init_args.updates_per_rollout > 1 with trainer.accumulate_grad_batches > 1: "
                             "a rollout is reused across optimizer steps, so its batches cannot be accumulated; "
                             "raise data.init_args.batch_size instead")

    def _encode(self, originals: list[str], rewrites: list[str]) -> dict[str, torch.Tensor]:
        rows = [encode_chat(self.tokenizer, self.backbone.messages(o), r, self.hparams.max_length)
                for o, r in zip(originals, rewrites)]
        return {k: v.to(self.device) for k, v in pad_batch(rows, self.tokenizer.pad_token_id).items()}

    def _logps(self, encoded: dict[str, torch.Tensor], entropy: bool = False):
        """Per-token log-probs of a rollout's rewrites, each group's prompt run once
        (:func:`~prompt_a_video.modules.shared_prompt.grouped_token_logps`)."""
        from prompt_a_video.modules.shared_prompt import grouped_token_logps

        return grouped_token_logps(self.model, encoded["input_ids"], encoded["attention_mask"], encoded["labels"],
                                   self.hparams.group_size, entropy=entropy)

    def new_rollout(self, prompts: list[str]) -> Rollout:
        """Sample, render and score a batch of prompts; the fixed log-probs it needs."""
        started = time.perf_counter()
        rollout = self.rollout(prompts)
        encoded = self._encode(rollout.originals, rollout.rewrites)
        old = ref = None
        with torch.no_grad():
            if self.hparams.updates_per_rollout > 1:
                old = self._logps(encoded).logps
            if self.hparams.beta > 0:
                with self.model.disable_adapter():
                    ref = self._logps(encoded).logps
        advantages = group_advantages(rollout.rewards, self.hparams.group_size, scale=self.hparams.scale_advantages)
        rollout.advantages, rollout.encoded = advantages.to(self.device), encoded
        rollout.old_logps, rollout.ref_logps = old, ref
        rollout.stats["perf/rollout_s"] = time.perf_counter() - started
        return rollout

    def training_step(self, batch, batch_idx):
        if self._rollout is None or self._rollout.uses >= self.hparams.updates_per_rollout:
            self._rollout = self.new_rollout(list(batch["prompt"]))
        rollout = self._rollout
        fresh = rollout.uses == 0
        rollout.uses += 1
        started = time.perf_counter()
        logps, mask, entropy = self._logps(rollout.encoded, entropy=True)
        out = grpo_loss(logps, rollout.advantages, mask, old_logps=rollout.old_logps, ref_logps=rollout.ref_logps,
                        beta=self.hparams.beta, epsilon_low=self.hparams.epsilon_low,
                        epsilon_high=self.hparams.epsilon_high, loss_type=self.hparams.loss_type,
                        max_completion_length=self.hparams.max_new_tokens,
                        kl_importance_weighted=self.hparams.kl_importance_weighted)
        size = len(rollout.rewrites)
        tokens = mask.sum().clamp_min(1)
        self.log("train/loss", out.loss, prog_bar=True, batch_size=size)
        self.log("train/reward", rollout.rewards.mean(), prog_bar=True, batch_size=size)
        self.log("train/reward_std", rollout.rewards.view(-1, self.hparams.group_size).std(dim=1).mean(),
                 batch_size=size)
        self.log("train/kl", out.kl.mean(), batch_size=size)
        self.log("train/clip_fraction", out.clip_fraction, batch_size=size)
        self.log("train/entropy", entropy.sum() / tokens, batch_size=size)
        self.log("train/completion_tokens", mask.sum(dim=1).float().mean(), batch_size=size)
        for name, value in rollout.stats.items():
            self.log(name if name.startswith("perf/") else f"train/{name}", value, batch_size=size)
        if fresh and self.hparams.table_every_n_steps and self.global_step % self.hparams.table_every_n_steps == 0:
            self.log_rollout_table(rollout)
        self._update_started = started
        return out.loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        # backward and the optimizer step ran after training_step returned
        self.log("perf/update_s", time.perf_counter() - self._update_started, batch_size=1)

    def rollout_table(self, rollout: Rollout) -> dict[str, list]:
        """Columns of a step's rollout table: one row per rewrite."""
        table: dict[str, list] = {"step": [self.global_step] * len(rollout.rewrites),
                                  "original": list(rollout.originals), "rewrite": list(rollout.rewrites),
                                  "reward": [round(float(r), 4) for r in rollout.rewards],
                                  "advantage": [round(float(a), 4) for a in rollout.advantages]}
        for dimension in self.reward.dimensions:
            if dimension != "reward":
                table[dimension] = [_rounded(s.get(dimension)) for s in rollout.scores]
        table["passes_floors"] = [s.get("passes_floors") for s in rollout.scores]
        return table

    def log_rollout_table(self, rollout: Rollout) -> None:
        """The rollout as an MLflow table and as lines of ``rollouts.jsonl`` (rank 0)."""
        if self.trainer.global_rank != 0:
            return
        from pathlib import Path

        from prompt_a_video.callbacks.mlflow_config import mlflow_loggers

        table = self.rollout_table(rollout)
        path = Path(self.trainer.default_root_dir) / "rollouts.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            for i in range(len(rollout.rewrites)):
                out.write(json.dumps({k: v[i] for k, v in table.items()}, ensure_ascii=False) + "\n")
        for logger in mlflow_loggers(self.trainer):
            try:
                logger.experiment.log_table(logger.run_id, data=table,
                                            artifact_file=f"rollouts/step{self.global_step:06d}.json")
            except Exception as err:  # a tracking hiccup must not end a training
                log.warning("could not log the rollout table to MLflow: %s", err)


@dataclass
class Rollout:
    """One step's sampled rewrites and what the loss needs of them (``N = prompts x G``).

    Attributes:
        originals, rewrites: ``N`` strings, a prompt's group next to each other.
        rewards: ``float [N]`` (failures and floor failures at the batch's lowest).
        stats: the step's reward means and timings, logged as ``train/...`` and ``perf/...``.
        scores: each rewrite's scores, ``passes_floors`` and ``failed``.
        advantages: ``float [N]`` group-relative (set by :meth:`GRPORefiner.new_rollout`).
        encoded: the chat-encoded rewrites (``input_ids``, ``attention_mask``, ``labels`` ``[N, T]``).
        old_logps: ``float [N, T-1]`` under the sampling policy (None: one update per rollout).
        ref_logps: ``float [N, T-1]`` under the reference (None: ``beta = 0``).
        uses: optimizer steps taken on it so far.
    """

    originals: list[str]
    rewrites: list[str]
    rewards: torch.Tensor
    stats: dict[str, float]
    scores: list[dict]
    advantages: torch.Tensor | None = None
    encoded: dict[str, torch.Tensor] | None = None
    old_logps: torch.Tensor | None = None
    ref_logps: torch.Tensor | None = None
    uses: int = 0


def _rounded(value):
    return round(float(value), 4) if isinstance(value, (int, float)) and math.isfinite(value) else None
