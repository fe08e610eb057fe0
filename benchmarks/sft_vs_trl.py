"""SFT training speed and memory: our ``SFTRefiner`` vs TRL's ``SFTTrainer``.

Both sides train the same model (a tiny random-init Llama by default, or a real asset with
``--model``) with the same LoRA (r=16, alpha=32, dropout 0, all-linear), AdamW at a
constant learning rate, fp32 on CPU, the same batch size, torch threads and token ids:
TRL gets the rows our ``encode_chat`` produced (``input_ids`` + ``labels``), so the check
of the first loss compares the losses, not two tokenisers. Each side runs in its own
subprocess (peak RSS via ``ru_maxrss`` is per process), alternating ours, TRL, ours, TRL.

Ours is driven by a plain AdamW loop over the module's loss path (``SFTRefiner._loss``:
tokenise + forward), TRL by ``trainer.train()``; samples/s counts steps 2..N (step 1 is
warm-up). The LoRA B matrices are set to the same seeded random values on both sides
before the first loss, so that loss goes through the adapter too.

    python benchmarks/sft_vs_trl.py --steps 10 --batch-size 4 --repeats 2

Needs ``trl`` (a benchmark-only peer, not a project dependency): ``pip install trl==1.16.0``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "experiments" / "data" / "seed_sft_pairs.json"
TRL_HINT = "pip install trl==1.16.0"
LR = 2e-4


def _require_trl() -> None:
    try:
        import trl  # noqa: F401
    except ImportError:
        sys.exit(f"benchmarks/sft_vs_trl.py needs TRL, which is not a project dependency: {TRL_HINT}")


def _examples(n: int) -> tuple[list[str], list[str]]:
    """``n`` (prompt, target) pairs, cycling the seed SFT pairs (a few hundred characters each)."""
    pairs = json.loads(DATA.read_text(encoding="utf-8"))
    rows = [pairs[i % len(pairs)] for i in range(n)]
    return [p for p, _ in rows], [t for _, t in rows]


def _backbone(model: str):
    from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec

    # dropout 0: the first-loss comparison must not depend on dropout masks
    return CausalLMBackbone(model=model, dtype="float32", lora=LoraSpec(r=16, alpha=32, dropout=0.0))


def _perturb_lora_b(model, seed: int = 1) -> None:
    """Give every ``lora_B`` a seeded random value (B=0 at init would hide the adapter)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _run_ours(args, prompts, targets) -> dict:
    import torch

    from prompt_a_video.modules.sft import SFTRefiner

    module = SFTRefiner(_backbone(args.model_path), lr=LR, max_length=args.max_length)
    module.configure_model()
    _perturb_lora_b(module.model)
    b = args.batch_size
    with torch.no_grad():
        first_loss = module._loss({"prompt": prompts[:b], "target": targets[:b]}).item()
    optimizer = torch.optim.AdamW([p for p in module.model.parameters() if p.requires_grad], lr=LR, weight_decay=0.0)
    rss_before = _rss_mb()
    stamps = []
    for step in range(args.steps):
        lo = (step * b) % len(prompts)
        batch = {"prompt": prompts[lo:lo + b], "target": targets[lo:lo + b]}
        loss = module._loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        stamps.append(time.perf_counter())
    return {"first_loss": first_loss, "stamps": stamps, "rss_before_mb": rss_before}


def _run_trl(args, prompts, targets, tmp: str) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from prompt_a_video.modules.chat_encoding import encode_chat

    backbone = _backbone(args.model_path)
    tokenizer = backbone.load_tokenizer()
    rows = [encode_chat(tokenizer, backbone.messages(p), t, args.max_length) for p, t in zip(prompts, targets)]
    dataset = Dataset.from_dict({"input_ids": [r[0] for r in rows], "labels": [r[1] for r in rows]})
    config = SFTConfig(output_dir=tmp, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                       learning_rate=LR, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
                       optim="adamw_torch", use_cpu=True, bf16=False, fp16=False, report_to="none",
                       save_strategy="no", logging_steps=10_000, dataloader_num_workers=0,
                       train_sampling_strategy="sequential", max_length=args.max_length,
                       gradient_checkpointing=False, seed=0, disable_tqdm=True)
    model = AutoModelForCausalLM.from_pretrained(backbone.path(), dtype=torch.float32)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=backbone.lora.to_peft())
    _perturb_lora_b(trainer.model)
    b = args.batch_size
    batch = trainer.data_collator([dataset[i] for i in range(b)])
    with torch.no_grad():
        first_loss = trainer.compute_loss(trainer.model, dict(batch)).item()

    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, *_, **__):
            stamps.append(time.perf_counter())

    trainer.add_callback(Stamp())
    rss_before = _rss_mb()
    trainer.train()
    return {"first_loss": first_loss, "stamps": stamps, "rss_before_mb": rss_before}


