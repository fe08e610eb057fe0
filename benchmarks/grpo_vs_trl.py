"""GRPO training speed and memory: our ``GRPORefiner`` vs TRL's ``GRPOTrainer``.

Both sides train the same model (a tiny random-init Llama by default, or a real asset with
``--model``) with a fresh LoRA (r=16, alpha=32, dropout 0, all-linear) by online GRPO: each
optimizer step takes ``--batch-size`` prompts of ``pav:dpo`` (the same ones, in the same
order), samples ``--group-size`` completions of each at temperature 1.0, top_p 1.0, at most
``--max-new-tokens`` tokens, from the chat prompt with the backbone's system prompt,
renders and scores every completion against its original prompt through THE SAME scoring
engine (``ScoringEngine`` over the synthetic backbone, ``long-cinematic`` 8x32x32, and a
``CompositeReward`` of the four offline video rewards VQ + TC + 0.5 DD + 1.3 TVA, with the
render-and-score cache on, in a folder of that run), turns the rewards into group-relative
advantages (std-scaled) and takes one GRPO update per rollout (``num_iterations=1``; the
``grpo`` loss aggregation: each completion's mean token loss, then the mean; ``beta`` 0 by
default, no reference forward; ``--beta`` > 0 uses the policy with its adapter off as the
reference on both sides, and the plain k3 KL of Shao et al. 2024 on both: TRL 1.16
multiplies it by the importance ratio by default, ``use_bias_correction_kl``, DeepSeek-V3.2's
estimator, whose ratio is 1 in value but adds ``KL x grad log p`` to the gradient, so the
benchmark turns that off; ``--kl-importance-weighted`` compares that form instead, ours
``kl_importance_weighted=True``). AdamW, fp32 on CPU, the same torch threads. A step has the same
number of completions on both sides: TRL's ``per_device_train_batch_size`` counts
completions (``batch_size x group_size``, one generation batch per optimizer step), ours
counts prompts. Each side runs in its own subprocess (peak RSS via ``ru_maxrss`` is per
process), alternating ours, TRL, ours, TRL.

Each side is driven the way its users run it: ours by a Lightning ``Trainer.fit`` (what
``pav fit`` runs; the module's own AdamW, warm-up 0 then cosine decay), TRL by
``trainer.train()`` (constant learning rate: the schedule does not change the cost of a
step); rollouts/s counts the completions of steps 2..N (step 1 is warm-up), sampling,
rendering, scoring and the update included. TRL's reward is a Python callable over the
engine that does what ``GRPORefiner.rollout`` does with a rewrite (``clean_refinement``,
empty -> the original, seed 0, a failed or floor-failing rewrite at the batch's lowest
reward).

The work is not equal where the two samplers differ, which the per-run lines show as the
mean completion tokens per rollout (tokens the loss sees: ours counts its re-encoded
answer with the template's end-of-turn text, ``<|im_end|>`` and the newline after it;
TRL its sampled ids up to and including the stop token, i.e. one token fewer for the same
text). Ours samples with the project's answer-only controls (``DEFAULT_SAMPLING``:
no-repeat 3-grams, a content word at most once, one line) and, because ``refine_with``
sets no ``top_k``, transformers' global default ``top_k=50``; TRL samples the full
distribution (``top_k=0``) without those controls. Measured (benchmarks/README.md): on
SmolLM2-135M-Instruct with 48 new tokens both sides mostly reach the cap (46.8 vs 44.7
tokens); on the tiny random Llama ours trains on ~1.5x TRL's tokens (65 vs 45), not because
it samples more (both stop at 48) but because a random model's bytes decode to invalid
UTF-8, whose U+FFFD characters re-encode into several tokens each: that model's
rollouts/s is not equal work.

The check "on the same rollouts": ``batch_size x group_size`` fixed (prompt, completion)
texts (the first batch's prompts, ``group_size`` fixed rewrites each) with advantages from
``group_advantages`` of fixed rewards, encoded once by our ``encode_chat`` (TRL gets those
ids as ``prompt_ids``/``completion_ids``; the script checks both sides hold identical ids and
that TRL's own prompt tokenisation equals ours), under the same seeded LoRA B matrices
(B=0 would hide the adapter). Ours: ``grpo_loss`` over the log-probs of the module's own
``_encode``/``_logps``; TRL: ``trainer.compute_loss`` on the inputs dict its
``_compute_loss`` reads. With one update per rollout the ratio is exactly 1 and, with
``beta=0``, the ``grpo`` loss is minus the mean advantage (0 up to rounding, whatever the
model), so the script also compares the per-token log-probs (max abs diff) and the norm
of the LoRA gradient of that loss (which is ``-A_i grad log p / |o_i|``, so it checks the
aggregation and the masks too).

    python benchmarks/grpo_vs_trl.py --steps 6 --batch-size 2 --group-size 4 --repeats 2

Needs ``trl`` (a benchmark-only peer, not a project dependency): ``pip install trl==1.16.0``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import zlib

from peer_compare import add_arguments, compare, fit_timed, perturb_lora_b, print_result, require_trl, train_timed
from peer_compare import backbone as make_backbone

PROMPTS = "pav:dpo"
LR = 1e-5
EPSILON = 0.2
# The first-loss check's fixed rewrites of a prompt (cycled when group_size is larger) and
# their fixed rewards (different within each group, so the advantages are not 0).
FIXED_REWRITES = (
    "{p}, cinematic lighting, slow camera pan",
    "A detailed shot of {p}. Golden hour light, gentle motion, shallow depth of field, steady camera, 4k",
    "{p}",
    "Wide establishing shot: {p}, soft morning light, the camera tracks the subject smoothly",
)
FIXED_REWARDS = (0.9, 0.2, 0.5, 0.7, 0.1, 0.4, 0.8, 0.3)


def _prompts(n: int) -> list[str]:
    """The first ``n`` prompts of ``pav:dpo`` (cycled if it has fewer)."""
    from prompt_a_video.data import load_prompts

    items = [it.prompt for it in load_prompts(PROMPTS, limit=n)]
    return [items[i % len(items)] for i in range(n)]


def _generator():
    from prompt_a_video.generators.synthetic import SyntheticGenerator

    return SyntheticGenerator(preset="long-cinematic", num_frames=8, height=32, width=32)


def _reward():
    from prompt_a_video.rewards.composite import CompositeReward
    from prompt_a_video.rewards.offline import (DynamicDegreeReward, SceneAlignmentReward,
                                                TemporalConsistencyReward, VisualQualityReward)

    return CompositeReward([VisualQualityReward(), TemporalConsistencyReward(), DynamicDegreeReward(),
                            SceneAlignmentReward()], weights={"VQ": 1.0, "TC": 1.0, "DD": 0.5, "TVA": 1.3})


def _engine(generator, reward, cache_root: str):
    """What ``GRPORefiner.engine`` builds (no render batching, cache on), its cache in this run's folder
    (a cache shared between runs would serve the second run's repeated rewrites)."""
    from prompt_a_video.scoring import ScoringEngine, ScoringSettings

    return ScoringEngine(generator, reward, ScoringSettings(None, True, cache_root=cache_root))


def score_rewrites(engine, originals: list[str], rewrites: list[str]) -> list[float]:
    """Each rewrite's aggregate ``reward`` against its original, as ``GRPORefiner.rollout``
    scores them: seed 0, failures and floor failures at the batch's lowest reward."""
    from prompt_a_video.scoring import Item, average_over_seeds

    items = [Item(text, original, 0, str(i)) for i, (text, original) in enumerate(zip(rewrites, originals))]
    by_key = {m.key: m for m in average_over_seeds(engine.score(items))}
    raw = [by_key[str(i)] for i in range(len(rewrites))]
    good = [not r.failed and math.isfinite(r.reward) and r.passes_floors is not False for r in raw]
    finite = [r.reward for r, ok in zip(raw, good) if ok]
    floor = min(finite) if finite else 0.0
    return [float(r.reward) if ok else floor for r, ok in zip(raw, good)]


def _fixed_set(prompts: list[str], args):
    """The first-loss check's ``B x G`` (original, rewrite) texts and their advantages."""
    import torch

    from prompt_a_video.modules.grpo_loss import group_advantages

    g = args.group_size
    originals = [p for p in prompts[:args.batch_size] for _ in range(g)]
    rewrites = [FIXED_REWRITES[j % len(FIXED_REWRITES)].format(p=p) for p in prompts[:args.batch_size]
                for j in range(g)]
    rewards = torch.tensor([FIXED_REWARDS[i % len(FIXED_REWARDS)] for i in range(len(rewrites))])
    return originals, rewrites, group_advantages(rewards, g)


def _digest(rows: list[tuple[list[int], list[int]]]) -> str:
    """A checksum of (prompt ids, completion ids) rows, to compare the two processes' inputs."""
    return f"{zlib.crc32(json.dumps(rows).encode()):08x}"


def _grad_norm(model) -> float:
    import torch

    grads = [p.grad.detach().double().pow(2).sum() for p in model.parameters() if p.grad is not None]
    return float(torch.stack(grads).sum().sqrt()) if grads else 0.0


def _clear_grads(model) -> None:
    for p in model.parameters():
        p.grad = None


def _run_ours(args, prompts: list[str], tmp: str) -> dict:
    import torch

    from prompt_a_video.modules.chat_encoding import IGNORE_INDEX
    from prompt_a_video.modules.grpo import GRPORefiner
    from prompt_a_video.modules.grpo_loss import grpo_loss

    module = GRPORefiner(make_backbone(args.model_path), _generator(), _reward(), group_size=args.group_size,
                         beta=args.beta, kl_importance_weighted=args.kl_importance_weighted,
                         epsilon_low=EPSILON, loss_type="grpo", updates_per_rollout=1,
                         temperature=1.0, top_p=1.0, max_new_tokens=args.max_new_tokens, use_cache=True,
                         table_every_n_steps=0, lr=LR, max_length=args.max_length)
    module._engine = _engine(module.generator, module.reward, tmp)
    torch.manual_seed(0)
    module.configure_model()
    perturb_lora_b(module.model)

    # the first-loss check on fixed rollouts
    originals, rewrites, advantages = _fixed_set(prompts, args)
    encoded = module._encode(originals, rewrites)
    rows = []
    for ids, att, lab in zip(encoded["input_ids"], encoded["attention_mask"], encoded["labels"]):
        ids, lab = ids[att.bool()].tolist(), lab[att.bool()].tolist()
        cut = next(i for i, v in enumerate(lab) if v != IGNORE_INDEX)
        rows.append((ids[:cut], ids[cut:]))
    ref = None
    if args.beta > 0:
        with torch.no_grad(), module.model.disable_adapter():
            ref = module._logps(encoded).logps
    logps, mask, _ = module._logps(encoded)
    out = grpo_loss(logps, advantages, mask, ref_logps=ref, beta=args.beta, epsilon_low=EPSILON,
                    loss_type="grpo", max_completion_length=args.max_new_tokens,
                    kl_importance_weighted=args.kl_importance_weighted)
    out.loss.backward()
    check = {"first_loss": out.loss.item(), "token_logps": logps[mask].tolist(), "grad_norm": _grad_norm(module.model),
             "ids_digest": _digest(rows), "check_tokens": int(mask.sum())}
    _clear_grads(module.model)

    lengths: list[float] = []
    new_rollout = module.new_rollout

    def counted(batch_prompts):  # the completion tokens of each step's rollout (what the loss sees)
        rollout = new_rollout(batch_prompts)
        lengths.append(float((rollout.encoded["labels"] != IGNORE_INDEX).sum(1).float().mean()))
        return rollout

    module.new_rollout = counted
    b = args.batch_size
    examples = [{"prompt": prompts[i % len(prompts)]} for i in range(args.steps * b)]
    stamps, rss_before = fit_timed(module, examples, b, args.steps)
    return {**check, "stamps": stamps, "rss_before_mb": rss_before, "completion_tokens": lengths}


def _run_trl(args, prompts: list[str], tmp: str) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer
    from trl.trainer.utils import pad

    from prompt_a_video.modules.chat_encoding import chat_parts
    from prompt_a_video.refiner.generation import clean_refinement, encode_prompts

    backbone = make_backbone(args.model_path)
    tokenizer = backbone.load_tokenizer()
    engine = _engine(_generator(), _reward(), tmp)

    def video_reward(prompts, completions, original, **_):
        """The scoring engine's aggregate reward of each completion against its original prompt."""
        rewrites = [clean_refinement(c[-1]["content"]).strip() or o for c, o in zip(completions, original)]
        return score_rewrites(engine, list(original), rewrites)

    dataset = Dataset.from_dict({"prompt": [backbone.messages(p) for p in prompts], "original": prompts})
    g = args.group_size
    config = GRPOConfig(output_dir=f"{tmp}/trl", max_steps=args.steps, per_device_train_batch_size=args.batch_size * g,
                        num_generations=g, max_completion_length=args.max_new_tokens, temperature=1.0, top_p=1.0,
                        beta=args.beta, use_bias_correction_kl=args.kl_importance_weighted,
                        num_iterations=1, epsilon=EPSILON, loss_type="grpo", scale_rewards="group",
                        shuffle_dataset=False, learning_rate=LR, lr_scheduler_type="constant", warmup_steps=0,
                        weight_decay=0.0, optim="adamw_torch", use_cpu=True, bf16=False, fp16=False,
                        report_to="none", save_strategy="no", logging_steps=10_000, dataloader_num_workers=0,
                        gradient_checkpointing=False, seed=0, disable_tqdm=True, log_completions=False)
    model = AutoModelForCausalLM.from_pretrained(backbone.path(), dtype=torch.float32)
    trainer = GRPOTrainer(model=model, reward_funcs=video_reward, args=config, train_dataset=dataset,
                          processing_class=tokenizer, peft_config=backbone.lora.to_peft())
    perturb_lora_b(trainer.model)
    theirs = trainer._tokenize_prompts([backbone.messages(p) for p in prompts])[0]
    ours = encode_prompts(tokenizer, backbone, prompts)
    same = sum(list(t) == o for t, o in zip(theirs, ours))

    # the first-loss check on fixed rollouts: our encode_chat ids as TRL's prompt/completion ids
    originals, rewrites, advantages = _fixed_set(prompts, args)
    rows = [chat_parts(tokenizer, backbone.messages(o), r) for o, r in zip(originals, rewrites)]
    pad_id = tokenizer.pad_token_id
    prompt_ids = pad([torch.tensor(p) for p, _ in rows], padding_value=pad_id, padding_side="left")
    prompt_mask = pad([torch.ones(len(p), dtype=torch.long) for p, _ in rows], padding_value=0, padding_side="left")
    completion_ids = pad([torch.tensor(c) for _, c in rows], padding_value=pad_id, padding_side="right")
    completion_mask = pad([torch.ones(len(c), dtype=torch.long) for _, c in rows], padding_value=0,
                          padding_side="right")
    inputs = {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids,
              "completion_mask": completion_mask, "advantages": advantages,
              "num_items_in_batch": completion_mask.sum()}
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
    attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
    if args.beta > 0:
        with torch.no_grad(), trainer.model.disable_adapter():
            inputs["ref_per_token_logps"] = trainer._get_per_token_logps_and_entropies(
                trainer.model, input_ids, attention_mask, completion_ids.size(1))[0]
    trainer.model.train()  # as in training; train() sets the accumulation count it reads to 1
    trainer.current_gradient_accumulation_steps = 1
    loss = trainer.compute_loss(trainer.model, inputs)
    loss.backward()
    grad_norm = _grad_norm(trainer.model)
    _clear_grads(trainer.model)
    with torch.no_grad():
        logps = trainer._get_per_token_logps_and_entropies(trainer.model, input_ids, attention_mask,
                                                           completion_ids.size(1))[0]
    mask = completion_mask.bool()
    check = {"first_loss": loss.item(), "token_logps": logps[mask].tolist(), "grad_norm": grad_norm,
             "ids_digest": _digest([(list(p), list(c)) for p, c in rows]), "check_tokens": int(mask.sum())}
    for metrics in trainer._metrics.values():  # the check's metrics are not the training's
        metrics.clear()

    lengths: list[float] = []
    generate = trainer._generate_and_score_completions

    def counted(batch):  # the completion tokens of each step's rollout (what the loss sees)
        out = generate(batch)
        lengths.append(float(out["completion_mask"].sum(1).float().mean()))
        return out

    trainer._generate_and_score_completions = counted
    stamps, rss_before = train_timed(trainer)
    return {**check, "stamps": stamps, "rss_before_mb": rss_before, "completion_tokens": lengths,
            "trl_tokenisation_matches": f"{same}/{len(ours)}"}


def _side(args) -> None:
    """One measurement in this process; prints one JSON line."""
    import importlib

    import torch

    importlib.import_module("trl")  # both sides import the same libraries, so their RSS baselines match
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    prompts = _prompts(max(args.examples, args.batch_size))
    with tempfile.TemporaryDirectory() as tmp:
        out = _run_ours(args, prompts, tmp) if args.side == "ours" else _run_trl(args, prompts, tmp)
    print_result(out, args.batch_size * args.group_size)


def _describe_run(run: dict) -> str:
    lengths = run["completion_tokens"]
    line = (f"completion tokens per rollout: mean {statistics.mean(lengths):.1f} "
            f"(per step {' '.join(f'{x:.1f}' for x in lengths)})")
    if "trl_tokenisation_matches" in run:
        line += (f"; TRL's own prompt tokenisation equals ours on {run['trl_tokenisation_matches']} prompts "
                 "(the check uses ours)")
    return line


def _summarize(runs: dict) -> list[str]:
    ours, theirs = runs["ours"][0], runs["trl"][0]
    same_ids = ours["ids_digest"] == theirs["ids_digest"]
    a, b = ours["token_logps"], theirs["token_logps"]
    logp_diff = max(abs(x - y) for x, y in zip(a, b)) if len(a) == len(b) and a else math.nan
    grad_rel = abs(ours["grad_norm"] - theirs["grad_norm"]) / max(theirs["grad_norm"], 1e-30)
    tokens = {s: statistics.median(statistics.mean(r["completion_tokens"]) for r in runs[s]) for s in runs}
    return [
        f"fixed rollouts ({ours['check_tokens']} completion tokens): token ids "
        f"{'identical' if same_ids else 'DIFFERENT'} on both sides; per-token log-prob max abs diff "
        f"{logp_diff:.3e} ({'OK' if logp_diff <= 1e-4 else 'MISMATCH'} at 1e-4); LoRA grad norm of the loss "
        f"ours {ours['grad_norm']:.6e} TRL {theirs['grad_norm']:.6e} (rel diff {grad_rel:.2e})",
        f"completion tokens per rollout (median of run means): ours {tokens['ours']:.1f}, TRL {tokens['trl']:.1f} "
        f"(ratio {tokens['ours'] / tokens['trl']:.2f}: rollouts/s compares equal work only near 1)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, unit="prompts", examples_help=f"prompts in the dataset (the first N of {PROMPTS}, cycled)")
    parser.add_argument("--group-size", type=int, default=4, help="completions per prompt (G, TRL num_generations)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="most tokens a completion has (both sides)")
    parser.add_argument("--beta", type=float, default=0.0,
                        help="KL weight (0: no reference; > 0: reference = adapter off, both sides)")
    parser.add_argument("--kl-importance-weighted", action="store_true",
                        help="the KL term times the ratio on both sides (DeepSeek-V3.2; TRL's default); "
                             "default: the plain k3 on both")
    args = parser.parse_args()
    require_trl("grpo_vs_trl.py")
    if args.steps < 2:
        parser.error("--steps must be >= 2 (step 1 is warm-up)")
    if args.group_size < 2:
        parser.error("--group-size must be >= 2")
    if args.side:
        _side(args)
        return
    extra = ("--group-size", str(args.group_size), "--max-new-tokens", str(args.max_new_tokens), "--beta", str(args.beta),
             *(("--kl-importance-weighted",) if args.kl_importance_weighted else ()))
    compare(__file__, args, f"LoRA r=16 alpha=32 dropout=0 all-linear, GRPO group_size={args.group_size} "
            f"({args.batch_size * args.group_size} rollouts a step) max_new_tokens={args.max_new_tokens} "
            f"temperature=1 top_p=1 loss_type=grpo beta={args.beta} "
            f"KL {'x ratio' if args.kl_importance_weighted else 'plain k3'} num_iterations=1, AdamW lr={LR} constant, "
            f"prompts {PROMPTS}, synthetic long-cinematic 8x32x32, reward VQ+TC+0.5DD+1.3TVA (cache on)",
            unit="rollouts", describe_run=_describe_run, extra_argv=extra, summarize=_summarize)


if __name__ == "__main__":
    main()
