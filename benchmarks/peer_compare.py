"""Shared driver of the `*_vs_trl.py` benchmarks: same model, same LoRA, one process per run.

Each script measures one side (``--side ours|trl``) in a fresh subprocess, because peak
RSS (``ru_maxrss``) only grows within a process; the parent alternates ours, TRL, ours,
TRL and reports medians, the ratios and the first-step loss difference on one line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRL_HINT = "pip install trl==1.16.0"


def require_trl(script: str) -> None:
    try:
        import trl  # noqa: F401
    except ImportError:
        sys.exit(f"benchmarks/{script} needs TRL, which is not a project dependency: {TRL_HINT}")


def backbone(model: str):
    from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec

    # dropout 0: the first-loss comparison must not depend on dropout masks
    return CausalLMBackbone(model=model, dtype="float32", lora=LoraSpec(r=16, alpha=32, dropout=0.0))


def perturb_lora_b(model, seed: int = 1) -> None:
    """Give every ``lora_B`` a seeded random value (B=0 at init would hide the adapter)."""
    _kit().randomize_lora_b(model, seed, std=0.02)


def _kit():
    """``tests/kit/tiny_lm.py`` (the repository root is not on a benchmark script's path)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.kit import tiny_lm

    return tiny_lm


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def print_result(out: dict, batch_size: int) -> None:
    """Turn a side's step timestamps into samples/s and print the RESULT line the parent reads."""
    stamps = out.pop("stamps")
    out["samples_per_s"] = (len(stamps) - 1) * batch_size / (stamps[-1] - stamps[0])  # step 1 is warm-up
    out["peak_rss_mb"] = rss_mb()
    out["steps"] = len(stamps)
    print("RESULT " + json.dumps(out), flush=True)


def add_arguments(parser: argparse.ArgumentParser, unit: str, examples_help: str) -> None:
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per run (first one is warm-up)")
    parser.add_argument("--batch-size", type=int, default=4, help=f"{unit} per step (both sides)")
    parser.add_argument("--model", default=None,
                        help="asset name or folder (e.g. smollm2-135m-instruct); default: a tiny random Llama")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side, alternating (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per side")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per example")
    parser.add_argument("--examples", type=int, default=32, help=examples_help)
    parser.add_argument("--side", choices=["ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)


def _tiny_model_dir(tmp: str) -> str:
    return str(_kit().save_tiny_causal_lm(Path(tmp) / "tiny-llama", "llama", seed=0))


def _spawn(script: str, side: str, args, model_path: str, extra_argv: tuple[str, ...] = ()) -> dict:
    cmd = [sys.executable, script, "--side", side, "--model-path", model_path, "--steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--threads", str(args.threads),
           "--max-length", str(args.max_length), "--examples", str(args.examples), *extra_argv]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"--side {side} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def compare(script: str, args, setup: str, unit: str, describe_run=None, extra_argv: tuple[str, ...] = (),
            summarize=None) -> None:
    """Alternate the two sides ``args.repeats`` times; print the runs, medians and the ratio line.

    ``setup`` describes what both sides train; ``describe_run`` may return an extra line
    about one run; ``extra_argv`` goes to every side's command line (a script's own
    options); ``summarize`` may return lines about all the runs (``{"ours": [...], "trl":
    [...]}``), printed before the ratio line.
    """
    import tempfile

    import peft
    import torch
    import transformers
    import trl

    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model or _tiny_model_dir(tmp)
        print(f"model={args.model or 'tiny random Llama (tests/kit/tiny_lm.py)'} steps={args.steps} "
              f"batch_size={args.batch_size} threads={args.threads} max_length={args.max_length} fp32 CPU "
              f"{setup}; torch {torch.__version__} transformers {transformers.__version__} "
              f"peft {peft.__version__} trl {trl.__version__}")
        runs = {"ours": [], "trl": []}
        for i in range(args.repeats):
            for side in ("ours", "trl"):
                r = _spawn(script, side, args, model_path, tuple(extra_argv))
                runs[side].append(r)
                print(f"  run {i + 1} {side:4s}: {r['samples_per_s']:8.2f} {unit}/s  peak RSS "
                      f"{r['peak_rss_mb']:7.1f} MB (before training {r['rss_before_mb']:7.1f} MB)  "
                      f"first loss {r['first_loss']:.6f}", flush=True)
                extra = describe_run(r) if describe_run else None
                if extra:
                    print(f"    {extra}", flush=True)
    med = {s: {k: statistics.median(r[k] for r in runs[s]) for k in ("samples_per_s", "peak_rss_mb")} for s in runs}
    diff = abs(runs["ours"][0]["first_loss"] - runs["trl"][0]["first_loss"])
    for s in ("ours", "trl"):
        print(f"{s:4s} median: {med[s]['samples_per_s']:.2f} {unit}/s, peak RSS {med[s]['peak_rss_mb']:.1f} MB")
    print(f"first-step loss agreement (<= 1e-4): {'OK' if diff <= 1e-4 else 'MISMATCH'}")
    for line in (summarize(runs) if summarize else ()):
        print(line)
    print(f"throughput_ratio={med['ours']['samples_per_s'] / med['trl']['samples_per_s']:.3f} "
          f"memory_ratio={med['ours']['peak_rss_mb'] / med['trl']['peak_rss_mb']:.3f} first_loss_abs_diff={diff:.3e}")


def fit_timed(module, examples: list[dict], batch_size: int, steps: int) -> tuple[list[float], float]:
    """Fit ``module`` as ``pav fit`` does, with a Lightning ``Trainer``, for ``steps``
    optimizer steps over ``examples`` (in order, cycled), recording a timestamp at each
    step end. Returns the timestamps and the peak RSS (MB) just before the fit."""
    import time

    import lightning.pytorch as pl
    from torch.utils.data import DataLoader

    stamps: list[float] = []

    class Stamp(pl.Callback):
        def on_train_batch_end(self, *_, **__):
            stamps.append(time.perf_counter())

    def collate(rows: list[dict]) -> dict[str, list]:
        return {key: [row[key] for row in rows] for key in rows[0]}

    loader = DataLoader(examples, batch_size=batch_size, shuffle=False, collate_fn=collate)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0, callbacks=[Stamp()])
    rss_before = rss_mb()
    trainer.fit(module, train_dataloaders=loader)
    return stamps, rss_before


def train_timed(trainer) -> tuple[list[float], float]:
    """Run a transformers/TRL ``trainer.train()`` recording a timestamp at each step end.

    Returns the timestamps and the peak RSS (MB) just before training started.
    """
    import time

    from transformers import TrainerCallback

    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, *_, **__):
            stamps.append(time.perf_counter())

    trainer.add_callback(Stamp())
    rss_before = rss_mb()
    trainer.train()
    return stamps, rss_before