def _side(args) -> None:
    """One measurement in this process; prints one JSON line."""
    import torch
    import trl  # noqa: F401  # both sides import the same libraries, so their RSS baselines match

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    prompts, targets = _examples(max(args.examples, args.batch_size))
    with tempfile.TemporaryDirectory() as tmp:
        out = _run_ours(args, prompts, targets) if args.side == "ours" else _run_trl(args, prompts, targets, tmp)
    stamps = out.pop("stamps")
    timed_steps = len(stamps) - 1
    out["samples_per_s"] = timed_steps * args.batch_size / (stamps[-1] - stamps[0])
    out["peak_rss_mb"] = _rss_mb()
    out["steps"] = len(stamps)
    print("RESULT " + json.dumps(out), flush=True)


def _tiny_model_dir(tmp: str) -> str:
    sys.path.insert(0, str(ROOT))
    from tests.kit.tiny_lm import save_tiny_causal_lm

    return str(save_tiny_causal_lm(Path(tmp) / "tiny-llama", "llama", seed=0))


def _spawn(side: str, args, model_path: str) -> dict:
    cmd = [sys.executable, __file__, "--side", side, "--model-path", model_path, "--steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--threads", str(args.threads),
           "--max-length", str(args.max_length), "--examples", str(args.examples)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"--side {side} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per run (first one is warm-up)")
    parser.add_argument("--batch-size", type=int, default=4, help="examples per step (both sides)")
    parser.add_argument("--model", default=None,
                        help="asset name or folder (e.g. smollm2-135m-instruct); default: a tiny random Llama")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side, alternating (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per side")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per example")
    parser.add_argument("--examples", type=int, default=32, help="dataset size (cycled seed pairs)")
    parser.add_argument("--side", choices=["ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _require_trl()
    if args.steps < 2:
        parser.error("--steps must be >= 2 (step 1 is warm-up)")
    if args.side:
        _side(args)
        return

    import peft
    import torch
    import transformers
    import trl

    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model or _tiny_model_dir(tmp)
        print(f"model={args.model or 'tiny random Llama (tests/kit/tiny_lm.py)'} steps={args.steps} "
              f"batch_size={args.batch_size} threads={args.threads} max_length={args.max_length} fp32 CPU "
              f"LoRA r=16 alpha=32 dropout=0 all-linear, AdamW lr={LR} constant; torch {torch.__version__} "
              f"transformers {transformers.__version__} peft {peft.__version__} trl {trl.__version__}")
        runs = {"ours": [], "trl": []}
        for i in range(args.repeats):
            for side in ("ours", "trl"):
                r = _spawn(side, args, model_path)
                runs[side].append(r)
                print(f"  run {i + 1} {side:4s}: {r['samples_per_s']:8.2f} samples/s  peak RSS "
                      f"{r['peak_rss_mb']:7.1f} MB (before training {r['rss_before_mb']:7.1f} MB)  "
                      f"first loss {r['first_loss']:.6f}", flush=True)
    med = {s: {k: statistics.median(r[k] for r in runs[s]) for k in ("samples_per_s", "peak_rss_mb")} for s in runs}
    diff = abs(runs["ours"][0]["first_loss"] - runs["trl"][0]["first_loss"])
    for s in ("ours", "trl"):
        print(f"{s:4s} median: {med[s]['samples_per_s']:.2f} samples/s, peak RSS {med[s]['peak_rss_mb']:.1f} MB")
    print(f"first-step loss agreement (<= 1e-4): {'OK' if diff <= 1e-4 else 'MISMATCH'}")
    print(f"throughput_ratio={med['ours']['samples_per_s'] / med['trl']['samples_per_s']:.3f} "
          f"memory_ratio={med['ours']['peak_rss_mb'] / med['trl']['peak_rss_mb']:.3f} first_loss_abs_diff={diff:.3e}")


if __name__ == "__main__":
    main()
