"""`pav evolve` end to end on the synthetic backbone and offline rewards: the pool, the
MLflow run, and a run killed with SIGKILL that resumes to the same bytes."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prompt_a_video import cli
from prompt_a_video.data import iter_pool
from prompt_a_video.evolution.base import Operator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PHRASES = ["in slow motion", "at golden hour", "cinematic lighting", "highly detailed", "camera pans left",
           "in the rain", "wide angle shot", "4k", "soft light", "tracking shot", "on a sunny day", "close-up"]


class AppendOperator(Operator):
    """Appends seeded phrases to the best prompt so far; ``delay`` s per call (to kill a run mid-way)."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def propose(self, original, history, n, *, seed=None):
        time.sleep(self.delay)
        rng = random.Random(seed)
        return [f"{history[0].prompt}, {p}" for p in rng.sample(PHRASES, n)]


CONFIG = f"""
generator:
  class_path: prompt_a_video.generators.synthetic.SyntheticGenerator
  init_args: {{preset: long-cinematic, num_frames: 8, height: 32, width: 32}}
reward:
  class_path: prompt_a_video.rewards.composite.CompositeReward
  init_args:
    preset: offline
    floors: {{TVA: 0.5}}   # the preset's PF floor needs the MiniLM asset
    members:
      - class_path: prompt_a_video.rewards.offline.VisualQualityReward
        init_args: {{num_frames: 2}}
      - class_path: prompt_a_video.rewards.offline.TemporalConsistencyReward
        init_args: {{num_pairs: 2, warp: false}}
      - class_path: prompt_a_video.rewards.offline.DynamicDegreeReward
      - class_path: prompt_a_video.rewards.offline.SceneAlignmentReward
operator:
  class_path: {__name__}.AppendOperator
iterations: 2
proposals_per_iteration: 2
top_k: 2
batch_size: 2
progress: false
"""
PROMPTS = ["a dog running on the beach", "a red car driving in the rain", "a cat sleeping on a sofa",
           "a man playing guitar"]
LAUNCHER = """import sys
from prompt_a_video import cli

if __name__ == "__main__":  # ddp_spawn re-imports the main script
    sys.exit(cli.main())
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    (tmp_path / "evolve.yaml").write_text(CONFIG)
    return tmp_path


def _evolve(out, cache, *extra):
    cli.main(["evolve", "-c", "evolve.yaml", "--prompts", "prompts.txt", "--out", out, "--cache_root", cache, *extra])


def test_evolve_writes_one_record_per_prompt_and_tracks_the_curve(workdir):
    from mlflow.tracking import MlflowClient

    _evolve("pool.jsonl", "cache")
    records = list(iter_pool(workdir / "pool.jsonl"))
    assert [r.prompt for r in records] == PROMPTS
    for r in records:
        assert r.backbone.startswith("synthetic/") and r.candidates[0].prompt == r.prompt
        assert {c.iteration for c in r.candidates} == {0, 1, 2} and len(r.candidates) <= 5
        top = max(r.candidates, key=lambda c: (c.scores["passes_floors"], c.reward))  # ties: the earliest
        assert r.best == (None if top is r.candidates[0] or not top.scores["passes_floors"] else top)
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlruns.db")
    (run,) = client.search_runs([client.get_experiment_by_name("evolve").experiment_id])
    curve = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "evolve/best_reward"),
                                     key=lambda m: m.step)]
    assert len(curve) == 3 and curve == sorted(curve)
    assert curve[0] == pytest.approx(sum(r.candidates[0].reward for r in records) / 4)
    assert run.data.metrics["evolve/n_prompts"] == 4 and run.data.metrics["evolve/n_failed"] == 0
    assert run.data.metrics["evolve/n_with_best"] == sum(r.best is not None for r in records)
    assert "best_reward_curve.png" in [a.path for a in client.list_artifacts(run.info.run_id)]

    before = (workdir / "pool.jsonl").read_bytes()
    _evolve("pool.jsonl", "cache")  # nothing left to do: the pool stays as it is
    assert (workdir / "pool.jsonl").read_bytes() == before


def test_a_run_killed_mid_way_resumes_to_the_same_bytes_as_an_uninterrupted_run(workdir):
    (workdir / "pav_evolve.py").write_text(LAUNCHER)
    shard = workdir / "killed" / "pool.rank0.jsonl"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "pav_evolve.py", "evolve", "-c", "evolve.yaml", "--prompts", "prompts.txt",
         "--out", "killed/pool.jsonl", "--cache_root", "cache-a", "--batch_size", "1",
         "--operator.init_args.delay", "0.3"],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (shard.exists() and shard.read_bytes().count(b"\n") >= 1):
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no record written in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not (workdir / "killed" / "pool.jsonl").exists()  # killed before the merge
    written = shard.read_bytes().count(b"\n")
    assert 1 <= written < len(PROMPTS)

    _evolve("killed/pool.jsonl", "cache-a")  # the same command again: resumes
    _evolve("whole/pool.jsonl", "cache-b")  # uninterrupted, its own cache
    resumed = (workdir / "killed" / "pool.jsonl").read_bytes()
    assert resumed == (workdir / "whole" / "pool.jsonl").read_bytes()
    assert [json.loads(line)["prompt"] for line in resumed.splitlines()] == PROMPTS
    assert not shard.exists()
