"""`pav render`, `pav pairs` and `pav evaluate` over two DDP processes on CPU (gloo) write
the same records as one process; killed with -9 mid-way and rerun, the same records again,
none twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from prompt_a_video import cli
from prompt_a_video.refiner.rewriters import RewriteMethod
from prompt_a_video.generators.synthetic import SyntheticGenerator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ["a dog running on the beach", "a red car driving in the rain", "a cat sleeping on a sofa",
           "a man playing guitar", "a boat on a lake", "a horse in a field", "two birds on a wire"]
KILL_ON = "a horse in a field"  # the item being rendered when the run is killed


class KilledOnce(SyntheticGenerator):
    """The synthetic backbone; while the file named by $PAV_TEST_KILL exists, rendering
    KILL_ON removes it and SIGKILLs the process (a preempted job: no cleanup runs)."""

    def generate(self, prompts, seed):
        flag = os.environ.get("PAV_TEST_KILL")
        if flag and os.path.exists(flag) and any(KILL_ON in p for p in prompts):
            os.remove(flag)
            os.kill(os.getpid(), signal.SIGKILL)
        return super().generate(prompts, seed)


class Suffixes(RewriteMethod):
    """Stands in for the refiner: three rewrites a prompt, chosen by the chunk's seed."""

    def rewrite(self, prompts, n, seed=0):
        return [[f"{p}, {w}" for w in ("cinematic lighting", "blurry", f"take {seed % 97}")][:n] for p in prompts]


COMMON = f"""
generator:
  class_path: {__name__}.KilledOnce
  init_args: {{preset: long-cinematic, num_frames: 4, height: 24, width: 24}}
reward:
  class_path: prompt_a_video.rewards.composite.CompositeReward
  init_args:
    weights: {{DD: 1.0, TVA: 1.0}}
    members:
      - class_path: prompt_a_video.rewards.offline.DynamicDegreeReward
      - class_path: prompt_a_video.rewards.offline.SceneAlignmentReward
"""
STAGES = {
    "render": (COMMON + "prompts: prompts.txt\nseeds: [0, 1]\nbatch_size: 2\nuse_cache: false\nsave_videos: false\n",
               ["--out", "{out}"], ["scores.jsonl"]),
    "pairs": (COMMON + f"prompts: prompts.txt\nsampler: {{class_path: {__name__}.Suffixes}}\n"
              "rule: {class_path: prompt_a_video.evolution.pair_rules.BestVsWorstRule}\n"
              "n: 3\nseeds: [0]\nsample_batch: 2\nbatch_size: 2\nuse_cache: false\n",
              ["--out", "{out}/pairs.jsonl"], ["pairs.jsonl", "pairs.done.jsonl"]),
    "evaluate": (COMMON + "evaluation: {methods: [original, heuristic], seeds: [0, 1], fidelity_model: null, "
                 "text_fluency_model: null, use_cache: false, save_videos: false, batch_size: 2}\n",
                 ["--prompts", "prompts.txt", "--out", "{out}"], ["rewrites.jsonl", "scores.jsonl"]),
}
LAUNCHER = """import sys
from prompt_a_video import cli

if __name__ == "__main__":
    sys.exit(cli.main())
"""


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "LOCAL_RANK", "WORLD_SIZE")}
    env.update(PYTHONPATH=f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}", OMP_NUM_THREADS="1",
               MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlruns.db", **extra)
    return env


def _launch(tmp_path, stage, out, *more, env=None):
    config, args, _ = STAGES[stage]
    (tmp_path / f"{stage}.yaml").write_text(config)
    command = [sys.executable, "launch.py", stage, "-c", f"{stage}.yaml", *(a.format(out=out) for a in args), *more]
    return subprocess.run(command, cwd=tmp_path, env=env or _env(tmp_path), capture_output=True, text=True,
                          timeout=600)


def _outputs(folder: Path, stage: str) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in STAGES[stage][2]}


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns.db")
    monkeypatch.delenv("PAV_TEST_KILL", raising=False)
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    (tmp_path / "launch.py").write_text(LAUNCHER)
    return tmp_path


@pytest.mark.parametrize("stage", list(STAGES))
def test_two_processes_and_a_killed_run_write_the_records_of_one_process(here, stage):
    config, args, files = STAGES[stage]
    (here / f"{stage}.yaml").write_text(config)
    assert cli.main([stage, "-c", f"{stage}.yaml", *(a.format(out="one") for a in args)]) == 0
    expected = _outputs(here / "one", stage)
    assert all(expected.values()), expected

    two = _launch(here, stage, "two", "--trainer.devices", "2", "--trainer.strategy", "ddp")
    assert two.returncode == 0, two.stderr[-4000:]
    assert "Starting with 2 processes" in two.stderr + two.stdout
    assert _outputs(here / "two", stage) == expected
    assert not list((here / "two").glob("*.rank*.jsonl"))  # shards merged and removed

    (here / "kill.flag").touch()
    killed = _launch(here, stage, "killed", env=_env(here, PAV_TEST_KILL=str(here / "kill.flag")))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-4000:]
    assert list((here / "killed").glob("*.rank0.jsonl")), "the kill should leave a shard behind"
    assert cli.main([stage, "-c", f"{stage}.yaml", *(a.format(out="killed") for a in args)]) == 0
    assert _outputs(here / "killed", stage) == expected
