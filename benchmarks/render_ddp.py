"""Videos rendered + scored per second by `pav render` in one process vs two DDP processes.

Both sides are driven as users run them: the whole `pav render` command (start-up, the
Lightning predict loop, shards, merge, MLflow run) with one OpenMP thread per process on
the synthetic backbone and the offline rewards, no render cache; the two-process side adds
``--trainer.devices 2 --trainer.strategy ddp`` (gloo on CPU). Each side renders N and 2N
prompts (fresh output folders, sides alternating, medians over repeats). Two rates:

- whole command: 2N / the 2N run's wall time, start-up included (DDP's is larger: the
  second process re-imports and re-parses everything after the first made its Trainer);
- marginal: N / (time of 2N - time of N), start-up cancelled: what a long stage gains.

The last line is ``speedup=<marginal two-process / one-process> whole_command_speedup=...``.

    .venv/bin/python benchmarks/render_ddp.py --prompts 192 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """
generator:
  class_path: prompt_a_video.generators.synthetic.SyntheticGenerator
  init_args: {{preset: long-cinematic, num_frames: {frames}, height: {size}, width: {size}}}
reward:
  class_path: prompt_a_video.rewards.composite.CompositeReward
  init_args:
    preset: offline
    members:
      - class_path: prompt_a_video.rewards.offline.VisualQualityReward
      - class_path: prompt_a_video.rewards.offline.TemporalConsistencyReward
      - class_path: prompt_a_video.rewards.offline.DynamicDegreeReward
      - class_path: prompt_a_video.rewards.offline.SceneAlignmentReward
    floors: {{}}
    weights: {{VQ: 1.0, TC: 1.0, DD: 0.5, TVA: 1.3}}
prompts: prompts.txt
batch_size: 8
use_cache: false
save_videos: false
"""
LAUNCHER = "import sys\nfrom prompt_a_video import cli\n\nif __name__ == '__main__':\n    sys.exit(cli.main())\n"


def _prompts(n: int) -> list[str]:
    subjects = ["a dog", "a red car", "a woman", "two horses", "a sailboat", "a robot", "an old man", "a cat"]
    actions = ["running on the beach", "driving through the rain at night", "dancing in a neon-lit street",
               "walking in a snowy forest, static camera", "sailing at sunset, cinematic, detailed"]
    return [f"{subjects[i % len(subjects)]} {actions[i % len(actions)]} #{i}" for i in range(n)]


def _run(folder: Path, out: str, devices: int, n: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "WORLD_SIZE")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MLFLOW_TRACKING_URI=f"sqlite:///{folder}/mlruns.db")
    command = [sys.executable, "launch.py", "render", "-c", "render.yaml", "--out", out, "--limit", str(n)]
    if devices > 1:
        command += ["--trainer.devices", str(devices), "--trainer.strategy", "ddp"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"pav render (devices {devices}) failed:\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=192, help="N: the runs render N and 2N videos")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side (median reported)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="height = width")
    args = parser.parse_args()

    import lightning
    import torch

    with tempfile.TemporaryDirectory(prefix="pav-render-ddp-") as tmp:
        folder = Path(tmp)
        (folder / "prompts.txt").write_text("\n".join(_prompts(2 * args.prompts)) + "\n")
        (folder / "render.yaml").write_text(CONFIG.format(frames=args.frames, size=args.size))
        (folder / "launch.py").write_text(LAUNCHER)
        print(f"setup: N={args.prompts} and 2N videos {args.frames}x{args.size}x{args.size}, offline rewards "
              "VQ TC DD TVA, "
              f"no cache, 1 OpenMP thread per process, {os.cpu_count()} CPUs, torch {torch.__version__}, "
              f"lightning {lightning.__version__}, {args.repeats} repeats (alternating)")
        times: dict[tuple[int, int], list[float]] = {(d, k): [] for d in (1, 2) for k in (1, 2)}
        for repeat in range(args.repeats):
            for devices in (1, 2):
                for k in (1, 2):
                    n = k * args.prompts
                    times[devices, k].append(_run(folder, f"out-{devices}-{k}-{repeat}", devices, n))
                    print(f"  repeat {repeat}: {devices} process(es), {n} videos: {times[devices, k][-1]:.1f} s",
                          flush=True)
        med = {key: statistics.median(t) for key, t in times.items()}
        whole = {d: 2 * args.prompts / med[d, 2] for d in (1, 2)}
        marginal = {d: args.prompts / (med[d, 2] - med[d, 1]) for d in (1, 2)}
        for d in (1, 2):
            print(f"{d} process(es): whole command {whole[d]:.2f} videos/s, marginal {marginal[d]:.2f} videos/s "
                  f"(start-up about {med[d, 1] - args.prompts / marginal[d]:.1f} s)")
        print(f"speedup={marginal[2] / marginal[1]:.3f} whole_command_speedup={whole[2] / whole[1]:.3f}")


if __name__ == "__main__":
    main()
