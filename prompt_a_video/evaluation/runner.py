"""One evaluation: methods x prompts x seeds -> rewrites, videos, scores, metrics, report.

Every method's prompts are rendered with the same seeds (sample ``i`` of a prompt with
``seeds[i]``) by the same generator and scored by the same rewards against the ORIGINAL
prompt, so differences between methods are paired. Files in ``out`` (each appended and
flushed record by record, so a rerun skips what is written and resumes):

- ``rewrites.jsonl``: ``{"method", "prompt", "sample", "text"}``;
- ``scores.jsonl``: ``{"method", "prompt", "sample", "seed", "text", "scores", "reward",
  "failure", "video"}`` (``video`` relative to ``out``);
- ``videos/*.mp4``; then ``metrics.json`` (DESIGN.md), ``table.md``, ``dimensions.png``,
  ``pool_curve.png`` (when a pool is given) and ``report.html``, rewritten at the end.

At the end every rewrite also goes through the text checks (``text_checks``: degenerate,
leaked, intent kept), which give the per-method rates, gate the win rate and mark the
failing samples in the report; its length is counted in the generator's text-encoder
tokens (``target_tokens``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prompt_a_video.evaluation.methods import RewriteMethod
from prompt_a_video.generators.base import Generator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.text.checks import TextChecks

log = logging.getLogger(__name__)

REWRITE_CHUNK = 16  # prompts per rewrite call: small enough that a crash loses little


def write_rewrites(methods: Mapping[str, RewriteMethod], prompts: list[str], samples: int, path: Path,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Ask each method for ``samples`` rewrites of every prompt not yet in ``path``."""
    from tqdm.auto import tqdm

    from prompt_a_video.data import JsonlWriter, iter_jsonl

    with JsonlWriter(path) as writer:  # opening repairs a line a killed run cut off
        records = [rec for _, rec in iter_jsonl(path)] if path.stat().st_size else []
        done = {(r["method"], r["prompt"]) for r in records}
        for name, method in methods.items():
            todo = [p for p in prompts if (name, p) not in done]
            if not todo:
                continue
            for start in tqdm(range(0, len(todo), REWRITE_CHUNK), desc=f"rewrite {name}", unit="chunk"):
                chunk = todo[start:start + REWRITE_CHUNK]
                rewritten = method.rewrite(chunk, samples, seed=seed)
                if len(rewritten) != len(chunk) or any(len(r) != samples for r in rewritten):
                    raise RuntimeError(f"method {name!r} ({method.description}) returned "
                                       f"{[len(r) for r in rewritten]} rewrites for {len(chunk)} prompts x {samples}")
                for prompt, texts in zip(chunk, rewritten):
                    for i, text in enumerate(texts):
                        record = {"method": name, "prompt": prompt, "sample": i, "text": text.strip() or prompt}
                        writer.write(record)
                        records.append(record)
            method.close()
    wanted = set(methods)
    return [r for r in records if r["method"] in wanted and r["prompt"] in set(prompts)]


def render_and_score(rewrites: list[dict[str, Any]], generator: Generator, reward: Reward, out: Path,
                     seeds: list[int], batch_size: int = 8, save_videos: bool = True) -> list[dict[str, Any]]:
    """Render each rewrite with its sample's seed, score it against its original prompt."""
    from tqdm.auto import tqdm

    from prompt_a_video.data import JsonlWriter, iter_jsonl
    from prompt_a_video.render import video_filename

    path = out / "scores.jsonl"
    (out / "videos").mkdir(parents=True, exist_ok=True)
    with JsonlWriter(path) as writer:
        records = [rec for _, rec in iter_jsonl(path)] if path.stat().st_size else []
        done = {(r["method"], r["prompt"], r["sample"]) for r in records}
        todo = [r for r in rewrites if (r["method"], r["prompt"], r["sample"]) not in done]
        progress = tqdm(total=len(todo), desc="render+score", unit="video")
        for seed_index, seed in enumerate(seeds):
            items = [r for r in todo if r["sample"] == seed_index]
            for start in range(0, len(items), batch_size):
                batch = items[start:start + batch_size]
                videos = generator.generate([r["text"] for r in batch], seed)
                scores = reward.score(videos, [r["prompt"] for r in batch])
                for i, (item, video) in enumerate(zip(batch, videos)):
                    name = None
                    if save_videos:
                        name = f"videos/{video_filename(item['text'], seed)}"
                        if not (out / name).exists():  # methods that agree share a file
                            from prompt_a_video.video_io import write_mp4

                            write_mp4(video, out / name)
                    values = scores.item(i)
                    total = values.pop("reward", None)
                    values.pop("passes_floors", None)
                    record = {**item, "seed": seed,
                              "scores": {k: None if math.isnan(v) else v for k, v in values.items()},
                              "reward": None if total is None or math.isnan(total) else total,
                              "failure": scores.failures.get(i), "video": name}
                    writer.write(record)
                    records.append(record)
                progress.update(len(batch))
        progress.close()
    keys = {(r["method"], r["prompt"], r["sample"]) for r in rewrites}
    return [r for r in records if (r["method"], r["prompt"], r["sample"]) in keys]


