"""DPO training speed and memory: our ``DPORefiner`` vs TRL's ``DPOTrainer``.

Both sides train the same model (a tiny random-init Llama by default, or a real asset with
``--model``) with a fresh LoRA (r=16, alpha=32, dropout 0, all-linear), the sigmoid DPO
loss with beta=0.1, the reference being the policy with its adapter switched off, AdamW at
a constant learning rate, fp32 on CPU, the same batch size, torch threads and token ids:
TRL tokenises its conversational dataset at start-up (the script reports whether its ids
match ours), then trains on the ``prompt_ids``/``chosen_ids``/``rejected_ids`` rows our
``encode_chat`` produced, so the check of the first loss compares the losses, not two
tokenisers. Each side runs in its own subprocess (peak RSS via ``ru_maxrss`` is per
process), alternating ours, TRL, ours, TRL.

Each side is driven the way its users run it: ours by a Lightning ``Trainer.fit`` (what
``pav fit`` runs: ``DPORefiner.training_step`` tokenises, runs the policy on the pairs
packed one row each, the prompt once, then the reference with the adapter off; the
module's own AdamW, warm-up 0 then cosine decay), TRL by ``trainer.train()`` (constant
learning rate: the schedule does not change the cost of a step); pairs/s counts steps
2..N (step 1 is warm-up). The LoRA B matrices are set to the same seeded random values on both
sides before the first loss: at B=0 the policy equals the reference and every DPO loss is
exactly log 2, which would make the agreement check vacuous.

    python benchmarks/dpo_vs_trl.py --steps 10 --batch-size 4 --repeats 2

Needs ``trl`` (a benchmark-only peer, not a project dependency): ``pip install trl==1.16.0``.
"""

from __future__ import annotations

import argparse
import json
import tempfile

from peer_compare import ROOT, add_arguments, compare, fit_timed, perturb_lora_b, print_result, require_trl, train_timed
from peer_compare import backbone as make_backbone

DATA = ROOT / "experiments" / "data" / "seed_pairs.jsonl"
LR = 5e-6
BETA = 0.1


def _pairs(n: int) -> dict[str, list[str]]:
    """``n`` (prompt, chosen, rejected) triples, cycling the seed preference pairs."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [rows[i % len(rows)] for i in range(n)]
    return {k: [r[k] for r in rows] for k in ("prompt", "chosen", "rejected")}


def _slice(data: dict[str, list[str]], lo: int, n: int) -> dict[str, list[str]]:
    return {k: v[lo:lo + n] for k, v in data.items()}


def _run_ours(args, data) -> dict:
    import torch

    from prompt_a_video.modules.dpo import DPORefiner

    module = DPORefiner(make_backbone(args.model_path), beta=BETA, loss_type="sigmoid", lr=LR, max_length=args.max_length)
    module.configure_model()
    perturb_lora_b(module.model)
    b = args.batch_size
    with torch.no_grad():
        first_loss = module.pair_metrics(_slice(data, 0, b))[0].item()
    n = len(data["prompt"])
    examples = [{k: data[k][i % n] for k in ("prompt", "chosen", "rejected")} for i in range(args.steps * b)]
    stamps, rss_before = fit_timed(module, examples, b, args.steps)
    return {"first_loss": first_loss, "stamps": stamps, "rss_before_mb": rss_before}


def _our_rows(backbone, tokenizer, data, max_length: int) -> list[dict[str, list[int]]]:
    """Our tokenisation as TRL's preference rows: shared prompt ids, then each answer's ids."""
    from prompt_a_video.modules.chat_encoding import IGNORE_INDEX, encode_chat

    rows = []
    for p, c, r in zip(data["prompt"], data["chosen"], data["rejected"]):
        row = {}
        for key, answer in (("chosen_ids", c), ("rejected_ids", r)):
            ids, labels = encode_chat(tokenizer, backbone.messages(p), answer, max_length)
            cut = next(i for i, lab in enumerate(labels) if lab != IGNORE_INDEX)
            row["prompt_ids"], row[key] = ids[:cut], ids[cut:]
        rows.append(row)
    return rows


def _run_trl(args, data, tmp: str) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    backbone = make_backbone(args.model_path)
    tokenizer = backbone.load_tokenizer()
    conversational = Dataset.from_dict({
        "prompt": [backbone.messages(p) for p in data["prompt"]],
        "chosen": [[{"role": "assistant", "content": c}] for c in data["chosen"]],
        "rejected": [[{"role": "assistant", "content": r}] for r in data["rejected"]],
    })
    config = DPOConfig(output_dir=tmp, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                       learning_rate=LR, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
                       optim="adamw_torch", use_cpu=True, bf16=False, fp16=False, report_to="none",
                       save_strategy="no", logging_steps=10_000, dataloader_num_workers=0,
                       train_sampling_strategy="sequential", max_length=args.max_length, beta=BETA,
                       loss_type=["sigmoid"], precompute_ref_log_probs=False, gradient_checkpointing=False,
                       seed=0, disable_tqdm=True)
    model = AutoModelForCausalLM.from_pretrained(backbone.path(), dtype=torch.float32)
    trainer = DPOTrainer(model=model, args=config, train_dataset=conversational, processing_class=tokenizer,
                         peft_config=backbone.lora.to_peft())
    ours = _our_rows(backbone, tokenizer, data, args.max_length)
    theirs = trainer.train_dataset
    same = sum(all(theirs[i][k] == row[k] for k in row) for i, row in enumerate(ours))
    trainer.train_dataset = Dataset.from_list(ours)
    perturb_lora_b(trainer.model)
    with torch.no_grad():
        batch = trainer.data_collator(ours[:args.batch_size])
        first_loss = trainer.compute_loss(trainer.model, dict(batch)).item()

    stamps, rss_before = train_timed(trainer)
    return {"first_loss": first_loss, "stamps": stamps, "rss_before_mb": rss_before,
            "trl_tokenisation_matches": f"{same}/{len(ours)}"}


def _side(args) -> None:
    """One measurement in this process; prints one JSON line."""
    import torch
    import trl  # noqa: F401  # both sides import the same libraries, so their RSS baselines match

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = _pairs(max(args.examples, args.batch_size))
    with tempfile.TemporaryDirectory() as tmp:
        out = _run_ours(args, data) if args.side == "ours" else _run_trl(args, data, tmp)
    print_result(out, args.batch_size)


def _tokenisation_note(run: dict) -> str | None:
    if "trl_tokenisation_matches" not in run:
        return None
    return (f"TRL's own tokenisation equals ours on {run['trl_tokenisation_matches']} pairs "
            "(training uses ours either way)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, unit="preference pairs", examples_help="dataset size (cycled seed preference pairs)")
    args = parser.parse_args()
    require_trl("dpo_vs_trl.py")
    if args.steps < 2:
        parser.error("--steps must be >= 2 (step 1 is warm-up)")
    if args.side:
        _side(args)
        return
    compare(__file__, args, f"LoRA r=16 alpha=32 dropout=0 all-linear, DPO sigmoid beta={BETA}, "
            f"reference = adapter off, AdamW lr={LR} constant", unit="pairs", describe_run=_tokenisation_note)


if __name__ == "__main__":
    main()
