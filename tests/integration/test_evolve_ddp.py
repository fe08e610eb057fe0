"""`pav evolve --trainer.devices 2 --trainer.strategy ddp` on CPU (gloo): two processes
share the prompts and the merged pool holds every source prompt exactly once, in order."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from prompt_a_video.evolution.base import Operator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class SuffixOperator(Operator):
    """Appends a seeded number to the best prompt so far; notes which rank asked, in ``asked.rank{r}``."""

    def propose(self, original, history, n, *, seed=None):
        with open(f"asked.rank{os.environ.get('LOCAL_RANK', '0')}", "a") as f:
            f.write(original + "\n")
        rng = random.Random(seed)
        return [f"{history[0].prompt}, take {rng.randrange(1000)}" for _ in range(n)]


CONFIG = f"""
generator:
  class_path: prompt_a_video.generators.synthetic.SyntheticGenerator
  init_args: {{preset: long-cinematic, num_frames: 4, height: 32, width: 32}}
reward:
  class_path: prompt_a_video.rewards.composite.CompositeReward
  init_args:
    weights: {{DD: 1.0, TVA: 1.0}}
    floors: {{TVA: 0.5}}
    members:
      - class_path: prompt_a_video.rewards.offline.DynamicDegreeReward
      - class_path: prompt_a_video.rewards.offline.SceneAlignmentReward
operator:
  class_path: {__name__}.SuffixOperator
iterations: 1
proposals_per_iteration: 2
batch_size: 1
progress: false
use_cache: false
"""
PROMPTS = ["a dog running on the beach", "a red car driving in the rain", "a cat sleeping on a sofa",
           "a man playing guitar", "a boat on a lake"]  # odd: the ranks get 3 and 2
LAUNCHER = """import sys
from prompt_a_video import cli

if __name__ == "__main__":  # ddp_spawn re-imports the main script
    sys.exit(cli.main())
"""


def test_two_ddp_processes_evolve_every_prompt_exactly_once(tmp_path):
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    (tmp_path / "evolve.yaml").write_text(CONFIG)
    (tmp_path / "pav_evolve.py").write_text(LAUNCHER)
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "LOCAL_RANK", "WORLD_SIZE")}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    proc = subprocess.run(
        [sys.executable, "pav_evolve.py", "evolve", "-c", "evolve.yaml", "--prompts", "prompts.txt",
         "--out", "pool.jsonl", "--trainer.devices", "2", "--trainer.strategy", "ddp"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Starting with 2 processes" in proc.stderr + proc.stdout
    records = [json.loads(line) for line in (tmp_path / "pool.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in records] == PROMPTS
    assert all("error" not in r and len(r["candidates"]) == 3 for r in records)
    assert not list(tmp_path.glob("pool.rank*.jsonl"))  # shards merged and removed
    by_rank = [(tmp_path / f"asked.rank{r}").read_text().splitlines() for r in (0, 1)]
    assert sorted(by_rank[0] + by_rank[1]) == sorted(PROMPTS)  # split, no prompt evolved twice
    assert {len(by_rank[0]), len(by_rank[1])} == {2, 3}
