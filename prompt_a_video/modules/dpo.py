"""DPO of the refiner on preference pairs (prompt, chosen refinement, rejected refinement).

The policy starts as the SFT model: the SFT LoRA adapter is merged into the base weights,
then a fresh LoRA is trained with the hand-written loss of :mod:`.dpo_loss`. The reference
is that same merged model with the fresh adapter switched off (one copy of the weights),
or an explicitly given model. Chosen and rejected answers go through one forward pass:
each pair's prompt runs once, and the system prompt the pairs share once for the batch
(:mod:`.shared_prompt`); only the answer tokens are scored, their logits a chunk at a time
(:mod:`.logprobs`).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch

from prompt_a_video.modules.backbone import CausalLMBackbone
from prompt_a_video.modules.chat_encoding import encode_chat, pad_batch
from prompt_a_video.modules.dpo_loss import check_dpo_config, dpo_loss
from prompt_a_video.modules.optim import LRSchedule
from prompt_a_video.modules.reference_cache import ReferenceLogpsCache, model_identity
from prompt_a_video.modules.refiner_module import RefinerModule, check_fit_settings
from prompt_a_video.modules.shared_prompt import pair_sequence_logps

_REFERENCE_PREFIX = "reference."


def _adapter_dir(path: str, field: str) -> str:
    if not (Path(path) / "adapter_config.json").is_file():
        what = "does not exist" if not Path(path).exists() else "has no adapter_config.json"
        raise FileNotFoundError(f"model.init_args.{field}: {path} {what}; expected a PEFT adapter folder "
                                f"(what an SFT run exports with save_pretrained)")
    return path


def _is_adapter_dir(path: str) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def load_merged(backbone: CausalLMBackbone, adapter: str | None):
    """The backbone's model without a fresh LoRA, with ``adapter`` merged into its weights."""
    model = replace(backbone, lora=None).load_model()
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model


def _frozen(model):
    model.requires_grad_(False)
    return model.eval()


