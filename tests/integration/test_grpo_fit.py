"""GRPORefiner on a tiny LLM and the synthetic world: each step samples a group of
rewrites per prompt, renders and scores them, and moves the LoRA weights; the step's
reward, KL and the rest reach the logged metrics."""

import math

import pytest
import torch

pytestmark = pytest.mark.integration


def _module(tiny_llama_dir, **settings):
    from prompt_a_video.generators.synthetic import SyntheticGenerator
    from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec
    from prompt_a_video.modules.grpo import GRPORefiner
    from prompt_a_video.rewards.composite import CompositeReward
    from prompt_a_video.rewards.offline import SceneAlignmentReward, VisualQualityReward

    reward = CompositeReward([VisualQualityReward(), SceneAlignmentReward()], weights={"VQ": 1.0, "TVA": 1.3})
    settings = {"group_size": 3, "max_new_tokens": 12, "use_cache": False, "lr": 1e-3, "max_length": 256,
                **settings}
    return GRPORefiner(CausalLMBackbone(model=str(tiny_llama_dir), lora=LoraSpec(r=4)),
                       SyntheticGenerator(preset="long-cinematic", num_frames=4, height=32, width=32), reward,
                       **settings)


def test_grpo_steps_render_score_and_move_the_adapter(tiny_llama_dir, tmp_path, one_torch_thread):
    from lightning.pytorch import Trainer

    from prompt_a_video.datamodules.prompts import PromptSetDataModule

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog running on the beach\na red car in the city\n")
    module = _module(tiny_llama_dir, beta=0.04)
    module.configure_model()
    before = {n: p.detach().clone() for n, p in module.model.named_parameters() if p.requires_grad}
    trainer = Trainer(max_steps=2, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, accelerator="cpu", devices=1, log_every_n_steps=1)
    trainer.fit(module, PromptSetDataModule(str(prompts), batch_size=2))

    metrics = trainer.callback_metrics
    for name in ("train/loss", "train/reward", "train/reward_std", "train/kl", "train/clip_fraction",
                 "train/completion_tokens", "train/degenerate_rate", "train/reward/VQ", "train/reward/TVA"):
        assert name in metrics and math.isfinite(float(metrics[name])), name
    assert float(metrics["train/kl"]) >= 0 and float(metrics["train/clip_fraction"]) == 0.0  # one update a rollout
    moved = [n for n, p in module.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert moved, "the LoRA weights should move"


def test_a_rollout_gives_each_prompt_a_group_scored_against_its_original(tiny_llama_dir, one_torch_thread):
    module = _module(tiny_llama_dir)
    originals, rewrites, rewards, stats = module.rollout(["a cat sleeping", "a boat at sunset"])
    assert originals == ["a cat sleeping"] * 3 + ["a boat at sunset"] * 3
    assert len(rewrites) == 6 and all(r.strip() for r in rewrites) and rewards.shape == (6,)
    assert torch.isfinite(rewards).all() and 0.0 <= stats["degenerate_rate"] <= 1.0


@pytest.mark.parametrize("setting, value, said", [
    ("group_size", 1, "group_size must be an int >= 2, got 1"),
    ("loss_type", "ppo", "loss_type must be one of"),
    ("beta", -0.1, "beta must be >= 0"),
    ("temperature", -1.0, "temperature must be a number >= 0"),
])
def test_bad_settings_fail_at_construction(tiny_llama_dir, setting, value, said):
    with pytest.raises(ValueError, match=said):
        _module(tiny_llama_dir, **{setting: value})
