"""`RenderCache`: the content-addressed store of rendered videos and their scores on disk.

Layout under ``root`` (default ``$PAV_CACHE_DIR/render-cache``)::

    videos/ab/abcdef....npz    # np.savez_compressed: "frames" uint8 [T, H, W, 3] and
                               # "info" (JSON text: fps, meta, what the key was made of)
    scores/ab/abcdef....json   # {"scores": {dim: float | null (NaN)}, "failure": str | null, ...}
    */ab/.abcdef....XXXX.tmp   # a write in flight (or left by a killed process)

Safe to share between processes (DDP ranks, data-loader workers, parallel runs):

- every write goes to a temp file in the entry's own folder and is renamed into place with
  ``os.replace``, which is atomic: a reader (even after a ``kill -9`` of the writer) sees
  the whole old entry, the whole new one, or none. Two writers of one key write the same
  content, so the last rename winning is fine. No fsync: the cache survives killed
  processes, not power loss, and a file damaged by a crash of the machine reads as corrupt;
- a reader that cannot read an entry (truncated, garbage, wrong fields) counts it as a miss
  and removes it, so the next writer repairs it; it never raises;
- videos are lossless (uint8 frames in a zip, deflated), so a hit returns exactly the
  tensor the miss returned: resumed runs see identical pixels.

Size bound: ``max_video_bytes`` caps the videos (scores are tiny, the expensive result,
and never evicted). Each read touches the file's mtime, so mtime is the last use; when a
process's running estimate of the video bytes passes the bound, it rescans the folder and
removes least-recently-used videos down to 90 % of the bound (hysteresis, so that a full
cache does not rescan on every write). Several processes may evict at once; removing a
file that is gone already is fine, and a reader holding an open file keeps reading it
(POSIX), so eviction is best-effort and never breaks a reader.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator

import numpy as np

from prompt_a_video.cache.stats import CacheStats, CacheUsage, EvictionReport, parse_bytes

if TYPE_CHECKING:
    from prompt_a_video.video import Video

log = logging.getLogger(__name__)

DEFAULT_MAX_VIDEO_BYTES = 20 * 10**9
TMP_SUFFIX = ".tmp"
VIDEO_SUFFIX = ".npz"
SCORE_SUFFIX = ".json"
# A temp file younger than this may belong to a live writer; older ones are debris of a
# killed process. An hour is far longer than any single write.
TEMP_GRACE_SECONDS = 3600.0
# Fraction of the bound an eviction pass leaves, and how many writes a process makes
# between rescans (it cannot see the other processes' writes otherwise).
EVICT_TO = 0.9
RESCAN_EVERY = 256


def default_root() -> Path:
    """``$PAV_CACHE_DIR/render-cache`` (see :func:`prompt_a_video.assets.cache_dir`)."""
    from prompt_a_video.assets import cache_dir

    return cache_dir() / "render-cache"


@dataclass(frozen=True)
class ScoreEntry:
    """Cached scores of one (video, reward, original prompt): floats (NaN allowed)."""

    scores: dict[str, float]
    failure: str | None = None


class RenderCache:
    """Videos keyed by :func:`~prompt_a_video.cache.keys.video_key`, scores keyed by
    :func:`~prompt_a_video.cache.keys.score_key`, on disk under ``root``.

    Args:
        root: cache folder (default ``$PAV_CACHE_DIR/render-cache``); made on first write.
        max_video_bytes: bound on the bytes of stored videos, an int or a text such as
            ``"20GB"``; least-recently-used videos are evicted past it. ``None``: unbounded.
    """

    def __init__(self, root: str | os.PathLike | None = None,
                 max_video_bytes: int | str | None = DEFAULT_MAX_VIDEO_BYTES) -> None:
        self.root = Path(root).expanduser() if root else default_root()
        self.max_video_bytes = parse_bytes(max_video_bytes)
        self.stats = CacheStats()
        self._approx_video_bytes: int | None = None  # this process's running estimate
        self._writes_since_scan = 0

    def __repr__(self) -> str:
        return f"RenderCache(root={str(self.root)!r}, max_video_bytes={self.max_video_bytes})"

    # ---------------------------------------------------------------- paths
    def video_path(self, key: str) -> Path:
        return self.root / "videos" / key[:2] / f"{key}{VIDEO_SUFFIX}"

    def score_path(self, key: str) -> Path:
        return self.root / "scores" / key[:2] / f"{key}{SCORE_SUFFIX}"

    # ---------------------------------------------------------------- videos
    def get_video(self, key: str) -> Video | None:
        """The cached video, or ``None`` (missing or unreadable: then removed)."""
        import torch

        from prompt_a_video.video import Video

        path = self.video_path(key)
        try:
            with np.load(path, allow_pickle=False) as npz:
                frames = npz["frames"]
                info = json.loads(npz["info"].item())
            video = Video(torch.from_numpy(frames), fps=float(info["fps"]), meta=dict(info["meta"]))
        except FileNotFoundError:
            self.stats.video_misses += 1
            return None
        except Exception as err:  # truncated / garbage / wrong fields: a miss, repaired by the next put
            self._drop_corrupt(path, err)
            self.stats.video_misses += 1
            return None
        with contextlib.suppress(OSError):  # last use, for LRU; the file may be evicted meanwhile
            os.utime(path)
        self.stats.video_hits += 1
        return video

    def put_video(self, key: str, video: Video, source: dict[str, Any] | None = None) -> None:
        """Store ``video`` (its meta must be JSON-serialisable) atomically under ``key``.

        ``source`` (e.g. the generator fingerprint, prompt and seed) is stored beside it
        for people inspecting the cache; it is not read back.
        """
        info = json.dumps({"fps": float(video.fps), "meta": video.meta, "source": source}, ensure_ascii=False)
        frames = np.ascontiguousarray(video.frames.detach().cpu().numpy())
        path = self.video_path(key)
        _write_atomic(path, lambda fh: np.savez_compressed(fh, frames=frames, info=np.array(info)))
        self._account(path)

    # ---------------------------------------------------------------- scores
    def get_scores(self, key: str) -> ScoreEntry | None:
        """The cached scores, or ``None`` (missing or unreadable: then removed)."""
        path = self.score_path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            scores = {str(dim): math.nan if value is None else float(value)
                      for dim, value in record["scores"].items()}
            failure = record.get("failure")
            if failure is not None and not isinstance(failure, str):
                raise ValueError(f"'failure' must be a string or null, got {type(failure).__name__}")
        except FileNotFoundError:
            self.stats.score_misses += 1
            return None
        except Exception as err:
            self._drop_corrupt(path, err)
            self.stats.score_misses += 1
            return None
        self.stats.score_hits += 1
        return ScoreEntry(scores, failure)

    def put_scores(self, key: str, scores: dict[str, float], failure: str | None = None,
                   source: dict[str, Any] | None = None) -> None:
        """Store per-dimension scores (NaN written as ``null``) and the failure reason, if any."""
        record = {
            "scores": {dim: (float(v) if math.isfinite(float(v)) else None) for dim, v in scores.items()},
            "failure": failure,
            "source": source,
        }
        text = json.dumps(record, ensure_ascii=False, allow_nan=False)
        _write_atomic(self.score_path(key), lambda fh: fh.write(text.encode("utf-8")))

    # ---------------------------------------------------------------- size and housekeeping
    def usage(self) -> CacheUsage:
        """Entries and bytes per kind, and temp files (writes in flight or debris)."""
        videos = list(self._entries("videos", VIDEO_SUFFIX))
        scores = list(self._entries("scores", SCORE_SUFFIX))
        temps = list(self._temp_files())
        return CacheUsage(
            videos=len(videos), video_bytes=sum(e.size for e in videos),
            scores=len(scores), score_bytes=sum(e.size for e in scores),
            temp_files=len(temps), temp_bytes=sum(e.size for e in temps),
        )

    def evict(self, max_video_bytes: int | str | None) -> EvictionReport:
        """Remove least-recently-used videos until they take at most ``max_video_bytes``.

        ``0`` removes every video; ``None`` removes nothing. Scores are never touched.
        Also removes temp files older than an hour (left by killed writers).
        """
        target = parse_bytes(max_video_bytes)
        self.clean_temp()
        entries = sorted(self._entries("videos", VIDEO_SUFFIX), key=lambda e: (e.mtime_ns, e.path.name))
        total = sum(e.size for e in entries)
        removed = removed_bytes = 0
        for entry in entries:
            if target is None or total <= target:
                break
            try:
                entry.path.unlink()
                removed += 1
                removed_bytes += entry.size
            except FileNotFoundError:  # another process evicted it first: the space is free all the same
                pass
            except OSError as err:
                log.warning("render cache: could not evict %s: %s", entry.path, err)
                continue
            total -= entry.size
        self.stats.evicted_videos += removed
        self.stats.evicted_bytes += removed_bytes
        self._approx_video_bytes = total
        self._writes_since_scan = 0
        return EvictionReport(removed, removed_bytes, total)

    def clean_temp(self, older_than: float = TEMP_GRACE_SECONDS) -> int:
        """Remove temp files whose last write is more than ``older_than`` seconds ago."""
        cutoff = time.time_ns() - int(older_than * 1e9)
        count = 0
        for entry in self._temp_files():
            if entry.mtime_ns <= cutoff:
                with contextlib.suppress(OSError):
                    entry.path.unlink()
                    count += 1
        return count

    # ---------------------------------------------------------------- internals
    def _account(self, path: Path) -> None:
        """After a video write: update the estimate, evict when it passes the bound."""
        if self.max_video_bytes is None:
            return
        self._writes_since_scan += 1
        if self._approx_video_bytes is None or self._writes_since_scan >= RESCAN_EVERY:
            self._approx_video_bytes = sum(e.size for e in self._entries("videos", VIDEO_SUFFIX))
            self._writes_since_scan = 0
        else:
            with contextlib.suppress(OSError):
                self._approx_video_bytes += path.stat().st_size
        if self._approx_video_bytes > self.max_video_bytes:
            self.evict(int(self.max_video_bytes * EVICT_TO))

    def _drop_corrupt(self, path: Path, err: Exception) -> None:
        self.stats.corrupt += 1
        log.warning("render cache: unreadable entry %s (%s: %s); treating it as a miss and removing it",
                    path, type(err).__name__, err)
        with contextlib.suppress(OSError):
            path.unlink()

    def _entries(self, kind: str, suffix: str) -> Iterator[_FileEntry]:
        yield from (e for e in _scan(self.root / kind) if e.path.name.endswith(suffix)
                    and not e.path.name.startswith("."))

    def _temp_files(self) -> Iterator[_FileEntry]:
        for kind in ("videos", "scores"):
            yield from (e for e in _scan(self.root / kind) if e.path.name.endswith(TMP_SUFFIX))


@dataclass(frozen=True)
class _FileEntry:
    path: Path
    size: int
    mtime_ns: int


def _scan(folder: Path) -> Iterator[_FileEntry]:
    """Files one level below the shard folders of ``folder``; vanishing files are skipped."""
    try:
        shards = [d for d in os.scandir(folder) if d.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    for shard in shards:
        try:
            files = list(os.scandir(shard.path))
        except FileNotFoundError:
            continue
        for f in files:
            try:
                st = f.stat(follow_symlinks=False)
            except FileNotFoundError:  # evicted or renamed by another process meanwhile
                continue
            if f.is_file(follow_symlinks=False):
                yield _FileEntry(Path(f.path), st.st_size, st.st_mtime_ns)


def _write_atomic(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Write via a temp file in ``path``'s folder, then rename it into place (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared cache is read by other users' jobs too
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
