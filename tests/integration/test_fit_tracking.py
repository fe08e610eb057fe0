"""`pav fit` end to end on a tiny model: an MLflow run with params, config and metrics,
in mlruns.db of the working directory, and a resumed fit continues the same run."""

from pathlib import Path

import pytest

from prompt_a_video import cli

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _fit(model_dir, *extra):
    return cli.main([
        "fit", "-c", str(ROOT / "experiments/sft/smollm2-cpu.yaml"),
        "--model.init_args.backbone.model", str(model_dir),
        "--data.init_args.pools", f"[{ROOT / 'experiments/data/seed_sft_pairs.json'}]",
        "--model.init_args.max_length", "320",  # the tiny tokenizer spells the longest seed pair in 296 tokens
        "--trainer.val_check_interval", "2", "--trainer.log_every_n_steps", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        *extra,
    ])


def test_fit_logs_run_to_sqlite_in_workdir_and_resume_reuses_it(tiny_llama_dir, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert _fit(tiny_llama_dir, "--trainer.max_steps", "4") == 0

    assert (tmp_path / "mlruns.db").is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    experiment = client.get_experiment_by_name("sft")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == "fit sft/smollm2-cpu"
    params = run.data.params
    assert params["model.backbone.model"] == str(tiny_llama_dir)
    assert params["model.lr"] == "0.0005" and params["trainer.max_steps"] == "4"
    assert {"train/loss", "val/loss"} <= set(run.data.metrics)
    config = Path(client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path / "dl"))).read_text()
    assert "SFTRefiner" in config and "seed_sft_pairs.json" in config

    checkpoints = sorted((tmp_path / "runs").rglob("*.ckpt"))
    assert checkpoints and run.info.run_id in str(checkpoints[-1])
    assert _fit(tiny_llama_dir, "--trainer.max_steps", "6", "--ckpt_path", str(checkpoints[-1])) == 0

    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [run.info.run_id]
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert max(steps) >= 5
    names = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert "config.yaml" in names and any(n.startswith("config-fit-") for n in names)
    # the changed max_steps is kept as a tag, the first value stays the param
    run = client.get_run(run.info.run_id)
    assert run.data.params["trainer.max_steps"] == "4"
    assert run.data.tags["resumed.trainer.max_steps"] == "6"


def test_an_example_longer_than_max_length_is_refused_in_one_line(tiny_llama_dir, tmp_path, monkeypatch, capsys):
    """Never cut: the fit stops before its first step and names the setting and the longest prompt."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    capsys.readouterr()
    assert _fit(tiny_llama_dir, "--trainer.max_steps", "1", "--model.init_args.max_length", "64") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("pav fit: model.init_args.max_length=64 is too short for the train data: its longest "
                          "example (chat prompt + answer) is 296 tokens")
    assert "set max_length >= 296" in err
    assert not list(tmp_path.rglob("*.ckpt"))  # refused before any training step
