"""The render-and-score engine: items in, scored records out (DESIGN.md, "Scoring engine").

Every stage that renders goes through :class:`ScoringEngine`: ``pav render``, evolution,
``pav pairs``, ``pav evaluate`` and the validation callback. It owns

- the render cache (``use_cache``): a (generator, prompt, seed) is rendered once and a
  (video, reward, original) scored once, across stages and runs;
- batching: items are grouped by seed and rendered ``batch_size`` at a time, each chunk
  scored before the next is rendered (at most one chunk of videos in memory); a text
  asked for twice under one seed in one call is rendered once;
- failure isolation (:mod:`~prompt_a_video.scoring.isolation`): a failed item comes back
  with its reason (``"render: ..."``, ``"score: ..."``), the others are unaffected;
- floors and the aggregate: split from the reward's output into ``Scored.reward`` and
  ``Scored.passes_floors``; seed averaging: :func:`~prompt_a_video.scoring.items.average_over_seeds`;
- MP4s: with ``video_dir``, each rendered video is written there (once per file name).

Distribution over ranks is :mod:`~prompt_a_video.scoring.distributed`'s: each rank runs
an engine on its share of the work.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from prompt_a_video.scoring.isolation import render_isolated, score_isolated
from prompt_a_video.scoring.items import Item, Scored, from_values, video_filename

log = logging.getLogger(__name__)


@dataclass
class ScoringSettings:
    """How a stage renders and scores.

    Args:
        batch_size: most videos per generate/score call (None: all the items of a call
            under one seed at once).
        use_cache: go through the render-and-score cache.
        cache_root: the cache folder (default ``$PAV_CACHE_DIR/render-cache``).
    """

    batch_size: int | None = 8
    use_cache: bool = True
    cache_root: str | None = None

    def __post_init__(self) -> None:
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ValueError(f"scoring batch_size must be an int >= 1 or null, got {self.batch_size!r}")


class ScoringEngine:
    """Renders items with a generator and scores them with a reward (see the module doc).

    Args:
        generator: the backbone (a ``Generator``).
        reward: the reward set (a ``Reward``; a ``CompositeReward`` gives ``reward`` and
            ``passes_floors``).
        settings: batching and caching.
    """

    def __init__(self, generator, reward, settings: ScoringSettings | None = None) -> None:
        self.settings = settings or ScoringSettings()
        if self.settings.use_cache:
            from prompt_a_video.cache import CachedGenerator, CachedReward, RenderCache

            cache = RenderCache(self.settings.cache_root)
            generator, reward = CachedGenerator(generator, cache), CachedReward(reward, cache)
        self.generator, self.reward = generator, reward
        self.dimensions = tuple(reward.dimensions)

    def score(self, items: Sequence[Item], *, keep_videos: bool = False,
              video_dir: str | Path | None = None) -> list[Scored]:
        """One :class:`Scored` per item, in order."""
        out: list[Scored] = []
        for chunk in self.iter_scored(items, keep_videos=keep_videos, video_dir=video_dir):
            out.extend(chunk)
        by_item = {id(s.item): s for s in out}
        return [by_item[id(item)] for item in items]

    def iter_scored(self, items: Sequence[Item], *, keep_videos: bool = False,
                    video_dir: str | Path | None = None) -> Iterator[list[Scored]]:
        """The results chunk by chunk as they finish (seed by seed, in input order within a seed)."""
        by_seed: dict[int, dict[str, list[tuple[int, Item]]]] = {}  # seed -> text -> (position, item)
        for position, item in enumerate(items):
            by_seed.setdefault(int(item.seed), {}).setdefault(item.text, []).append((position, item))
        for seed, by_text in by_seed.items():
            texts = list(by_text)
            step = self.settings.batch_size or max(len(texts), 1)
            for start in range(0, len(texts), step):
                chunk_texts = texts[start:start + step]
                chunk = [item for _, item in sorted(pair for text in chunk_texts for pair in by_text[text])]
                yield self._render_and_score(chunk_texts, chunk, seed, keep_videos, video_dir)

    def _render_and_score(self, texts: list[str], items: list[Item], seed: int, keep_videos: bool,
                          video_dir: str | Path | None) -> list[Scored]:
        videos, render_failures = render_isolated(self.generator, texts, seed)
        video_of = {t: v for t, v in zip(texts, videos)}
        failure_of = {texts[i]: reason for i, reason in render_failures.items()}
        rendered = [item for item in items if video_of[item.text] is not None]
        outcomes = score_isolated(self.reward, [video_of[i.text] for i in rendered], [i.original for i in rendered])
        result_of = {id(item): outcome for item, outcome in zip(rendered, outcomes)}
        nan = {d: math.nan for d in self.dimensions}
        results = []
        for item in items:
            if item.text in failure_of:
                results.append(from_values(item, nan, f"render: {failure_of[item.text]}"))
                continue
            values, failure = result_of[id(item)]
            scored = from_values(item, {**nan, **values}, None if failure is None else f"score: {failure}")
            video = video_of[item.text]
            scored.meta = dict(getattr(video, "meta", {}) or {})
            scored.video = video if keep_videos else None
            if video_dir is not None:
                scored.video_file = self._write_video(video, item, Path(video_dir))
            results.append(scored)
        for scored in results:
            if scored.failed:
                log.warning("%r (seed %d) failed: %s", scored.item.text[:80], seed, scored.failure)
        return results

    @staticmethod
    def _write_video(video, item: Item, folder: Path) -> str | None:
        """The MP4's name under ``folder``; None when it cannot be written (e.g. no encoder
        in this FFmpeg build): the scores are kept."""
        from prompt_a_video.video_io import mp4_is_complete, write_mp4

        name = video_filename(item.text, item.seed)
        path = folder / name
        try:
            # items that render the same text share a file; one cut short since is rewritten
            if not mp4_is_complete(path):
                folder.mkdir(parents=True, exist_ok=True)
                write_mp4(video, path)
        except Exception as err:
            log.warning("could not write %s: %s", path, err)
            return None
        return name