def evaluate_methods(
    methods: Mapping[str, RewriteMethod],
    prompts: list[str],
    generator: Generator,
    reward: Reward,
    out: str | Path,
    *,
    seeds: list[int],
    prompt_set: str,
    embed: Callable | None = None,
    batch_size: int = 8,
    rewrite_seed: int = 0,
    pool_path: str | Path | None = None,
    save_videos: bool = True,
    title: str | None = None,
    text_checks: TextChecks | None = None,
) -> dict[str, Any]:
    """Run one evaluation into ``out`` and return its metrics (also in ``out/metrics.json``).

    Args:
        methods: name -> rewrite method, in table order (``original`` first by convention).
        prompts: the original prompts (distinct).
        generator: the backbone; give it wrapped in the render cache to reuse renders.
        reward: the reward set (a CompositeReward gives the aggregate ``reward``).
        out: the output folder.
        seeds: render seeds; each method writes ``len(seeds)`` samples per prompt.
        prompt_set: what the prompts are (recorded in metrics.json and the report).
        embed: sentence embedding ``texts -> [N, D]`` (L2-normalised) for fidelity and
            diversity; None leaves them out.
        batch_size: videos per generate/score call.
        rewrite_seed: seeds the methods' sampling.
        pool_path: an evolved pool whose reward-per-iteration curve goes into the report.
        save_videos: write MP4s (the report shows them).
        title: the report's title.
        text_checks: the text checks of the rates and the win rule; default
            ``text_checks.default_text_checks()`` (fluency by the smollm2 asset when installed).
    """
    from prompt_a_video.evaluation.plots import plot_dimensions, plot_pool_curve
    from prompt_a_video.evaluation.report import write_report
    from prompt_a_video.evaluation.statistics import compute_metrics
    from prompt_a_video.evaluation.tables import markdown_table
    from prompt_a_video.evaluation.target_tokens import token_counter_for
    from prompt_a_video.evaluation.text_checks import default_text_checks, rewrite_verdicts

    if not prompts:
        raise ValueError(f"evaluate: the prompt set {prompt_set} is empty")
    if not seeds:
        raise ValueError("evaluate: give at least one seed")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rewrites = write_rewrites(methods, prompts, len(seeds), out / "rewrites.jsonl", seed=rewrite_seed)
    records = render_and_score(rewrites, generator, reward, out, seeds, batch_size=batch_size,
                               save_videos=save_videos)
    checks = text_checks if text_checks is not None else default_text_checks()
    verdicts = rewrite_verdicts([*rewrites, *records], checks)
    # After rendering: a diffusers pipeline is loaded by now, and its tokenizer is exact.
    tokens = token_counter_for(generator)
    metrics = compute_metrics(records, rewrites, embed, seeds=list(seeds), prompt_set=prompt_set, checks=checks,
                              verdicts=verdicts, tokens=tokens)
    metrics["method_descriptions"] = {name: method.description for name, method in methods.items()}
    metrics["backbone"] = generator.fingerprint
    metrics["reward_model"] = reward.fingerprint
    tmp = out / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(out / "metrics.json")
    (out / "table.md").write_text(markdown_table(metrics) + "\n", encoding="utf-8")
    plot_dimensions(metrics, out / "dimensions.png")
    if pool_path is not None and Path(pool_path).is_file():
        plot_pool_curve(pool_path, out / "pool_curve.png")
    write_report(out, metrics, records, rewrites, title=title or f"prompt-a-video evaluation: {prompt_set}",
                 verdicts=verdicts)
    log.info("evaluate: %s -> %s", prompt_set, out)
    return metrics
