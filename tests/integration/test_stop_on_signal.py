"""SIGTERM and SIGINT, as a scheduler or a person sends them, to real `pav` processes.

A stopped fit saves a checkpoint at a step boundary, ends its MLflow run KILLED, says so
in one line and exits 143 (SIGTERM) / 130 (SIGINT); `--ckpt_path` continues the same run.
A stopped pipeline leaves its stage resumable and its runs KILLED; the rerun finishes.
A stopped non-fit stage closes its run KILLED and keeps its records.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_pipeline import DPO, EVAL, PIPELINE, SOURCES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PAV = [sys.executable, "-m", "prompt_a_video.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(OMP_NUM_THREADS="1", PAV_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    return env


def _metric_rows(db: Path, key: str) -> int:
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as connection:
            return connection.execute("SELECT count(*) FROM metrics WHERE key = ?", (key,)).fetchone()[0]
    except sqlite3.Error:  # the store is being created
        return 0


def _start_and_signal(args: list[str], cwd: Path, ready, signum: int, timeout: float = 240):
    """Run ``pav ARGS``, send ``signum`` once ``ready()`` is true; (exit status, stderr)."""
    process = subprocess.Popen(args, cwd=cwd, env=_env(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"pav ended (status {process.returncode}) before the signal:\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("pav never reached the point to signal")
        time.sleep(0.1)
    process.send_signal(signum)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def _runs(db: Path) -> list[dict]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    runs = [run for experiment in client.search_experiments() for run in client.search_runs([experiment.experiment_id])]
    return [{"id": r.info.run_id, "name": r.info.run_name, "status": r.info.status} for r in runs]


def _fit_args(model_dir: Path, max_steps: int, *extra: str) -> list[str]:
    return [*PAV, "fit", "-c", str(ROOT / "experiments/sft/smollm2-cpu.yaml"),
            "--model.init_args.backbone.model", str(model_dir),
            "--data.init_args.pools", f"[{ROOT / 'experiments/data/seed_sft_pairs.json'}]",
            "--model.init_args.max_length", "320",
            "--trainer.max_steps", str(max_steps), "--trainer.max_epochs", "-1", "--trainer.log_every_n_steps", "1",
            "--trainer.val_check_interval", "1000", "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", *extra]


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signalled_fit_checkpoints_ends_killed_and_resumes_the_same_run(tiny_llama_dir, tmp_path, signum,
                                                                          status):
    db = tmp_path / "mlruns.db"
    code, _, err = _start_and_signal(_fit_args(tiny_llama_dir, 100_000), tmp_path,
                                     lambda: _metric_rows(db, "train/loss") >= 2, signum)

    assert code == status, err
    last = err.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert last.startswith(f"pav fit: stopped by {name} at step "), err
    assert "Traceback" not in err
    checkpoints = list((tmp_path / "runs").rglob("interrupted.ckpt"))
    assert len(checkpoints) == 1 and str(checkpoints[0].relative_to(tmp_path)) in last
    [run] = _runs(db)
    assert run["status"] == "KILLED"

    import torch

    stopped_at = torch.load(checkpoints[0], map_location="cpu", weights_only=False)["global_step"]
    assert stopped_at >= 2
    if signum == signal.SIGINT:  # the resume is the same whatever stopped the fit: checked once
        return
    resumed = subprocess.run(_fit_args(tiny_llama_dir, stopped_at + 2, "--ckpt_path", str(checkpoints[0])),
                             cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert _runs(db) == [{**run, "status": "FINISHED"}]
    from mlflow.tracking import MlflowClient

    steps = [m.step for m in MlflowClient(f"sqlite:///{db}").get_metric_history(run["id"], "train/loss")]
    assert max(steps) == stopped_at + 1  # logged at steps 0..; the resumed fit took 2 steps more


def test_a_signalled_pipeline_leaves_its_fit_resumable_and_the_rerun_finishes(tiny_llama_dir, tmp_path):
    for name, lines in (("sources.txt", SOURCES), ("dpo.txt", DPO), ("eval.txt", EVAL)):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    # an SFT long enough (~0.2 s a step) for the signal to land inside it; no DPO, no
    # evaluation: the test is about the stop and the resume
    config = PIPELINE.format(root=ROOT, model=tiny_llama_dir).split("\ndpo:")[0] + "\ndpo: null\nevaluation: null\n"
    config = config.replace("max_steps: 2, val_check_interval: 2,", "max_steps: 40, val_check_interval: 20,", 1)
    config = config.replace("enable_progress_bar: false}", "enable_progress_bar: false, log_every_n_steps: 1,"
                                                           " max_epochs: -1}", 1)
    (tmp_path / "pipeline.yaml").write_text(config)
    db = tmp_path / "mlruns.db"
    args = [*PAV, "pipeline", "-c", "pipeline.yaml", "--workdir", "work"]
    code, out, err = _start_and_signal(args, tmp_path, lambda: _metric_rows(db, "train/loss") >= 2, signal.SIGTERM)

    assert code == 143, err
    assert err.strip().splitlines()[-1].startswith("pav pipeline: stopped by SIGTERM at step "), err
    state = json.loads((tmp_path / "work/sft/stage.json").read_text())
    assert state["status"] == "interrupted" and state["stopped_by"] == "SIGTERM"
    assert Path(state["checkpoint"]).is_file()
    runs = {run["name"]: run for run in _runs(db)}
    assert runs["pipeline pipeline"]["status"] == "KILLED" and runs["fit sft"]["status"] == "KILLED"
    assert runs["evolve pipeline"]["status"] == "FINISHED"

    rerun = subprocess.run(args, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "evolve: done for this config, skipped" in rerun.stdout
    assert f"sft: resuming from {state['checkpoint']}" in rerun.stdout
    assert json.loads((tmp_path / "work/sft/stage.json").read_text())["status"] == "done"
    fits = [run for run in _runs(db) if run["name"] == "fit sft"]
    assert fits == [{**runs["fit sft"], "status": "FINISHED"}]  # the same MLflow run, continued


def test_a_signalled_render_keeps_its_records_and_ends_its_run_killed(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"prompt number {i} of a dog running on a beach" for i in range(12)) + "\n")
    out = tmp_path / "out"

    def some_written() -> bool:  # records go to the rank's shard first, merged at the end
        shard = out / "scores.rank0.jsonl"
        return shard.is_file() and shard.read_text().count("\n") >= 2

    args = [*PAV, "render", "-c", str(ROOT / "experiments/render/synthetic.yaml"), "--prompts", str(prompts),
            "--out", str(out), "--use_cache", "false", "--batch_size", "1"]
    code, _, err = _start_and_signal(args, tmp_path, some_written, signal.SIGTERM)

    assert code == 143, err
    assert err.strip().splitlines()[-1] == ("pav render: stopped by SIGTERM; what was written is kept: "
                                             "rerun the same command to resume")
    [run] = _runs(tmp_path / "mlruns.db")
    assert run["status"] == "KILLED"
    kept = (out / "scores.rank0.jsonl").read_text().splitlines()
    assert 2 <= len(kept) < 12

    rerun = subprocess.run(args, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    records = (out / "scores.jsonl").read_text().splitlines()
    assert len(records) == 12 and records[:len(kept)] == kept  # nothing rendered twice, nothing lost
