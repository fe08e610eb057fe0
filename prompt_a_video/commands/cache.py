"""`pav cache`: what the render-and-score cache holds, and shrinking it.

Light at import (no torch): the store is imported when a command runs.
"""

from __future__ import annotations

from prompt_a_video.cache.stats import format_bytes, parse_bytes
from prompt_a_video.cache.store import DEFAULT_MAX_VIDEO_BYTES, RenderCache


def _percent(used: int, bound: int | None) -> str:
    if not bound:
        return ""
    return f", {100 * used / bound:.1f} % of the bound"


def info(root: str | None = None, max_video_bytes: int | str | None = DEFAULT_MAX_VIDEO_BYTES) -> None:
    """Show the entries and bytes of the render cache per kind, against a video bound.

    Args:
        root: cache folder (default: $PAV_CACHE_DIR/render-cache).
        max_video_bytes: the bound to compare the videos with, bytes or a text like
            "20GB" (default 20 GB, the default of RenderCache); null: unbounded.
    """
    cache = RenderCache(root, max_video_bytes=max_video_bytes)
    usage = cache.usage()
    print(f"render cache: {cache.root}")
    print(f"  videos: {usage.videos} entries, {format_bytes(usage.video_bytes)} "
          f"(bound {format_bytes(cache.max_video_bytes)}{_percent(usage.video_bytes, cache.max_video_bytes)}; "
          "least recently used evicted first)")
    print(f"  scores: {usage.scores} entries, {format_bytes(usage.score_bytes)} (never evicted)")
    print(f"  temp files: {usage.temp_files}, {format_bytes(usage.temp_bytes)} "
          "(writes in flight, or left by killed processes; `pav cache prune` removes those older than 1 h)")


def prune(root: str | None = None, max_video_bytes: int | str | None = DEFAULT_MAX_VIDEO_BYTES,
          all_videos: bool = False) -> None:
    """Evict least-recently-used videos down to a bound; remove stale temp files.

    Scores are never removed (they are small and the expensive result). Safe while runs
    use the cache: they re-render what they miss.

    Args:
        root: cache folder (default: $PAV_CACHE_DIR/render-cache).
        max_video_bytes: keep at most this many bytes of videos, bytes or a text like
            "5GB" (default 20 GB); null: evict nothing.
        all_videos: remove every video (overrides max_video_bytes).
    """
    bound = 0 if all_videos else parse_bytes(max_video_bytes)
    cache = RenderCache(root, max_video_bytes=None)
    temps = cache.clean_temp()
    report = cache.evict(bound)
    print(f"render cache: {cache.root}")
    print(f"  evicted {report.removed} videos ({format_bytes(report.removed_bytes)}), least recently used "
          f"first; videos now {format_bytes(report.video_bytes_left)} (bound {format_bytes(bound)})")
    print(f"  removed {temps} stale temp files")


COMMANDS = {"info": info, "prune": prune}
