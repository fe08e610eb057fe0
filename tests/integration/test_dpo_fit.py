"""DPO on tiny random-init LMs: the module's reference and cache, and `pav fit` end to end."""

import math
from pathlib import Path

import pytest
import torch

from prompt_a_video import cli
from prompt_a_video.data import JsonlWriter, PreferencePair
from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec
from prompt_a_video.modules.dpo import DPORefiner
from prompt_a_video.modules.logprobs import sequence_logps

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments/dpo/smollm2-cpu.yaml"
pytestmark = pytest.mark.integration
torch.set_num_threads(1)

SYSTEM = "Rewrite the prompt for a video model."  # short: keeps sequences under 64 tokens
BATCH = {
    "prompt": ["a dog running", "a red car"],
    "chosen": ["A golden dog runs along the beach at sunset.", "A red sports car drives along a coastal road."],
    "rejected": ["a dog", "a car"],
}


def _module(model_dir, **kwargs) -> DPORefiner:
    backbone = CausalLMBackbone(model=str(model_dir), system_prompt=SYSTEM, lora=LoraSpec(r=4, alpha=8))
    module = DPORefiner(backbone, **{"max_length": 128, **kwargs})
    module.configure_model()
    return module


def _logps(model, encoded):
    with torch.no_grad():
        out = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
    return sequence_logps(out.logits, encoded["labels"])[0]


def test_at_step_zero_policy_is_reference_rewards_zero_loss_log2(tiny_llama_dir):
    module = _module(tiny_llama_dir, beta=0.1)
    loss, metrics = module.pair_metrics(BATCH)
    assert loss.item() == pytest.approx(math.log(2), abs=1e-6)
    for name in ("chosen", "rejected", "margins"):
        assert metrics[f"train/rewards/{name}"].item() == pytest.approx(0.0, abs=1e-6)
    assert metrics["train/logps/chosen"].item() < 0 and metrics["train/logps/rejected"].item() < 0
    # the answer-only logits (logits_to_keep) give the same log-probs as the full forward
    encoded = module.encode_pairs(BATCH)
    module.model.eval()
    full = _logps(module.model, encoded)
    assert torch.allclose(module._sequence_logps(module.model, encoded)[0], full, atol=1e-4)
    # only the fresh LoRA trains
    trainable = [n for n, p in module.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_refine_samples_from_the_policy(tiny_llama_dir):
    module = _module(tiny_llama_dir)
    refined = module.refine(["a dog running", "a red car"], n=2, max_new_tokens=4, seed=0)
    assert [len(r) for r in refined] == [2, 2] and all(isinstance(t, str) for r in refined for t in r)
    assert module.model.training  # the fit's mode is restored


def test_nll_term_adds_mean_token_nll_of_chosen(tiny_llama_dir):
    module = _module(tiny_llama_dir, nll_weight=0.5)
    module.model.eval()
    loss, metrics = module.pair_metrics(BATCH)
    encoded = module.encode_pairs(BATCH)
    with torch.no_grad():
        out = module.model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
    logps, counts = sequence_logps(out.logits, encoded["labels"])
    nll = -logps[:2].sum() / counts[:2].sum()
    assert metrics["train/nll"].item() == pytest.approx(nll.item(), rel=1e-4)
    assert loss.item() == pytest.approx(math.log(2) + 0.5 * nll.item(), rel=1e-4)


def test_sft_adapter_is_merged_and_is_the_reference(tiny_llama_dir, tmp_path):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    sft = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir),
                         LoraSpec(r=4, alpha=8, target_modules=["q_proj", "v_proj"]).to_peft())
    torch.manual_seed(1)
    with torch.no_grad():
        for name, weight in sft.named_parameters():
            if "lora_B" in name:  # a fresh adapter is a no-op (B = 0): make it change the model
                weight.normal_(0, 0.5)
    sft.save_pretrained(tmp_path / "sft")
    sft.eval()

    module = _module(tiny_llama_dir, sft_adapter=str(tmp_path / "sft"))
    encoded = module.encode_pairs(BATCH)
    ref_chosen, ref_rejected = module.reference_logps(BATCH, encoded)
    with_sft = _logps(sft, encoded)
    with sft.disable_adapter():
        base = _logps(sft, encoded)
    assert not torch.allclose(with_sft, base, atol=1e-3)  # the SFT adapter matters ...
    assert torch.allclose(torch.cat([ref_chosen, ref_rejected]), with_sft, atol=1e-4)  # ... and is merged
    # the new adapter starts as a no-op on top of the merged SFT model
    _, metrics = module.pair_metrics(BATCH)
    assert metrics["train/rewards/margins"].item() == pytest.approx(0.0, abs=1e-5)


def test_missing_sft_adapter_is_named(tiny_llama_dir, tmp_path):
    backbone = CausalLMBackbone(model=str(tiny_llama_dir))
    module = DPORefiner(backbone, sft_adapter=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="sft_adapter: .*nowhere does not exist"):
        module.configure_model()


