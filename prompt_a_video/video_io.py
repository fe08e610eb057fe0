"""Video files: write a :class:`Video` as MP4, read one back with uniform frame sampling.

- :func:`write_mp4`: H.264 (libx264, ``crf`` 18: visually near-lossless) through PyAV,
  which bundles FFmpeg; MPEG-4 Part 2 where libx264 is missing. yuv420p halves the
  chroma resolution, so odd heights/widths are padded by one replicated edge row/column
  (the file is then one pixel larger than the video).
- :func:`read_video`: decord's ``VideoReader`` (random access: only the frames asked for
  are converted to RGB), PyAV as fallback, or either by ``backend=``. Reward models take
  4-16 frames: ``num_frames=n`` samples n indices uniformly with :func:`sample_indices`.
- Every failure to read (missing, empty, corrupt file) is a :class:`VideoReadError` that
  names the file.

decord 0.6 returns wrongly laid out frames (4 or 6 "channels", or a size-mismatch error)
for some narrow widths such as 16, 24, 48 and 72 px (dmlc/decord#336); real generator
sizes (480x720, 480x832, 720x1280...) are fine. ``backend="auto"`` detects it and reads
such files with PyAV; ``backend="decord"`` raises instead.
"""

from __future__ import annotations

import importlib.util
import os
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from prompt_a_video.video import Video


class VideoReadError(OSError):
    """A video file is missing, empty, corrupt, or not decodable by the chosen backend."""


class _DecordLayoutError(VideoReadError):
    """decord's row-stride bug (see the module doc); ``backend="auto"`` retries with PyAV."""


