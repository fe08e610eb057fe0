"""`CachedGenerator`: any `Generator`, rendering only what the render cache does not hold."""

from __future__ import annotations

import copy
import json
import logging

from prompt_a_video.cache.keys import video_key
from prompt_a_video.cache.store import RenderCache
from prompt_a_video.generators.base import Generator
from prompt_a_video.video import Video

log = logging.getLogger(__name__)


class CachedGenerator(Generator):
    """Wraps a generator with the render cache; drop-in (same ``fingerprint``, same token limit).

    ``generate(prompts, seed)`` looks every (fingerprint, prompt, seed) up, renders the
    misses with the inner generator in one call per ``chunk_size`` prompts (a prompt that
    occurs twice in the batch is rendered once), stores each chunk as soon as it is
    rendered (a killed run keeps what it finished), and returns one video per prompt in
    the order given. A hit returns exactly the frames, fps and meta the miss returned: on
    a miss, ``meta`` goes through the same JSON round trip as the stored copy (tuples
    become lists), so a resumed run cannot tell hits from misses.

    Args:
        generator: the backbone that renders the misses.
        cache: where videos live (default: ``RenderCache()`` at ``$PAV_CACHE_DIR/render-cache``).
        chunk_size: most prompts per inner ``generate`` call; ``None``: all misses at once.
    """

    def __init__(self, generator: Generator, cache: RenderCache | None = None, chunk_size: int | None = None) -> None:
        if not isinstance(generator, Generator):
            raise TypeError(f"CachedGenerator: generator must be a Generator, got {type(generator).__name__}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"CachedGenerator: chunk_size must be >= 1 or None, got {chunk_size}")
        self.generator = generator
        self.cache = cache if cache is not None else RenderCache()
        self.chunk_size = chunk_size
        self.prompt_token_limit = generator.prompt_token_limit

    @property
    def fingerprint(self) -> str:
        return self.generator.fingerprint

    def __repr__(self) -> str:
        return f"CachedGenerator({self.generator!r}, cache={self.cache!r})"

    def generate(self, prompts: list[str], seed: int) -> list[Video]:
        fingerprint = self.generator.fingerprint
        positions: dict[str, list[int]] = {}  # key -> where it goes, first occurrence first
        for i, prompt in enumerate(prompts):
            positions.setdefault(video_key(fingerprint, prompt, seed), []).append(i)
        found: dict[str, Video] = {}
        misses: list[str] = []
        for key in positions:
            video = self.cache.get_video(key)
            if video is None:
                misses.append(key)
            else:
                found[key] = video
        step = self.chunk_size or max(len(misses), 1)
        for start in range(0, len(misses), step):
            chunk = misses[start:start + step]
            chunk_prompts = [prompts[positions[key][0]] for key in chunk]
            rendered = self.generator.generate(chunk_prompts, seed)
            if len(rendered) != len(chunk):
                raise RuntimeError(f"{type(self.generator).__name__}.generate returned {len(rendered)} videos "
                                   f"for {len(chunk)} prompts")
            for key, prompt, video in zip(chunk, chunk_prompts, rendered):
                found[key] = self._store(key, video, {"generator": fingerprint, "prompt": prompt, "seed": int(seed)})
        out: list[Video | None] = [None] * len(prompts)
        for key, where in positions.items():
            video = found[key]
            out[where[0]] = video
            for i in where[1:]:  # duplicates get their own copy, as separate renders would
                out[i] = Video(video.frames.clone(), video.fps, copy.deepcopy(video.meta))
        return out  # type: ignore[return-value]

    def _store(self, key: str, video: Video, source: dict) -> Video:
        """Put a fresh render in the cache; return it as a hit would (meta via JSON)."""
        try:
            meta = json.loads(json.dumps(video.meta))
        except (TypeError, ValueError) as err:
            log.warning("%s: meta of the video for %r is not JSON-serialisable (%s); not cached",
                        type(self.generator).__name__, source["prompt"][:80], err)
            return video
        video = Video(video.frames, float(video.fps), meta)
        try:
            self.cache.put_video(key, video, source=source)
        except OSError as err:  # disk full, read-only share...: keep the render, lose only the caching
            log.warning("render cache: could not store a video under %s: %s", self.cache.root, err)
        return video