@contextmanager
def _eval_mode(module):
    # The reference pass runs without dropout (deterministic, so cached values are exact).
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class DPORefiner(RefinerModule):
    """DPO (or IPO / SLiC hinge) fine-tuning of the refiner with a fresh LoRA.

    Args:
        backbone: the base causal LM, its chat prompt and the LoRA spec of the NEW adapter
            (``lora: null`` trains all weights; the reference is then a second frozen copy).
        sft_adapter: PEFT adapter folder exported by SFT; merged into the base before the
            fresh LoRA is added. None starts from the base model.
        reference_model: an explicit reference instead of "policy with adapter off": a model
            folder / asset name / hub id (same tokenizer), or a PEFT adapter folder that is
            merged into the backbone's base. Loaded frozen, in eval mode.
        beta: DPO β (higher keeps the policy closer to the reference).
        loss_type: ``sigmoid`` (DPO; cDPO with label_smoothing), ``ipo`` or ``hinge``.
        label_smoothing: ε of conservative DPO, in [0, 0.5); ``sigmoid`` only.
        nll_weight: weight of an extra NLL term on the chosen answer (mean per answer token).
        lr, weight_decay, warmup_steps: AdamW (lr > 0, weight decay >= 0), linear warm-up
            (>= 0 steps) then cosine decay, unless ``schedule`` says otherwise.
        max_length: tokens per sequence (prompt + answer); an example that does not fit is refused
            before the fit starts (never cut; ``chat_encoding.check_examples_fit``).
        precompute_reference: cache reference log-probs on disk by pair and settings (see
            :mod:`.reference_cache`); filled lazily, batch by batch, during the first epoch,
            then read back in later epochs and reruns instead of running the reference.
        reference_cache_dir: folder of that cache; default ``<pav cache>/reference-logps``.
        schedule: the learning-rate schedule, by class_path (default ``WarmupCosine`` with
            ``warmup_steps``; the paper's DPO: ``WarmupLinear`` with warmup_ratio 0.1).

    ``refine(prompts, n)`` (from :class:`RefinerModule`) samples from the policy.
    """

    answer_fields = ("chosen", "rejected")

    def __init__(self, backbone: CausalLMBackbone, sft_adapter: str | None = None,
                 reference_model: str | None = None, beta: float = 0.1, loss_type: str = "sigmoid",
                 label_smoothing: float = 0.0, nll_weight: float = 0.0, lr: float = 5e-6,
                 weight_decay: float = 0.0, warmup_steps: int = 0, max_length: int = 512,
                 precompute_reference: bool = False, reference_cache_dir: str | None = None,
                 schedule: LRSchedule | None = None) -> None:
        super().__init__(backbone)
        # Fail on a bad setting at instantiation, before any weights load.
        check_dpo_config(beta, loss_type, label_smoothing)
        if nll_weight < 0:
            raise ValueError(f"model.init_args.nll_weight must be >= 0, got {nll_weight!r}")
        check_fit_settings(lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, max_length=max_length)
        self.save_hyperparameters()
        self.reference = None  # a separate reference model; None = the policy with its adapter off
        self._cache: ReferenceLogpsCache | None = None

    # -- models -------------------------------------------------------------------------

    def configure_model(self) -> None:
        if self.model is not None:
            return
        if self.hparams.sft_adapter is not None:
            _adapter_dir(self.hparams.sft_adapter, "sft_adapter")  # before minutes of weight loading
        policy = load_merged(self.backbone, self.hparams.sft_adapter)
        if self.backbone.lora is not None:
            from peft import get_peft_model

            if self.backbone.gradient_checkpointing:
                policy.enable_input_require_grads()
            policy = get_peft_model(policy, self.backbone.lora.to_peft())
        # from_pretrained returns eval mode, and Lightning keeps each module's mode as it
        # finds it: without this, dropout (LoRA's included) stays off in training.
        self.model = policy.train()
        reference_source = self._reference_source()
        if reference_source is not None:
            self.reference = _frozen(load_merged(*reference_source))

    def _reference_source(self) -> tuple[CausalLMBackbone, str | None] | None:
        """(backbone, adapter) to load a separate reference from; None = adapter switched off."""
        plain = replace(self.backbone, lora=None, gradient_checkpointing=False)
        ref = self.hparams.reference_model
        if ref is None:
            return None if self.backbone.lora is not None else (plain, self.hparams.sft_adapter)
        if _is_adapter_dir(ref):
            return plain, ref
        return replace(plain, model=ref), None

    def reference_identity(self) -> dict:
        """Path, weight-file stats, dtype and merged adapter of the reference (cache keys)."""
        backbone, adapter = self._reference_source() or (self.backbone, self.hparams.sft_adapter)
        return model_identity(backbone.path(), backbone.dtype, adapter)

    @property
    def reference_cache(self) -> ReferenceLogpsCache:
        if self._cache is None:
            from prompt_a_video.assets import cache_dir

            folder = self.hparams.reference_cache_dir or cache_dir() / "reference-logps"
            settings = {
                "reference": self.reference_identity(),
                "max_length": self.hparams.max_length,
                "chat_template": self.tokenizer.chat_template,
                "system_prompt": self.backbone.system_prompt,
                "user_template": self.backbone.user_template,
                "attn_implementation": self.backbone.attn_implementation,
                # autocast (bf16-mixed) shifts the log-probs too
                "precision": None if self._trainer is None else str(self._trainer.precision),
            }
            self._cache = ReferenceLogpsCache(folder, settings)
        return self._cache

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # A separate reference is frozen and rebuilt by configure_model: not worth its GBs.
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(_REFERENCE_PREFIX)]:
            del state[key]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.reference is not None:
            checkpoint["state_dict"].update(
                {_REFERENCE_PREFIX + k: v for k, v in self.reference.state_dict().items()})

    # -- log-probs ----------------------------------------------------------------------

    def encode_pairs(self, batch: dict[str, list[str]]) -> dict[str, torch.Tensor]:
        """Tokenise ``{"prompt", "chosen", "rejected"}`` into ``[2B, T]``: chosen rows, then rejected."""
        missing = {"prompt", "chosen", "rejected"} - set(batch)
        if missing:
            raise KeyError(f"DPO batch lacks {sorted(missing)}; expected text lists prompt/chosen/rejected")
        prompts, chosen, rejected = batch["prompt"], batch["chosen"], batch["rejected"]
        if not len(prompts) == len(chosen) == len(rejected):
            raise ValueError(f"DPO batch lists differ in length: {len(prompts)}, {len(chosen)}, {len(rejected)}")
        rows = [encode_chat(self.tokenizer, self.backbone.messages(p), a, self.hparams.max_length)
                for p, a in zip(prompts + prompts, list(chosen) + list(rejected))]
        return {k: v.to(self.device) for k, v in pad_batch(rows, self.tokenizer.pad_token_id).items()}

    @staticmethod
    def _sequence_logps(model, encoded: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logps, counts)`` ``[2B]`` of the answer tokens under ``model``.

        Each pair's prompt is run once for both answers (:func:`.shared_prompt.pair_sequence_logps`),
        and logits exist only for the answer positions, a chunk at a time, recomputed in
        backward: the ``[2B, T, V]`` lm_head output would otherwise be the largest
        activation of the step.
        """
        return pair_sequence_logps(model, encoded["input_ids"], encoded["attention_mask"], encoded["labels"])

    @torch.no_grad()
    def _compute_reference(self, encoded: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.reference is not None:
            return self._sequence_logps(self.reference.eval(), encoded)[0]
        with self.model.disable_adapter(), _eval_mode(self.model):
            return self._sequence_logps(self.model, encoded)[0]

    def reference_logps(self, batch: dict[str, list[str]],
                        encoded: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference ``(chosen, rejected)`` log-probs ``[B]``, from the disk cache when enabled."""
        n = len(batch["prompt"])
        if not self.hparams.precompute_reference:
            logps = self._compute_reference(encoded)
            return logps[:n], logps[n:]
        cache = self.reference_cache
        keys = [cache.key(*texts) for texts in zip(batch["prompt"], batch["chosen"], batch["rejected"])]
        found = cache.get_many(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        if missing:
            rows = torch.tensor(missing + [n + i for i in missing], device=self.device)
            logps = self._compute_reference({k: v[rows] for k, v in encoded.items()}).tolist()
            new = {keys[i]: (logps[j], logps[len(missing) + j]) for j, i in enumerate(missing)}
            cache.put_many(new)
            found.update(new)
        values = torch.tensor([found[key] for key in keys], dtype=torch.float32, device=self.device)
        return values[:, 0], values[:, 1]

    # -- loss and steps -----------------------------------------------------------------

    def pair_metrics(self, batch: dict[str, list[str]], stage: str = "train") -> tuple[torch.Tensor, dict]:
        """The batch loss and the logged metrics (means over pairs), named ``<stage>/...``."""
        n = len(batch["prompt"])
        encoded = self.encode_pairs(batch)
        logps, counts = self._sequence_logps(self.model, encoded)
        ref_chosen, ref_rejected = self.reference_logps(batch, encoded)
        losses, chosen_rewards, rejected_rewards = dpo_loss(
            logps[:n], logps[n:], ref_chosen, ref_rejected, beta=self.hparams.beta,
            loss_type=self.hparams.loss_type, label_smoothing=self.hparams.label_smoothing)
        loss = losses.mean()
        metrics = {}
        if self.hparams.nll_weight > 0:
            nll = -logps[:n].sum() / counts[:n].sum().clamp(min=1)
            loss = loss + self.hparams.nll_weight * nll
            metrics[f"{stage}/nll"] = nll.detach()
        metrics.update({
            f"{stage}/loss": loss,
            f"{stage}/rewards/chosen": chosen_rewards.mean(),
            f"{stage}/rewards/rejected": rejected_rewards.mean(),
            f"{stage}/rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean(),
            f"{stage}/rewards/margins": (chosen_rewards - rejected_rewards).mean(),
            f"{stage}/logps/chosen": logps[:n].detach().mean(),
            f"{stage}/logps/rejected": logps[n:].detach().mean(),
        })
        return loss, metrics

    def training_step(self, batch, batch_idx):
        loss, metrics = self.pair_metrics(batch, "train")
        metrics = {k: v.detach() for k, v in metrics.items()}
        self.log("train/loss", metrics.pop("train/loss"), prog_bar=True, batch_size=len(batch["prompt"]))
        self.log_dict(metrics, batch_size=len(batch["prompt"]))
        return loss

    def validation_step(self, batch, batch_idx):
        _, metrics = self.pair_metrics(batch, "val")
        self.log("val/loss", metrics.pop("val/loss"), prog_bar=True, sync_dist=True, batch_size=len(batch["prompt"]))
        self.log_dict(metrics, sync_dist=True, batch_size=len(batch["prompt"]))