def sample_indices(total: int, n: int) -> list[int]:
    """``n`` frame indices spread uniformly over ``range(total)``, sorted.

    The first and last frames are always included (``n >= 2``), so the sample spans the
    whole motion; ``n == 1`` takes the middle frame. When ``n > total`` frames repeat, so
    a model that needs exactly n frames still gets them.
    """
    if total < 1:
        raise ValueError(f"sample_indices: total must be >= 1, got {total}")
    if n < 1:
        raise ValueError(f"sample_indices: n must be >= 1, got {n}")
    if n == 1:
        return [(total - 1) // 2]
    return [int(i) for i in np.rint(np.linspace(0, total - 1, n))]


# ------------------------------------------------------------------------- writing
def _default_codec() -> str:
    import av

    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except (ValueError, av.FFmpegError):  # an FFmpeg built without GPL x264
        return "mpeg4"


def write_mp4(video: Video, path: str | os.PathLike, codec: str | None = None, crf: int = 18,
              preset: str = "medium") -> Path:
    """Encode ``video`` as an MP4 file at ``path`` (parent folders are created).

    Args:
        video: frames ``uint8 [T, H, W, 3]`` and ``fps``.
        path: target file; written to a temporary name first and renamed when complete,
            so a killed run never leaves a truncated file under the real name.
        codec: FFmpeg encoder name; None = libx264 if available, else mpeg4.
        crf: libx264 constant rate factor (0 lossless, 18 near-lossless, 23 default).
        preset: libx264 speed/size trade-off (``ultrafast`` ... ``veryslow``).

    Returns the path written.
    """
    import av

    path = Path(path)
    frames = video.frames.detach().cpu().numpy()
    # yuv420p stores chroma at half resolution in both axes: sizes must be even.
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    codec = codec or _default_codec()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = container.add_stream(codec, rate=Fraction(video.fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": str(crf), "preset": preset}
            else:  # encoders without crf: a generous bit rate (~0.3 bit per pixel)
                stream.bit_rate = max(1_000_000, int(frames.shape[1] * frames.shape[2] * video.fps * 0.3))
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())  # flush delayed frames
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def mp4_is_complete(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a whole MP4 file: its top-level boxes (ISO/IEC 14496-12: a
    32-bit size and a 4-letter type each, size 1 = a 64-bit size follows, 0 = to the end)
    chain exactly to the file's length and include ``moov`` and ``mdat``. Reads a few
    bytes per box, so checking a thousand videos costs milliseconds; a file cut short
    (a copy, a disk filling up) or emptied fails."""
    import struct

    try:
        size = os.path.getsize(path)
        seen, offset = set(), 0
        with open(path, "rb") as f:
            while offset < size:
                f.seek(offset)
                header = f.read(8)
                if len(header) < 8:
                    return False
                box_size, box_type = struct.unpack(">I4s", header)
                if box_size == 1:
                    extended = f.read(8)
                    if len(extended) < 8:
                        return False
                    box_size = struct.unpack(">Q", extended)[0]
                elif box_size == 0:
                    box_size = size - offset
                if box_size < 8:
                    return False
                seen.add(box_type)
                offset += box_size
    except OSError:
        return False
    return offset == size and {b"moov", b"mdat"} <= seen


# ------------------------------------------------------------------------- reading
def decord_available() -> bool:
    return importlib.util.find_spec("decord") is not None


def read_video(path: str | os.PathLike, num_frames: int | None = None, backend: str = "auto") -> Video:
    """Read a video file as a :class:`Video` (``uint8 [T, H, W, 3]``).

    Args:
        path: the video file.
        num_frames: sample this many frames uniformly (:func:`sample_indices`); None = all.
        backend: ``"decord"``, ``"pyav"``, or ``"auto"`` (decord if installed, PyAV for
            files decord cannot lay out correctly).

    The returned ``fps`` keeps the clip's duration: ``source fps * len(frames) / total``
    when sampling, the file's fps otherwise. ``meta`` records ``path``, ``backend``,
    ``source_fps``, ``total_frames`` and ``indices`` (None when all frames were read).
    """
    readers = {"decord": _read_decord, "pyav": _read_pyav}
    if backend not in (*readers, "auto"):
        raise ValueError(f"read_video: backend must be 'auto', 'decord' or 'pyav', got {backend!r}")
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"read_video: num_frames must be >= 1 or None, got {num_frames}")
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: no such video file" + (" (it is a directory)" if path.is_dir() else ""))
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: the video file is empty (0 bytes)")
    chosen = backend if backend != "auto" else ("decord" if decord_available() else "pyav")
    try:
        frames, source_fps, total, indices = readers[chosen](path, num_frames)
    except _DecordLayoutError:
        if backend != "auto":
            raise
        chosen = "pyav"
        frames, source_fps, total, indices = _read_pyav(path, num_frames)
    fps = source_fps if source_fps > 0 else 1.0  # a stream without a frame rate still plays
    if indices is not None:
        fps = fps * len(indices) / total
    meta = {"path": str(path), "backend": chosen, "source_fps": source_fps or None, "total_frames": total,
            "indices": indices}
    return Video(torch.from_numpy(np.ascontiguousarray(frames)), fps=fps, meta=meta)


def _read_decord(path: Path, num_frames: int | None) -> tuple[np.ndarray, float, int, list[int] | None]:
    import decord

    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
        total = len(reader)
        if total == 0:
            raise VideoReadError(f"{path}: the video has no frames")
        indices = sample_indices(total, num_frames) if num_frames is not None else None
        try:
            frames = reader.get_batch(indices if indices is not None else list(range(total))).asnumpy()
        except decord.DECORDError as err:
            if "size must exactly match" in str(err):
                raise _DecordLayoutError(f"{path}: decord cannot lay out frames of this width "
                                         f"(dmlc/decord#336); read it with backend='pyav'") from err
            raise
        fps = float(reader.get_avg_fps())
    except VideoReadError:
        raise
    except Exception as err:  # decord raises DECORDError/RuntimeError with C++ traces
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise VideoReadError(f"{path}: cannot decode the video with decord ({first})") from err
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise _DecordLayoutError(f"{path}: decord returned frames of shape {list(frames.shape)} "
                                 f"(dmlc/decord#336); read it with backend='pyav'")
    return frames, fps, total, indices


def _read_pyav(path: Path, num_frames: int | None) -> tuple[np.ndarray, float, int, list[int] | None]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame + slice threads, as decord's FFmpeg uses
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            # The container's frame count; a stream that does not store it is counted
            # by demuxing (cheap: no decoding).
            total = stream.frames or sum(1 for p in container.demux(stream) if p.size)
            if total == 0:
                raise VideoReadError(f"{path}: the video has no frames")
            if stream.frames == 0:
                container.seek(0)
            indices = sample_indices(total, num_frames) if num_frames is not None else None
            wanted = Counter(indices) if indices is not None else None
            last = max(indices) if indices is not None else total - 1
            frames: list[np.ndarray] = []
            decoded = 0
            for i, frame in enumerate(container.decode(stream)):
                decoded = i + 1
                copies = 1 if wanted is None else wanted.get(i, 0)
                if copies:
                    array = frame.to_ndarray(format="rgb24")
                    frames.extend([array] * copies)
                if i >= last:
                    break
    except VideoReadError:
        raise
    except Exception as err:  # av.FFmpegError subclasses, and OSError for unreadable files
        raise VideoReadError(f"{path}: cannot decode the video with PyAV ({err})") from err
    if decoded <= last:
        raise VideoReadError(f"{path}: the container announces {total} frames but only {decoded} "
                             f"decode (truncated or corrupt file)")
    return np.stack(frames), fps, total, indices