def test_explicit_reference_model_is_frozen_and_left_out_of_checkpoints(tiny_llama_dir, tiny_qwen2_dir):
    module = _module(tiny_llama_dir, reference_model=str(tiny_qwen2_dir))
    assert module.reference is not None and not module.reference.training
    assert not any(p.requires_grad for p in module.reference.parameters())
    _, metrics = module.pair_metrics(BATCH)
    assert metrics["train/rewards/margins"].item() != 0.0  # another model: policy != reference
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint["state_dict"] and not any(k.startswith("reference.") for k in checkpoint["state_dict"])
    module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])  # strict: the reference is filled back in


def test_reference_cache_fills_once_then_serves(tiny_llama_dir, tmp_path):
    module = _module(tiny_llama_dir, precompute_reference=True, reference_cache_dir=str(tmp_path))
    encoded = module.encode_pairs(BATCH)
    fresh = module._compute_reference(encoded)
    first = torch.cat(module.reference_logps(BATCH, encoded))
    assert module.reference_cache.misses == 2 and len(module.reference_cache) == 2
    half = {k: v[:1] for k, v in BATCH.items()}  # a batch of one known pair
    again = module.reference_logps(half, module.encode_pairs(half))
    assert module.reference_cache.hits == 1
    assert torch.allclose(first, fresh, atol=1e-4)
    assert again[0].item() == first[0].item() and again[1].item() == first[2].item()
    # other tokenisation settings are other keys
    other = _module(tiny_llama_dir, precompute_reference=True, reference_cache_dir=str(tmp_path), max_length=127)
    other.reference_logps(BATCH, other.encode_pairs(BATCH))
    assert other.reference_cache.hits == 0 and len(other.reference_cache) == 4


# -- `pav fit` -----------------------------------------------------------------------------

def _write_pairs(path: Path) -> Path:
    subjects = ["a dog", "a red car", "a city street", "a cat", "a sailing boat", "a forest", "a child", "a horse"]
    with JsonlWriter(path) as writer:
        for subject in subjects:
            writer.write(PreferencePair(
                prompt=f"{subject} in the rain",
                chosen=f"{subject.capitalize()} in heavy rain at dusk, wet reflections, slow tracking shot.",
                rejected=f"{subject} rain",
                chosen_reward=3.1, rejected_reward=2.7,
            ).to_dict())
    return path


def _base_key(key: str) -> str:
    """Checkpoint key of a PEFT-wrapped weight -> key in the saved base model."""
    return key.removeprefix("model.base_model.model.").replace(".base_layer.", ".")


def test_fit_lowers_the_loss_trains_only_lora_and_logs_dpo_metrics(tiny_llama_dir, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient
    from safetensors.torch import load_file

    pairs = _write_pairs(tmp_path / "pairs.jsonl")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PAV_CACHE_DIR", str(tmp_path / "pav-cache"))  # the experiment caches reference log-probs
    assert cli.main([
        "fit", "-c", str(EXPERIMENT),
        "--model.init_args.backbone.model", str(tiny_llama_dir),
        "--model.init_args.backbone.system_prompt", SYSTEM,
        "--model.init_args.max_length", "128", "--model.init_args.lr", "1e-2",
        "--model.init_args.warmup_steps", "0",
        # 4 training pairs = one batch: every step sees the same batch (overfitting it)
        "--data.init_args.pairs", f"[{pairs}]", "--data.init_args.val_fraction", "0.4",
        "--data.init_args.batch_size", "4",
        "--trainer.max_steps", "6", "--trainer.log_every_n_steps", "1",
        "--trainer.val_check_interval", "1.0", "--trainer.check_val_every_n_epoch", "3",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
    ]) == 0

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    run = client.search_runs([client.get_experiment_by_name("dpo").experiment_id])[0]
    assert run.info.run_name == "fit dpo/smollm2-cpu"

    def history(name):
        return [m.value for m in sorted(client.get_metric_history(run.info.run_id, name), key=lambda m: m.step)]

    losses = history("train/loss")
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    assert losses[0] == pytest.approx(math.log(2), abs=1e-5)  # step 0: policy == reference
    assert history("train/rewards/margins")[0] == pytest.approx(0.0, abs=1e-5)
    assert losses[-1] < losses[0]
    assert history("train/rewards/margins")[-1] > 0
    logged = set(run.data.metrics)
    for stage in ("train", "val"):
        assert {f"{stage}/rewards/{k}" for k in ("chosen", "rejected", "accuracies", "margins")} <= logged
        assert {f"{stage}/logps/chosen", f"{stage}/logps/rejected", f"{stage}/loss"} <= logged

    # the reference log-probs of the 4 training pairs and the validated pairs were cached
    assert (tmp_path / "pav-cache" / "reference-logps" / "reference-logps.sqlite").is_file()

    # base weights untouched, the fresh LoRA trained
    checkpoint = sorted((tmp_path / "runs").rglob("*.ckpt"))[-1]
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    original = load_file(tiny_llama_dir / "model.safetensors")
    base = {_base_key(k): v for k, v in state.items() if "lora_" not in k}
    assert set(original) <= set(base)
    assert all(torch.equal(base[k], v) for k, v in original.items())
    lora_b = [v for k, v in state.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)
