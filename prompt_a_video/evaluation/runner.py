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
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prompt_a_video.evaluation.methods import RewriteMethod
from prompt_a_video.rewards.text.checks import TextChecks
from prompt_a_video.scoring.engine import ScoringEngine

log = logging.getLogger(__name__)

REWRITE_CHUNK = 16  # prompts per rewrite call: small enough that a crash loses little


def _key(method: str, prompt: str, sample: int) -> str:
    return f"{method}\x1f{prompt}\x1f{sample}"


def _record_key(record: dict) -> str:
    return _key(record["method"], record["prompt"], record["sample"])


def _output(path: Path, failed=lambda record: False, outdated=lambda record: False):
    from prompt_a_video.scoring.shards import ShardedOutput

    return ShardedOutput(path, key=_record_key, failed=failed, what="evaluate:", outdated=outdated)


def write_rewrites(methods: Mapping[str, RewriteMethod], prompts: list[str], samples: int, path: Path,
                   seed: int = 0, runner=None) -> list[dict[str, Any]]:
    """Ask each method for ``samples`` rewrites of every prompt not yet in ``path``.

    The prompts are cut into fixed chunks of :data:`REWRITE_CHUNK` (the same however many
    ranks share the work), each sampled with ``seed`` plus a hash of its prompts, so one
    process and several write the same rewrites, and a rerun resumes chunk by chunk.
    """
    from prompt_a_video.scoring.distributed import TrainerOptions, make_trainer, run_sharded

    runner = runner or make_trainer(TrainerOptions(), path.parent)
    output = _output(path)
    order = [_key(name, p, i) for name in methods for p in prompts for i in range(samples)]  # table order
    for name, method in methods.items():
        keys = [tuple(_key(name, p, i) for i in range(samples)) for p in prompts]

        def process(chunk: list[str], name=name, method=method) -> list[dict]:
            return _rewrite_chunk(name, method, chunk, samples, seed)

        run_sharded(runner, prompts, keys, process, output, chunk_size=REWRITE_CHUNK, desc=f"rewrite {name}",
                    unit="prompt", merge_order=order)
        method.close()
    wanted, asked = set(methods), set(prompts)
    return [r for r in output.records() if r["method"] in wanted and r["prompt"] in asked]


def _rewrite_chunk(name: str, method: RewriteMethod, chunk: list[str], samples: int, seed: int) -> list[dict]:
    rewritten = method.rewrite(chunk, samples, seed=seed + zlib.crc32("\n".join(chunk).encode("utf-8")))
    if len(rewritten) != len(chunk) or any(len(r) != samples for r in rewritten):
        raise RuntimeError(f"method {name!r} ({method.description}) returned "
                           f"{[len(r) for r in rewritten]} rewrites for {len(chunk)} prompts x {samples}")
    return [{"method": name, "prompt": prompt, "sample": i, "text": text.strip() or prompt}
            for prompt, texts in zip(chunk, rewritten) for i, text in enumerate(texts)]


def render_and_score(rewrites: list[dict[str, Any]], engine: ScoringEngine, out: Path, seeds: list[int],
                     save_videos: bool = True, runner=None, retry_failed: bool = False) -> list[dict[str, Any]]:
    """Render each rewrite with its sample's seed, score it against its original prompt.

    Work is ordered by sample (so a batch shares a seed), then method, then prompt; it is
    spread over ``runner``'s ranks and merged into ``out/scores.jsonl`` in that order.
    """
    from prompt_a_video.scoring import Item
    from prompt_a_video.scoring.distributed import TrainerOptions, make_trainer, run_sharded

    from prompt_a_video.scoring.items import video_is_gone

    runner = runner or make_trainer(TrainerOptions(), out)
    # the report shows the videos: a deleted or cut MP4 is rendered again
    output = _output(out / "scores.jsonl", failed=lambda record: record.get("failure") is not None,
                     outdated=lambda record: save_videos and video_is_gone(out, record))
    work = sorted(rewrites, key=lambda r: r["sample"])  # stable: method and prompt order kept
    by_key = {_record_key(r): r for r in work}
    video_dir = out / "videos" if save_videos else None

    def process(batch: list[dict]) -> list[dict]:
        items = [Item(r["text"], r["prompt"], seeds[r["sample"]], _record_key(r)) for r in batch]
        return [{**by_key[s.item.key], "seed": s.item.seed, "scores": s.json_scores(), "reward": s.reward,
                 "failure": s.failure, "video": f"videos/{s.video_file}" if s.video_file else None}
                for s in engine.score(items, video_dir=video_dir)]

    run_sharded(runner, work, list(by_key), process, output, chunk_size=engine.settings.batch_size or len(work) or 1,
                retry_failed=retry_failed, desc="render+score", unit="video")
    return [r for r in output.records() if _record_key(r) in by_key]


def evaluate_methods(
    methods: Mapping[str, RewriteMethod],
    prompts: list[str],
    engine: ScoringEngine,
    out: str | Path,
    *,
    seeds: list[int],
    prompt_set: str,
    embed: Callable | None = None,
    runner=None,
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
        engine: renders and scores (the backbone, the reward set, batching and cache).
        out: the output folder.
        seeds: render seeds; each method writes ``len(seeds)`` samples per prompt.
        prompt_set: what the prompts are (recorded in metrics.json and the report).
        embed: sentence embedding ``texts -> [N, D]`` (L2-normalised) for fidelity and
            diversity; None leaves them out.
        runner: the predict Trainer whose ranks share the rewriting and rendering (default:
            one process); only rank 0 writes the metrics and the report.
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
    from prompt_a_video.generators.targets import token_counter_for
    from prompt_a_video.evaluation.text_checks import default_text_checks, rewrite_verdicts

    if not prompts:
        raise ValueError(f"evaluate: the prompt set {prompt_set} is empty")
    if not seeds:
        raise ValueError("evaluate: give at least one seed")
    from prompt_a_video.scoring.distributed import TrainerOptions, make_trainer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runner = runner or make_trainer(TrainerOptions(), out)
    rewrites = write_rewrites(methods, prompts, len(seeds), out / "rewrites.jsonl", seed=rewrite_seed, runner=runner)
    records = render_and_score(rewrites, engine, out, seeds, save_videos=save_videos, runner=runner)
    if not runner.is_global_zero:  # rank 0 writes the metrics and the report
        return {}
    generator, reward = engine.generator, engine.reward
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
