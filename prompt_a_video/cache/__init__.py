"""The render-and-score cache: an expensive render or score is never done twice.

- :class:`RenderCache` (``store.py``): content-addressed files under
  ``$PAV_CACHE_DIR/render-cache``; videos keyed by (generator fingerprint, prompt, seed),
  scores by (video content hash, reward fingerprint, ORIGINAL prompt) (``keys.py``);
  atomic writes, safe across processes, LRU-bounded videos, never-evicted scores.
- :class:`CachedGenerator`, :class:`CachedReward`: drop-in wrappers that make it
  transparent, e.g. in YAML::

      generator:
        class_path: prompt_a_video.cache.CachedGenerator
        init_args:
          generator: {class_path: ..., init_args: {...}}
          cache: {class_path: prompt_a_video.cache.RenderCache, init_args: {max_video_bytes: 50GB}}

- ``pav cache info|prune`` (``prompt_a_video/commands/cache.py``).

The wrappers import torch (through the Generator/Reward interfaces); they are loaded on
first use so that ``pav cache`` and the store stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prompt_a_video.cache.keys import score_key, video_key
from prompt_a_video.cache.stats import CacheStats, CacheUsage, EvictionReport, format_bytes, parse_bytes
from prompt_a_video.cache.store import DEFAULT_MAX_VIDEO_BYTES, RenderCache, ScoreEntry, default_root

if TYPE_CHECKING:
    from prompt_a_video.cache.cached_generator import CachedGenerator
    from prompt_a_video.cache.cached_reward import CachedReward

_LAZY = {
    "CachedGenerator": "prompt_a_video.cache.cached_generator",
    "CachedReward": "prompt_a_video.cache.cached_reward",
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RenderCache",
    "ScoreEntry",
    "CachedGenerator",
    "CachedReward",
    "CacheStats",
    "CacheUsage",
    "EvictionReport",
    "DEFAULT_MAX_VIDEO_BYTES",
    "default_root",
    "video_key",
    "score_key",
    "parse_bytes",
    "format_bytes",
]
