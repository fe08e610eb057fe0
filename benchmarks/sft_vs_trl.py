"""SFT training speed and memory: our ``SFTRefiner`` vs TRL's ``SFTTrainer``.

Both sides train the same model (a tiny random-init Llama by default, or a real asset with
``--model``) with the same LoRA (r=16, alpha=32, dropout 0, all-linear), AdamW at a
constant learning rate, fp32 on CPU, the same batch size, torch threads and token ids:
TRL gets the rows our ``encode_chat`` produced (``input_ids`` + ``labels``), so the check
of the first loss compares the losses, not two tokenisers. Each side runs in its own
subprocess (peak RSS via ``ru_maxrss`` is per process), alternating ours, TRL, ours, TRL.

Each side is driven the way its users run it: ours by a Lightning ``Trainer.fit`` (what
``pav fit`` runs: the module's own AdamW, warm-up 0 then cosine decay, tokenisation in
the step), TRL by ``trainer.train()`` (constant learning rate: the schedule does not change
the cost of a step); samples/s counts steps 2..N (step 1 is warm-up). The LoRA B matrices are set to the same seeded random values on both sides
before the first loss, so that loss goes through the adapter too.

    python benchmarks/sft_vs_trl.py --steps 10 --batch-size 4 --repeats 2

Needs ``trl`` (a benchmark-only peer, not a project dependency): ``pip install trl==1.16.0``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from peer_compare import ROOT, add_arguments, compare, fit_timed, perturb_lora_b, print_result, require_trl, train_timed
from peer_compare import backbone as make_backbone

DATA = ROOT / "experiments" / "data" / "seed_sft_pairs.json"
LR = 2e-4


def _examples(n: int) -> tuple[list[str], list[str]]:
    """``n`` (prompt, target) pairs, cycling the seed SFT pairs (a few hundred characters each)."""
    pairs = json.loads(DATA.read_text(encoding="utf-8"))
    rows = [pairs[i % len(pairs)] for i in range(n)]
    return [p for p, _ in rows], [t for _, t in rows]


def _run_ours(args, prompts, targets) -> dict:
    import torch

    from prompt_a_video.modules.sft import SFTRefiner

    module = SFTRefiner(make_backbone(args.model_path), lr=LR, max_length=args.max_length)
    module.configure_model()
    perturb_lora_b(module.model)
    b = args.batch_size
    with torch.no_grad():
        first_loss = module._loss({"prompt": prompts[:b], "target": targets[:b]}).item()
    examples = [{"prompt": p, "target": t} for p, t in zip(prompts, targets)]
    examples = [examples[i % len(examples)] for i in range(args.steps * b)]
    stamps, rss_before = fit_timed(module, examples, b, args.steps)
    return {"first_loss": first_loss, "stamps": stamps, "rss_before_mb": rss_before}


def _run_trl(args, prompts, targets, tmp: str) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from prompt_a_video.modules.chat_encoding import encode_chat

    backbone = make_backbone(args.model_path)
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
    perturb_lora_b(trainer.model)
    b = args.batch_size
    batch = trainer.data_collator([dataset[i] for i in range(b)])
    with torch.no_grad():
        first_loss = trainer.compute_loss(trainer.model, dict(batch)).item()

    stamps, rss_before = train_timed(trainer)
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
    print_result(out, args.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, unit="examples", examples_help="dataset size (cycled seed pairs)")
    args = parser.parse_args()
    require_trl("sft_vs_trl.py")
    if args.steps < 2:
        parser.error("--steps must be >= 2 (step 1 is warm-up)")
    if args.side:
        _side(args)
        return
    compare(__file__, args, f"LoRA r=16 alpha=32 dropout=0 all-linear, AdamW lr={LR} constant", unit="samples")


if __name__ == "__main__":
    main()
