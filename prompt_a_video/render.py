"""`pav render`: render a prompt set with one backbone and score it with one reward set.

The quickest way to look at what a (generator, reward) configuration does, and the
building block of evolution and evaluation. Both components are chosen in YAML by
``class_path``, so switching backbone or reward set is a config change only::

    pav render -c experiments/render/synthetic.yaml --prompts prompts.txt --out out/render

Output (``--out DIR``):
- ``DIR/scores.jsonl``: one record per (prompt, seed): ``{"id", "prompt", "seed",
  "video", "scores": {dim: float}, "reward", "failure", "meta"}``, appended and flushed
  record by record; a rerun skips the (prompt, seed) pairs already there.
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

log = logging.getLogger(__name__)


def record_id(prompt: str, seed: int) -> str:
    return f"s{seed}:{prompt}"


def video_filename(prompt: str, seed: int) -> str:
    import hashlib

    slug = "".join(c if c.isalnum() else "-" for c in prompt.lower())[:40].strip("-")
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    return f"{slug}-{digest}-s{seed}.mp4"


def render(
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
    experiment: str = "render",
) -> dict[str, float]:
    """Render a prompt set with a backbone and score every video with a reward set.

    Args:
        generator: the text-to-video (or text-to-image) backbone, by class_path.
        reward: the reward set (e.g. a CompositeReward), by class_path; scores are against
            the prompt as given (rendering a prompt as its own original).
        prompts: a prompt set: a .txt or .jsonl file, or `vbench[:dimension,...]`.
        out: output folder (scores.jsonl, videos/).
        seeds: seeds to render each prompt with (default [0]).
        batch_size: prompts per generate/score call.
        limit: only the first N prompts of the set.
        save_videos: also write each video as MP4.
        use_cache: go through the render-and-score cache.
        cache_root: cache folder (default $PAV_CACHE_DIR/render-cache).
        errors: `raise` on a malformed prompt line, or `skip` it with a warning.
        experiment: MLflow experiment name.

    Returns:
        the mean of every score dimension and of `reward`, plus `n` and `failed`.
    """
    from tqdm.auto import tqdm

    from prompt_a_video.data import JsonlWriter, iter_jsonl, load_prompts
    from prompt_a_video.stage_runner import tracked_stage

    seeds = [0] if not seeds else list(seeds)
    items = load_prompts(prompts, errors=errors)[:limit]
    out_dir = Path(out)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    scores_path = out_dir / "scores.jsonl"
    if use_cache:
        from prompt_a_video.cache import CachedGenerator, CachedReward, RenderCache

        cache = RenderCache(cache_root)
        generator, reward = CachedGenerator(generator, cache), CachedReward(reward, cache)

    writer = JsonlWriter(scores_path)  # opening repairs a line cut off by a killed run
    done = {rec["id"] for _, rec in iter_jsonl(scores_path)} if scores_path.stat().st_size else set()
    todo = [(seed, item.prompt) for seed in seeds for item in items if record_id(item.prompt, seed) not in done]
    log.info("render: %d (prompt, seed) pairs, %d already in %s", len(items) * len(seeds), len(done), scores_path)

    with tracked_stage("render", experiment=experiment) as mlflow, writer:
        progress = tqdm(total=len(todo), desc="render+score", unit="video")
        by_seed: dict[int, list[str]] = defaultdict(list)
        for seed, prompt in todo:
            by_seed[seed].append(prompt)
        for seed, seed_prompts in by_seed.items():
            for start in range(0, len(seed_prompts), batch_size):
                batch = seed_prompts[start:start + batch_size]
                videos = generator.generate(batch, seed)
                scores = reward.score(videos, batch)
                for i, (prompt, video) in enumerate(zip(batch, videos)):
                    name = None
                    if save_videos:
                        from prompt_a_video.video_io import write_mp4

                        name = f"videos/{video_filename(prompt, seed)}"
                        write_mp4(video, out_dir / name)
                    item_scores = scores.item(i)
                    total = item_scores.pop("reward", None)
                    writer.write({
                        "id": record_id(prompt, seed), "prompt": prompt, "seed": seed, "video": name,
                        "scores": item_scores,
                        "reward": None if total is None or math.isnan(total) else total,
                        "failure": scores.failures.get(i), "meta": video.meta,
                    })
                progress.update(len(batch))
        progress.close()
        summary = summarize(scores_path)
        mlflow.log_metrics({k if k in ("n", "failed") else f"render/{k}": v for k, v in summary.items()})
        mlflow.log_artifact(str(scores_path))
    log.info("render: %s", summary)
    print(f"render: {summary.get('n', 0):.0f} videos, mean reward {summary.get('reward', float('nan')):.4f}, "
          f"{summary.get('failed', 0):.0f} failed -> {scores_path}")
    return summary


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
