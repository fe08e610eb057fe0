"""Render a prompt set with one backbone and score it with one reward set (`pav render`).

The quickest way to look at what a (generator, reward) configuration does, and the
building block of evolution and evaluation. Both components are chosen in YAML by
``class_path``, so switching backbone or reward set is a config change only::

    pav render -c experiments/render/synthetic.yaml --prompts prompts.txt --out out/render

Output (``--out DIR``):
- ``DIR/scores.jsonl``: one record per (prompt, seed): ``{"id", "prompt", "seed",
  "video", "scores": {dim: float}, "reward", "failure", "meta"}``, appended and flushed
  record by record (per-rank shards ``scores.rank{r}.jsonl`` while running, merged in
  the order of the prompt set at the end); a rerun skips the (prompt, seed) pairs
  already there. ``--trainer.devices 2 --trainer.strategy ddp`` splits the work over two
  processes and writes the same records.
- ``DIR/videos/*.mp4`` when ``save_videos`` (H.264 where available).
Renders and scores go through the render cache unless ``use_cache`` is false.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path

from prompt_a_video.generators.base import Generator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.scoring.distributed import TrainerOptions
from prompt_a_video.scoring.items import FLOORS_KEY, Scored, video_is_gone
from prompt_a_video.tracking import StageRun

log = logging.getLogger(__name__)


def record_id(prompt: str, seed: int) -> str:
    return f"s{seed}:{prompt}"


def scores_output(out_dir: Path):
    """``DIR/scores.jsonl`` with its per-rank shards, keyed by record id; a record whose
    video was deleted or cut short since is not done (a rerun renders it again)."""
    from prompt_a_video.scoring.shards import ShardedOutput

    return ShardedOutput(out_dir / "scores.jsonl", key=lambda record: record["id"],
                         failed=lambda record: record.get("failure") is not None, what="render: scores",
                         outdated=lambda record: video_is_gone(out_dir, record))


def render_record(scored: Scored) -> dict:
    """One line of ``scores.jsonl``; ``scores`` keeps the floor flag as 1.0/0.0 so the
    summary's ``passes_floors`` is the share of videos above the floors."""
    scores = scored.json_scores()
    if scored.passes_floors is not None:
        scores[FLOORS_KEY] = float(scored.passes_floors)
    item = scored.item
    return {"id": item.key, "prompt": item.text, "seed": item.seed,
            "video": f"videos/{scored.video_file}" if scored.video_file else None,
            "scores": scores, "reward": scored.reward, "failure": scored.failure, "meta": scored.meta}


def render_prompt_set(
    generator: Generator,
    reward: Reward,
    prompts: str,
    out: str,
    seeds: list[int] | None = None,
    batch_size: int = 8,
    limit: int | None = None,
    save_videos: bool = True,
    use_cache: bool = True,
    cache_root: str | None = None,
    errors: str = "raise",
    retry_failed: bool = False,
    trainer: TrainerOptions = TrainerOptions(),  # never mutated; jsonargparse gives --trainer.* options
    experiment: str = "render",
    record: StageRun | None = None,
) -> dict[str, float]:
    """Render a prompt set with a backbone and score every video with a reward set.

    Args:
        generator: the text-to-video (or text-to-image) backbone, by class_path.
        reward: the reward set (e.g. a CompositeReward), by class_path; scores are against
            the prompt as given (rendering a prompt as its own original).
        prompts: a prompt set: a .txt or .jsonl file, or `vbench[:dimension,...]`.
        out: output folder (scores.jsonl, videos/).
        seeds: seeds to render each prompt with, distinct ints >= 0 (default [0]).
        batch_size: prompts per generate/score call (>= 1).
        limit: only the first N prompts of the set (>= 1; null: all).
        save_videos: also write each video as MP4.
        use_cache: go through the render-and-score cache.
        cache_root: cache folder (default $PAV_CACHE_DIR/render-cache).
        errors: `raise` on a malformed prompt line, or `skip` it with a warning.
        retry_failed: render again the (prompt, seed) pairs an earlier run recorded as failed.
        trainer: processes and devices (``--trainer.devices 2 --trainer.strategy ddp``).
        experiment: MLflow experiment name.
        record: what the stage's MLflow run records (the command line's config).

    Returns:
        the mean of every score dimension and of `reward`, plus `n` and `failed`, and the
        output path as ``scores`` (rank 0; {} on the other ranks).
    """
    from prompt_a_video.data.prompts import check_limit, check_seeds, load_prompts
    from prompt_a_video.data.validation import is_count
    from prompt_a_video.scoring import Item, ScoringEngine, ScoringSettings
    from prompt_a_video.scoring.distributed import make_trainer, rank_zero_tracked, run_sharded

    # Every setting is checked before a prompt is read, a model loaded or a file written.
    seeds = check_seeds(seeds)
    check_limit(limit)
    if not is_count(batch_size, 1):
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    items = load_prompts(prompts, limit=limit, errors=errors)
    out_dir = Path(out)
    output = scores_output(out_dir)
    engine = ScoringEngine(generator, reward, ScoringSettings(batch_size, use_cache, cache_root))
    work = [Item(item.prompt, item.prompt, seed, record_id(item.prompt, seed)) for seed in seeds for item in items]
    work = list({w.key: w for w in work}.values())  # a repeated prompt is rendered once

    def process(batch: list[Item]) -> list[dict]:
        return [render_record(s) for s in engine.score(batch, video_dir=out_dir / "videos" if save_videos else None)]

    runner = make_trainer(trainer, out_dir)
    if runner.is_global_zero:
        out_dir.mkdir(parents=True, exist_ok=True)
        log.info("render: %d (prompt, seed) pairs, %d already in %s", len(work),
                 len(output.done(retry_failed=retry_failed) & {w.key for w in work}), output.out)
    with rank_zero_tracked(runner, "render", record=record, experiment=experiment) as mlflow:
        run_sharded(runner, work, [w.key for w in work], process, output, chunk_size=batch_size,
                    retry_failed=retry_failed, desc="render+score", unit="video")
        if not runner.is_global_zero:
            return {}
        summary = summarize(output.out) if output.out.exists() else {"n": 0.0, "failed": 0.0}
        mlflow.log_metrics({k if k in ("n", "failed") else f"render/{k}": v for k, v in summary.items()})
        if output.out.exists():
            mlflow.log_artifact(str(output.out))
    log.info("render: %s", summary)
    return {**summary, "scores": str(output.out)}


def summarize(scores_path: Path) -> dict[str, float]:
    """Means of every dimension and of the reward over the successful records of a file."""
    from prompt_a_video.data import iter_jsonl

    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    n = failed = 0
    for _, rec in iter_jsonl(scores_path):
        n += 1
        if rec.get("failure"):
            failed += 1
            continue
        values = dict(rec.get("scores") or {})
        if rec.get("reward") is not None:
            values["reward"] = rec["reward"]
        for key, value in values.items():
            if value is not None and not math.isnan(value):
                sums[key] += value
                counts[key] += 1
    summary = {k: sums[k] / counts[k] for k in sums}
    summary.update(n=float(n), failed=float(failed))
    return summary
