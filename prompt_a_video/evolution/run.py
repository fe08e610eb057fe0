"""Reward-guided prompt evolution over a prompt set -> an evolved pool (`pav evolve`).

::

    pav evolve -c experiments/evolve/synthetic.yaml --prompts prompts.txt --out runs/evolve/pool.jsonl
    pav evolve -c ... --trainer.devices 2 --trainer.strategy ddp     # 2 processes, same pool

The generator, reward and operator are chosen in YAML by ``class_path``. The loop runs
as ``Trainer.predict`` (:mod:`~prompt_a_video.evolution.evolve_module`), so the
``trainer`` options spread the prompts over processes and nodes. Output: ``OUT``, one
pool record per source prompt in the order of the prompt set (DESIGN.md "File formats",
plus ``"error"`` for a source that failed), merged from per-rank shards at the end.
A killed run restarted with the same command skips the prompts already in ``OUT`` or a
shard and ends with the same bytes as an uninterrupted run. Resuming is keyed by source
prompt only: after changing the generator, reward or operator, write to another ``OUT``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from prompt_a_video.evolution.base import Operator
from prompt_a_video.generators.base import Generator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.scoring.distributed import TrainerOptions
from prompt_a_video.tracking import StageRun

log = logging.getLogger(__name__)


def evolve_prompts(
    generator: Generator,
    reward: Reward,
    operator: Operator,
    prompts: str,
    out: str,
    iterations: int = 4,
    proposals_per_iteration: int = 4,
    top_k: int = 4,
    seeds: list[int] | None = None,
    operator_seed: int = 0,
    keep_original_as_best: bool = False,
    batch_size: int = 4,
    render_batch_size: int | None = None,
    batch_across_prompts: bool = False,
    limit: int | None = None,
    use_cache: bool = True,
    cache_root: str | None = None,
    errors: str = "raise",
    retry_failed: bool = False,
    progress: bool = True,
    trainer: TrainerOptions = TrainerOptions(),  # never mutated; jsonargparse gives --trainer.* options
    experiment: str = "evolve",
    record: StageRun | None = None,
) -> dict[str, float]:
    """Evolve each source prompt with an operator, a backbone and a reward set into a pool.

    Args:
        generator: the text-to-video backbone the prompts are evolved for, by class_path.
        reward: the reward set, by class_path; must give an aggregate ``reward`` (a
            CompositeReward); its ``passes_floors`` decides which candidates may be best.
        operator: proposes rewrites from the original and the scored top-k, by class_path.
        prompts: the source prompt set: a .txt or .jsonl file (never VBench: it is the
            out-of-domain evaluation set).
        out: the evolved pool, a .jsonl file (shards ``OUT.rank{r}.jsonl`` beside it while running).
        iterations: K, rounds of proposals after the original (>= 1).
        proposals_per_iteration: N, prompts asked of the operator per round (>= 1).
        top_k: best scored prompts shown to the operator (>= 1).
        seeds: render seeds, distinct ints >= 0 (default [0]); with several, scores are
            averaged over seeds.
        operator_seed: base seed of the operator (derived per prompt and iteration).
        keep_original_as_best: allow the original as ``best`` when no rewrite beats it
            (default: best is null then, so SFT does not learn to copy).
        batch_size: source prompts evolved together per predict step (renders batched; >= 1).
        render_batch_size: most videos per generate/score call (default: all of a source's,
            or of a step's with batch_across_prompts).
        batch_across_prompts: render and score the candidates of all the step's prompts in
            shared calls (faster on GPUs; bit-identical resumes only with batch-invariant rewards).
        limit: only the first N prompts of the set (>= 1; null: all).
        use_cache: go through the render-and-score cache.
        cache_root: cache folder (default $PAV_CACHE_DIR/render-cache).
        errors: ``raise`` on a malformed prompt line, or ``skip`` it with a warning.
        retry_failed: evolve again the sources recorded with an ``error`` by an earlier run.
        progress: tqdm bars (prompts; iterations of the current batch) on rank 0.
        trainer: processes and devices (``--trainer.devices 2 --trainer.strategy ddp``).
        experiment: MLflow experiment name.
        record: what the stage's MLflow run records (the command line's config, or the
            pipeline's section).

    Returns:
        on rank 0, the pool statistics (``n_prompts``, ``n_with_best``, ``n_failed``,
        ``mean_candidates``, ``mean_original_reward``, ``mean_gain``) and
        ``best_reward/<i>`` per iteration, ``duplicates_dropped`` and the ``pool`` path;
        {} on the other ranks.
    """
    from prompt_a_video.data.prompts import load_prompts
    from prompt_a_video.evolution.evolve_module import evolve_batch
    from prompt_a_video.evolution.shards import pool_output
    from prompt_a_video.scoring.distributed import make_trainer, rank_zero_tracked, run_sharded

    out_path = Path(out)
    output = pool_output(out_path)  # validates the suffix before any work
    loop = check_evolve_settings(generator, reward, operator, dict(locals()))
    items = load_prompts(prompts, limit=limit, errors=errors)
    sources = list(dict.fromkeys(item.prompt for item in items))
    if len(sources) < len(items):
        log.warning("evolve: %s has %d repeated prompts; each is evolved once", prompts, len(items) - len(sources))
    runner = make_trainer(trainer, out_path.parent)
    if runner.is_global_zero:
        left = len(set(sources) - output.done(retry_failed=retry_failed))
        log.info("evolve: %d source prompts, %d left to evolve -> %s", len(sources), left, out)
    with rank_zero_tracked(runner, "evolve", record=record, experiment=experiment) as mlflow:
        mlflow.set_tags({"pav.evolve.backbone": generator.fingerprint[:5000],
                         "pav.evolve.reward": reward.fingerprint[:5000],
                         "pav.evolve.operator": operator.fingerprint[:5000]})
        report = run_sharded(runner, sources, sources, evolve_batch(loop, progress and runner.is_global_zero),
                             output, chunk_size=batch_size, retry_failed=retry_failed, desc="evolve", unit="prompt",
                             progress=progress)
        if not runner.is_global_zero:  # rank 0 reports
            return {}
        summary = _log_pool(mlflow, out_path, iterations)
    return {**summary, "duplicates_dropped": float(report.duplicates), "pool": str(out)}


def check_evolve_settings(generator: Generator, reward: Reward, operator: Operator, options: dict[str, Any]):
    """Check the settings of :func:`evolve_prompts` (``options``: its arguments by name,
    missing ones taking its defaults) before a prompt is read, a model loaded or a file
    written; returns the :class:`EvolutionLoop` they make, whose own checks ran. `pav
    pipeline` calls it before its first stage."""
    import inspect

    from prompt_a_video.data.prompts import check_limit
    from prompt_a_video.data.validation import is_count
    from prompt_a_video.evolution.loop import EvolutionLoop

    given = {name: options[name] for name in inspect.signature(evolve_prompts).parameters
             if name in options and name not in ("generator", "reward", "operator")}
    bound = inspect.signature(evolve_prompts).bind_partial(generator, reward, operator, **given)
    bound.apply_defaults()
    settings = bound.arguments
    check_limit(settings["limit"])
    batch_size = settings["batch_size"]
    if not is_count(batch_size, 1):
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    loop_settings = [name for name in inspect.signature(EvolutionLoop).parameters
                     if name not in ("generator", "reward", "operator")]
    return EvolutionLoop(generator, reward, operator, **{name: settings[name] for name in loop_settings})


def _log_pool(mlflow, out_path: Path, iterations: int) -> dict[str, float]:
    """Pool statistics and the best-so-far curve (metric per step, PNG) into the run."""
    import tempfile

    from prompt_a_video.data import iter_jsonl
    from prompt_a_video.evolution.pool_stats import best_so_far_curve, plot_curve, pool_statistics

    records = [rec for _, rec in iter_jsonl(out_path)] if out_path.exists() else []
    summary = pool_statistics(records)
    curve = best_so_far_curve(records, iterations)
    mlflow.log_metrics({f"evolve/{k}": v for k, v in summary.items() if not math.isnan(v)})
    for i, value in enumerate(curve):
        mlflow.log_metric("evolve/best_reward", value, step=i)
        summary[f"best_reward/{i}"] = value
    with tempfile.TemporaryDirectory() as tmp:
        if curve:
            png = Path(tmp) / "best_reward_curve.png"
            plot_curve(curve, png, title=f"{len(records)} prompts, mean best-so-far reward")
            mlflow.log_artifact(str(png))
    if out_path.exists():
        mlflow.log_artifact(str(out_path))
    log.info("evolve: %s", summary)
    return summary
