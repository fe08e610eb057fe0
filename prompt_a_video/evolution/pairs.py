"""Preference pairs for DPO from the SFT refiner's own samples (stage 3, `pav pairs`).

For each prompt of a set the refiner was not fine-tuned on (default ``pav:dpo``, disjoint
from the SFT sources ``pav:evolution``): sample ``n`` rewrites from the refiner, render
each with the backbone for every seed in ``seeds``, score it against the ORIGINAL prompt,
average the scores over the seeds (so one seed's noise does not decide a pair), and let
the pair rule (``rule:``, by class_path) pick (chosen, rejected) pairs::

    pav pairs -c experiments/pairs/synthetic.yaml --refiner runs/sft/export/merged --out runs/pairs/pairs.jsonl

Output:
- ``OUT`` with suffix ``.done.jsonl`` (``pairs.done.jsonl``): one record per processed
  prompt, also those that gave no pair: ``{"prompt", "sampled", "candidates", "failed",
  "pairs", "best_reward", "failures", "pair_records"}``, appended and flushed prompt by
  prompt (per-rank shards ``pairs.done.rank{r}.jsonl`` while running, merged in the order
  of the prompt set). A rerun skips the prompts listed there, so a prompt's pairs always
  come from one sampling;
- ``OUT`` (e.g. ``pairs.jsonl``): DESIGN.md's preference pairs, one a line, written from
  the sidecar at the end of the run.

Prompts are sampled in fixed chunks of ``sample_batch`` (seeded by the chunk), so
``--trainer.devices 2 --trainer.strategy ddp`` writes the same pairs as one process.
A candidate that fails to render or score is recorded in ``failures`` and takes no part
in a pair; the other candidates and prompts go on.
Counts and margins go to MLflow (``tracked_stage("pairs")``, metrics ``pairs/*``).
Renders and scores go through the render cache unless ``use_cache`` is false.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import zlib
from pathlib import Path
from typing import Any

from prompt_a_video.evolution.pair_rules import PairRule, PaperPairRule, ScoredCandidate
from prompt_a_video.generators.base import Generator
from prompt_a_video.refiner.rewriters import RefinerRewrite, RewriteMethod
from prompt_a_video.rewards.base import Reward
from prompt_a_video.scoring.distributed import TrainerOptions
from prompt_a_video.tracking import StageRun

log = logging.getLogger(__name__)

__all__ = ["sample_pairs", "done_path"]


def done_path(out: str | os.PathLike) -> Path:
    """The sidecar of processed prompts: ``pairs.jsonl`` -> ``pairs.done.jsonl``."""
    return Path(out).with_suffix(".done.jsonl")


def sample_pairs(
    generator: Generator,
    reward: Reward,
    out: str,
    refiner: str | None = None,
    prompts: str = "pav:dpo",
    rule: PairRule | None = None,
    n: int = 8,
    temperature: float = 0.9,
    top_p: float = 0.95,
    max_new_tokens: int = 256,
    seeds: list[int] | None = None,
    include_original: bool = False,
    sample_seed: int = 0,
    sample_batch: int = 8,
    batch_size: int = 8,
    limit: int | None = None,
    sampler: RewriteMethod | None = None,
    device: str | None = None,
    use_cache: bool = True,
    cache_root: str | None = None,
    errors: str = "raise",
    trainer: TrainerOptions = TrainerOptions(),  # never mutated; jsonargparse gives --trainer.* options
    experiment: str = "pairs",
    record: StageRun | None = None,
) -> dict[str, float]:
    """Sample rewrites from the refiner, render and score them, keep preference pairs.

    Args:
        generator: the text-to-video backbone, by class_path.
        reward: the reward set, by class_path; must give an aggregate ``reward`` (a
            CompositeReward). Scores are against the ORIGINAL prompt.
        out: the pairs file (``.jsonl``); its sidecar ``.done.jsonl`` lists processed prompts.
        refiner: the SFT refiner: an export folder (or its ``merged/``), an HF folder, or
            an offline asset name for the base model. Not needed when ``sampler`` is given.
        prompts: the source prompts: a .txt/.jsonl file or a named set; keep it disjoint
            from the SFT sources (default ``pav:dpo``).
        rule: the pair rule, by class_path (default: ``PaperPairRule()``, the paper's
            margin and floors, which need the paper's reward dimensions).
        n: candidates sampled per prompt (>= 1; duplicates count once).
        temperature: sampling temperature of the refiner (>= 0; 0: greedy, one candidate).
        top_p: nucleus sampling mass, in (0, 1].
        max_new_tokens: longest candidate, in tokens (>= 1).
        seeds: render seeds, distinct ints >= 0; scores are averaged over them per
            dimension and aggregate (default ``[0]``). A candidate that fails under any
            seed is failed.
        include_original: also score the original prompt itself as a candidate, so an
            unrefined prompt can be the rejected (or, if it wins, the chosen) side: this
            teaches "refine rather than copy" but also lets DPO prefer copying when the
            original renders best. Off by default: pairs compare the refiner's own samples.
        sample_seed: seeds sampling; a chunk of prompts is sampled with ``sample_seed``
            plus a hash of its prompts, so a rerun on the same prompts samples the same.
        sample_batch: prompts per sampling call (>= 1).
        batch_size: videos per generate/score call (>= 1).
        limit: only the first N prompts of the set (>= 1; null: all).
        sampler: where candidates come from, by class_path: any
            :class:`~prompt_a_video.refiner.rewriters.RewriteMethod` (default:
            ``RefinerRewrite(refiner)`` with ``temperature``, ``top_p``, ``max_new_tokens``,
            unguarded); tests inject a fake one here.
        device: where the refiner runs (default CPU).
        use_cache: go through the render-and-score cache.
        cache_root: cache folder (default $PAV_CACHE_DIR/render-cache).
        errors: `raise` on a malformed prompt line, or `skip` it with a warning.
        trainer: processes and devices (``--trainer.devices 2 --trainer.strategy ddp``): the
            prompts, their sampling and their renders are split over the ranks.
        experiment: MLflow experiment name.
        record: what the stage's MLflow run records (the command line's config, or the
            pipeline's section).

    Returns:
        the summary logged to MLflow (over the whole output, resumed prompts included)
        and the ``out`` path; {} on ranks other than 0.
    """
    from prompt_a_video.data.prompts import load_prompts
    from prompt_a_video.scoring import ScoringEngine, ScoringSettings
    from prompt_a_video.scoring.distributed import make_trainer, rank_zero_tracked, run_sharded

    # Every setting, and where the refiner is, is checked before a model loads or a file
    # (or an MLflow run) is written.
    seeds, rule = check_pairs_settings(reward, dict(locals()))
    sample_from_refiner = sampler is None
    if sample_from_refiner:
        if not refiner:
            raise ValueError("pav pairs: give --refiner (an SFT export folder or a model) or a sampler")
        sampler = RefinerRewrite(refiner, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                                 batch_size=sample_batch, device=device)
    out_path = Path(out)
    if out_path.suffix != ".jsonl":
        raise ValueError(f"pav pairs: --out {out} must be a .jsonl file")
    items = load_prompts(prompts, limit=limit, errors=errors)
    if sample_from_refiner:
        _check_refiner(refiner)
    originals = list(dict.fromkeys(item.prompt for item in items))
    output = done_output(out_path)
    _check_sidecar(out_path)
    engine = ScoringEngine(generator, reward, ScoringSettings(batch_size, use_cache, cache_root))

    def process(chunk: list[str]) -> list[dict]:
        seed = sample_seed + zlib.crc32("\n".join(chunk).encode("utf-8"))
        sampled = sampler.rewrite(chunk, n, seed=seed)
        if len(sampled) != len(chunk):
            raise RuntimeError(f"{sampler.description} returned {len(sampled)} lists for {len(chunk)} prompts")
        return [_prompt_record(engine, rule, prompt, texts, include_original, seeds)
                for prompt, texts in zip(chunk, sampled)]

    runner = make_trainer(trainer, out_path.parent)
    if runner.is_global_zero:
        _warn_overlap(originals)
        left = len(set(originals) - output.done())
        log.info("pairs: %d prompts, %d already done (%s); rule %s; sampler %s", len(originals),
                 len(originals) - left, output.out, rule.description, sampler.description)
    params = {"rule": rule.description, "sampler": sampler.description, "n": n, "seeds": seeds,
              "temperature": temperature, "top_p": top_p, "prompts": prompts}
    with rank_zero_tracked(runner, "pairs", params, record=record, experiment=experiment) as mlflow:
        run_sharded(runner, originals, originals, process, output, chunk_size=sample_batch,
                    desc="sample+render+score", unit="prompt")
        if not runner.is_global_zero:
            return {}
        _write_pairs(out_path, output.records())
        summary = summarize(out_path, output.out)
        mlflow.log_metrics({f"pairs/{k}": v for k, v in summary.items() if not math.isnan(v)})
        if out_path.stat().st_size:
            mlflow.log_artifact(str(out_path))
    return {**summary, "out": str(out_path)}


def check_pairs_settings(reward: Reward, options: dict[str, Any]) -> tuple[list[int], PairRule]:
    """Check the settings of :func:`sample_pairs` (``options``: its arguments by name,
    missing ones taking its defaults) against ``reward`` before a model loads or a file is
    written; returns the seeds and the pair rule they make. `pav pipeline` calls it before
    its first stage (the refiner, made by the SFT stage, is checked when pairs start)."""
    import inspect

    from prompt_a_video.data.prompts import check_limit, check_seeds
    from prompt_a_video.data.validation import is_count
    from prompt_a_video.refiner.generation import check_sampling

    signature = inspect.signature(sample_pairs)
    settings = {name: options.get(name, parameter.default) for name, parameter in signature.parameters.items()}
    for name in ("n", "sample_batch", "batch_size"):
        value = settings[name]
        if not is_count(value, 1):
            raise ValueError(f"pav pairs: {name} must be an int >= 1, got {value!r}")
    seeds = check_seeds(settings["seeds"])
    check_limit(settings["limit"])
    rule = settings["rule"] if settings["rule"] is not None else PaperPairRule()
    if settings["sampler"] is None:
        check_sampling(temperature=settings["temperature"], top_p=settings["top_p"],
                       max_new_tokens=settings["max_new_tokens"])
    if "reward" not in reward.dimensions:
        raise ValueError(f"pav pairs: the reward {type(reward).__name__} gives no aggregate 'reward' "
                         f"(dimensions {list(reward.dimensions)}); use a CompositeReward")
    rule.check_dimensions(tuple(reward.dimensions))
    return seeds, rule


def _check_refiner(refiner: str) -> None:
    """The refiner is where it is said to be, and is a model folder: an export of `pav export`
    (``refiner.json``), its ``merged/`` or ``adapter/``, or an HF model folder (an asset
    name is its folder; a hub id ``org/name`` is left to the hub). Reads no weights."""
    from prompt_a_video.refiner import Refiner
    from prompt_a_video.refiner.export import REFINER_FILE

    path = Refiner(refiner).path  # a missing folder: FileNotFoundError naming it
    markers = (REFINER_FILE, "config.json", "adapter_config.json")
    if path is not None and not any((path / name).is_file() for name in markers):
        raise FileNotFoundError(f"pav pairs: --refiner {refiner}: not a refiner folder: it has no {markers[0]}, "
                                f"{markers[1]} or {markers[2]} (expected an export folder of `pav export`, its "
                                "merged/ or adapter/, an HF causal-LM folder or an offline asset name)")


def _candidate_texts(prompt: str, sampled: list[str], include_original: bool) -> list[str]:
    """Distinct non-empty candidates in sampled order; the original first if asked for."""
    texts = [t.strip() for t in sampled if isinstance(t, str) and t.strip()]
    if include_original:
        texts.insert(0, prompt)
    return list(dict.fromkeys(texts))


def _prompt_record(engine, rule: PairRule, prompt: str, sampled: list[str], include_original: bool,
                   seeds: list[int]) -> dict:
    """Score one prompt's candidates (means over the seeds, against the ORIGINAL prompt),
    apply the rule: the sidecar record, with the kept pairs under ``"pair_records"``."""
    from prompt_a_video.data.jsonl import to_jsonable
    from prompt_a_video.scoring import Item, average_over_seeds

    texts = _candidate_texts(prompt, sampled, include_original)
    results = engine.score([Item(text, prompt, seed, key=text) for seed in seeds for text in texts])
    means = average_over_seeds(results)
    candidates = [ScoredCandidate(m.text, m.scores, m.reward, m.passes_floors, m.seeds) for m in means]
    kept = rule.pairs(prompt, candidates)
    rewards = [c.reward for c in candidates if not c.failed]
    return {"prompt": prompt, "sampled": len(sampled), "candidates": len(candidates),
            "failed": sum(c.failed for c in candidates), "pairs": len(kept),
            "best_reward": max(rewards) if rewards else None,
            "failures": [f"{m.text[:80]!r}: {m.failure}" for m in means if m.failed],
            "pair_records": [to_jsonable(pair) for pair in kept]}


def done_output(out: Path):
    """The sidecar ``pairs.done.jsonl`` with its per-rank shards, keyed by prompt."""
    from prompt_a_video.scoring.shards import ShardedOutput

    return ShardedOutput(done_path(out), key=lambda record: record["prompt"], what="pav pairs: sidecar")


def _check_sidecar(out: Path) -> None:
    if out.exists() and out.stat().st_size and not done_path(out).exists():
        raise FileExistsError(f"{out} exists but its sidecar {done_path(out)} does not, so it is unknown which "
                              "prompts it covers; move the file away (or delete it) to start afresh")


def _write_pairs(out: Path, records: list[dict]) -> None:
    """``OUT``: every prompt's pairs in the order of the sidecar, written atomically.

    A sidecar written before the pairs travelled in it (no ``pair_records``) keeps the
    pairs its prompt already has in ``OUT``."""
    from prompt_a_video.data import JsonlWriter

    earlier: dict[str, list[bytes]] = {}
    if any("pair_records" not in r for r in records) and out.exists():
        for line in out.read_bytes().splitlines():
            try:
                earlier.setdefault(json.loads(line)["prompt"], []).append(line)
            except (ValueError, KeyError, TypeError):  # the line a kill cut off
                continue
    tmp = out.with_name(f".{out.name}.tmp")
    with JsonlWriter(tmp) as writer:
        for record in records:
            if "pair_records" in record:
                writer.write_many(record["pair_records"])
            else:
                writer.write_many(json.loads(line) for line in earlier.get(record["prompt"], []))
    os.replace(tmp, out)


def _warn_overlap(prompts: list[str]) -> None:
    """Pairs from SFT or evaluation prompts leak: say so (the shipped splits only)."""
    from prompt_a_video.data import load_prompts

    mine = set(prompts)
    for split, role in (("evolution", "SFT sources"), ("eval", "in-domain evaluation prompts")):
        overlap = mine.intersection(item.prompt for item in load_prompts(f"pav:{split}"))
        if overlap:
            log.warning("pairs: %d of the %d prompts are %s (pav:%s); pairs should come from other prompts "
                        "(pav:dpo)", len(overlap), len(prompts), role, split)


def summarize(out: Path, sidecar: Path) -> dict[str, float]:
    """Counts and margins over the whole output: ``prompts``, ``prompts_zero_pairs``,
    ``pairs``, ``pairs_per_prompt``, ``candidates``, ``failed_candidates``, ``margin_mean``,
    ``margin_median``, ``chosen_reward_mean``, ``rejected_reward_mean`` (NaN when undefined)."""
    from prompt_a_video.data import iter_jsonl, iter_pairs

    records = [rec for _, rec in iter_jsonl(sidecar)] if sidecar.exists() and sidecar.stat().st_size else []
    found = list(iter_pairs(out)) if out.exists() and out.stat().st_size else []
    margins = [p.chosen_reward - p.rejected_reward for p in found
               if p.chosen_reward is not None and p.rejected_reward is not None]
    nan = float("nan")
    n_prompts = len(records)
    return {
        "prompts": float(n_prompts),
        "prompts_zero_pairs": float(sum(1 for r in records if not r.get("pairs"))),
        "pairs": float(len(found)),
        "pairs_per_prompt": len(found) / n_prompts if n_prompts else nan,
        "candidates": float(sum(r.get("candidates", 0) for r in records)),
        "failed_candidates": float(sum(r.get("failed", 0) for r in records)),
        "margin_mean": statistics.fmean(margins) if margins else nan,
        "margin_median": statistics.median(margins) if margins else nan,
        "chosen_reward_mean": statistics.fmean(p.chosen_reward for p in found) if margins else nan,
        "rejected_reward_mean": statistics.fmean(p.rejected_reward for p in found) if margins else nan,
    }
