"""The quickstart's experiment on real SmolLM2-135M-Instruct weights (slow tier)."""

import json
import math
from pathlib import Path

import pytest

from prompt_a_video import cli

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_smollm2_lora_sft_runs_and_lowers_the_training_loss(smollm2_installed, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # four examples and a batch of four: every step sees the same batch, so the loss on it
    # must fall if the LoRA adapter really trains
    pairs = json.loads((ROOT / "experiments/data/seed_sft_pairs.json").read_text())[:4]
    (tmp_path / "four.json").write_text(json.dumps(pairs))
    assert cli.main([
        "fit", "-c", str(ROOT / "experiments/sft/smollm2-cpu.yaml"),
        "--data.init_args.pools", f"[{tmp_path / 'four.json'}]", "--data.init_args.val_fraction", "0.0",
        "--data.init_args.batch_size", "4", "--trainer.max_steps", "6", "--trainer.log_every_n_steps", "1",
        "--trainer.limit_val_batches", "0", "--trainer.enable_progress_bar", "false",
        "--model.init_args.lr", "2e-3",
    ]) == 0
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    run = client.search_runs([client.get_experiment_by_name("sft").experiment_id])[0]
    losses = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "train/loss"), key=lambda m: m.step)]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
