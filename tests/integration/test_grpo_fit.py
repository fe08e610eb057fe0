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
                      enable_checkpointing=False, accelerator="cpu", devices=1, log_every_n_steps=1,
                      default_root_dir=str(tmp_path / "fit"))  # its rollouts.jsonl goes there, not to the cwd
    trainer.fit(module, PromptSetDataModule(str(prompts), batch_size=2))

    metrics = trainer.callback_metrics
    for name in ("train/loss", "train/reward", "train/reward_std", "train/kl", "train/clip_fraction",
                 "train/entropy", "train/completion_tokens", "train/degenerate_rate", "train/reward/VQ",
                 "train/reward/TVA", "perf/sample_s", "perf/score_s", "perf/update_s"):
        assert name in metrics and math.isfinite(float(metrics[name])), name
    assert float(metrics["train/kl"]) >= 0 and float(metrics["train/clip_fraction"]) == 0.0  # one update a rollout
    moved = [n for n, p in module.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert moved, "the LoRA weights should move"


def test_a_rollout_gives_each_prompt_a_group_scored_against_its_original(tiny_llama_dir, one_torch_thread):
    module = _module(tiny_llama_dir)
    rollout = module.rollout(["a cat sleeping", "a boat at sunset"])
    assert rollout.originals == ["a cat sleeping"] * 3 + ["a boat at sunset"] * 3
    assert len(rollout.rewrites) == 6 and all(r.strip() for r in rollout.rewrites) and rollout.rewards.shape == (6,)
    assert torch.isfinite(rollout.rewards).all() and 0.0 <= rollout.stats["degenerate_rate"] <= 1.0
    assert len(rollout.scores) == 6 and all("TVA" in s for s in rollout.scores)


def test_several_updates_reuse_one_rollout_with_the_clipped_ratio(tiny_llama_dir, tmp_path, one_torch_thread):
    """updates_per_rollout=2: 4 optimizer steps sample twice; the reused steps train against
    the sampling policy's log-probs, and each fresh rollout is written to rollouts.jsonl."""
    import json

    from lightning.pytorch import Trainer

    from prompt_a_video.datamodules.prompts import PromptSetDataModule

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog running on the beach\na red car in the city\n")
    module = _module(tiny_llama_dir, updates_per_rollout=2, table_every_n_steps=1, lr=5e-2)
    sampled, old_given = [], []
    rollout, loss = module.rollout, __import__("prompt_a_video.modules.grpo_loss", fromlist=["x"]).grpo_loss

    def counting_rollout(batch_prompts):
        sampled.append(list(batch_prompts))
        return rollout(batch_prompts)

    module.rollout = counting_rollout
    import prompt_a_video.modules.grpo as grpo_module

    def recording_loss(*args, **kwargs):
        old_given.append(kwargs.get("old_logps") is not None)
        return loss(*args, **kwargs)

    original_loss = grpo_module.grpo_loss
    grpo_module.grpo_loss = recording_loss
    try:
        trainer = Trainer(max_steps=4, logger=False, enable_progress_bar=False, enable_model_summary=False,
                          enable_checkpointing=False, accelerator="cpu", devices=1, log_every_n_steps=1,
                          default_root_dir=str(tmp_path / "fit"))
        trainer.fit(module, PromptSetDataModule(str(prompts), batch_size=1))
    finally:
        grpo_module.grpo_loss = original_loss
    assert len(sampled) == 2 and old_given == [True] * 4
    assert math.isfinite(float(trainer.callback_metrics["train/entropy"]))
    assert float(trainer.callback_metrics["train/entropy"]) > 0
    rows = [json.loads(line) for line in (tmp_path / "fit" / "rollouts.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 0, 0, 2, 2, 2]
    assert {"original", "rewrite", "reward", "advantage", "TVA", "passes_floors"} <= set(rows[0])
    assert rows[0]["original"] == sampled[0][0] and all(r["rewrite"] for r in rows)


def test_reused_rollouts_cannot_be_accumulated(tiny_llama_dir, tmp_path):
    from lightning.pytorch import Trainer

    from prompt_a_video.datamodules.prompts import PromptSetDataModule

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog running on the beach\n")
    trainer = Trainer(max_steps=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, accelerator="cpu", devices=1, accumulate_grad_batches=2)
    with pytest.raises(ValueError, match="updates_per_rollout > 1 with trainer.accumulate_grad_batches > 1"):
        trainer.fit(_module(tiny_llama_dir, updates_per_rollout=2), PromptSetDataModule(str(prompts), batch_size=1))


@pytest.mark.parametrize("setting, value, said", [
    ("group_size", 1, "group_size must be an int >= 2, got 1"),
    ("loss_type", "ppo", "loss_type must be one of"),
    ("beta", -0.1, "beta must be >= 0"),
    ("updates_per_rollout", 0, "updates_per_rollout must be an int >= 1, got 0"),
    ("table_every_n_steps", -1, "table_every_n_steps must be an int >= 0, got -1"),
    ("temperature", -1.0, "temperature must be a number >= 0"),
])
def test_bad_settings_fail_at_construction(tiny_llama_dir, setting, value, said):
    with pytest.raises(ValueError, match=said):
        _module(tiny_llama_dir, **{setting: value})


def test_a_grpo_fit_killed_with_sigkill_continues_its_mlflow_run_from_last_ckpt(tiny_llama_dir, tmp_path):
    """kill -9 mid-run (no handler runs): `pav fit --ckpt_path last.ckpt` continues the same
    MLflow run from the step the checkpoint holds, and the run ends FINISHED."""
    import signal
    import subprocess

    import torch

    from tests.integration.test_stop_on_signal import PAV, ROOT, _env, _metric_rows, _runs, _start_and_signal

    (tmp_path / "prompts.txt").write_text("a dog running on the beach\na red car in the city\n")

    def args(max_steps: int, *extra: str) -> list[str]:
        return [*PAV, "fit", "-c", str(ROOT / "experiments/grpo/smollm2-cpu.yaml"),
                "--model.init_args.backbone.model", str(tiny_llama_dir), "--model.init_args.group_size", "2",
                "--model.init_args.max_new_tokens", "8", "--model.init_args.max_length", "256",
                "--model.init_args.generator.init_args.num_frames", "4",
                "--model.init_args.generator.init_args.height", "32", "--model.init_args.generator.init_args.width",
                "32", "--data.init_args.prompts", "prompts.txt", "--data.init_args.batch_size", "1",
                "--trainer.max_steps", str(max_steps), "--trainer.enable_progress_bar", "false",
                "--trainer.enable_model_summary", "false", *extra]

    def last_checkpoint():
        found = list((tmp_path / "runs").rglob("last.ckpt")) if (tmp_path / "runs").is_dir() else []
        return found[0] if found else None

    db = tmp_path / "mlruns.db"
    # two steps past the step-5 checkpoint, so last.ckpt is whole when the kill lands
    code, _, err = _start_and_signal(args(100_000), tmp_path, lambda: _metric_rows(db, "train/reward") >= 7,
                                     signal.SIGKILL)
    assert code == -signal.SIGKILL, err
    [run] = _runs(db)
    assert run["status"] == "RUNNING"  # nothing ran to close it
    checkpoint = last_checkpoint()
    at = torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]
    assert at >= 5 and at % 5 == 0
    resumed = subprocess.run(args(at + 2, "--ckpt_path", str(checkpoint)), cwd=tmp_path, env=_env(tmp_path),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert _runs(db) == [{**run, "status": "FINISHED"}]
    from mlflow.tracking import MlflowClient

    steps = [m.step for m in MlflowClient(f"sqlite:///{db}").get_metric_history(run["id"], "train/reward")]
    assert max(steps) == at + 1 and at in steps
    # and the checkpoint exports as every fit's does (no generator or reward needed to rebuild it)
    exported = subprocess.run([*PAV, "export", "--ckpt_path", str(last_checkpoint()), "--out", "export"],
                              cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "export" / "refiner.json").is_file() and (tmp_path / "export" / "merged").is_dir()
