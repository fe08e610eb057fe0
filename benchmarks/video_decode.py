"""Decode speed of decord vs PyAV through `prompt_a_video.video_io.read_video`.

Writes a synthetic 720p H.264 clip (moving gradients over a scrolling texture, a moving
square; libx264 crf 18, as `write_mp4` writes generator outputs) to a temporary folder,
then times, per backend:

- uniform sampling: ``read_video(path, num_frames=16)``, one file open per call, as a
  reward model reads a clip;
- full decode: ``read_video(path)``, every frame converted to RGB.

Backends alternate within each repetition so that load from other processes hits both
alike; one untimed warm-up call per backend comes first. Prints median and best frames
per second, and the decord/PyAV ratio of the medians.

    python benchmarks/video_decode.py --seconds 10 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from prompt_a_video.video import Video
from prompt_a_video.video_io import read_video, write_mp4

BACKENDS = ("decord", "pyav")


def synthetic_clip(seconds: float, fps: float, height: int, width: int) -> Video:
    """Moving gradients over a scrolling detailed texture, plus a square crossing the frame.

    The texture (seeded random blocks of 4x4 px, scrolling 4 px a frame) gives the clip a
    bit rate like rendered content's; pure gradients would compress to almost nothing and
    make decoding unrealistically cheap. Returns ``uint8 [T, H, W, 3]``.
    """
    n = max(1, round(seconds * fps))
    gen = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 96, (height // 4 + 1, (width + 4 * n) // 4 + 1, 3), generator=gen, dtype=torch.uint8)
    texture = blocks.repeat_interleave(4, 0).repeat_interleave(4, 1)[:height]
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    frames = torch.empty(n, height, width, 3, dtype=torch.uint8)
    side = height // 6
    for t in range(n):
        phase = t / n
        frames[t, ..., 0] = (80 + 79 * torch.sin(6.28 * (x + phase))).expand(height, width).to(torch.uint8)
        frames[t, ..., 1] = (80 + 79 * torch.cos(6.28 * (y * 2 - phase))).expand(height, width).to(torch.uint8)
        frames[t, ..., 2] = ((x + y) * 60 + 40 * phase).to(torch.uint8)
        frames[t] += texture[:, 4 * t:4 * t + width]
        top, left = int((height - side) * abs(1 - 2 * phase)), int((width - side) * phase)
        frames[t, top:top + side, left:left + side] = 240
    return Video(frames, fps=fps)


def time_calls(path: Path, num_frames: int | None, repeats: int) -> dict[str, list[float]]:
    """Seconds per ``read_video`` call, per backend, backends alternating."""
    for backend in BACKENDS:  # warm-up: imports, first-open costs
        read_video(path, num_frames=num_frames, backend=backend)
    times: dict[str, list[float]] = {b: [] for b in BACKENDS}
    for _ in range(repeats):
        for backend in BACKENDS:
            start = time.perf_counter()
            video = read_video(path, num_frames=num_frames, backend=backend)
            times[backend].append(time.perf_counter() - start)
            del video
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length in seconds (default 10)")
    parser.add_argument("--fps", type=float, default=24.0, help="clip frame rate (default 24)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per backend and mode (default 5)")
    parser.add_argument("--num-frames", type=int, default=16, help="frames per uniform-sampling call (default 16)")
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.seconds <= 0:
        parser.error("--repeats must be >= 1 and --seconds > 0")

    import av
    import decord

    with tempfile.TemporaryDirectory(prefix="pav-decode-bench-") as tmp:
        start = time.perf_counter()
        clip = synthetic_clip(args.seconds, args.fps, args.height, args.width)
        path = write_mp4(clip, Path(tmp) / "clip.mp4")
        total = clip.num_frames
        del clip
        print(f"clip: {args.width}x{args.height}, {total} frames ({args.seconds:g} s at {args.fps:g} fps), "
              f"H.264 crf 18, {path.stat().st_size / 1e6:.1f} MB, written in {time.perf_counter() - start:.1f} s")
        print(f"decord {decord.__version__}, PyAV {av.__version__} "
              f"(libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}), "
              f"torch threads {torch.get_num_threads()}, repeats {args.repeats}, python {sys.version.split()[0]}")
        rows = []
        for label, num_frames, frames_per_call in (
            (f"uniform {args.num_frames} frames", args.num_frames, args.num_frames),
            (f"full decode ({total})", None, total),
        ):
            times = time_calls(path, num_frames, args.repeats)
            fps = {b: [frames_per_call / t for t in ts] for b, ts in times.items()}
            rows.append((label, fps, {b: statistics.median(ts) for b, ts in times.items()}))

    columns = ("mode", "decord fps med", "best", "PyAV fps med", "best", "s/call decord", "s/call PyAV", "decord/PyAV")
    widths = (22, 15, 7, 13, 7, 14, 12, 12)
    print()
    print("".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(columns, widths))))
    for label, fps, med_s in rows:
        d, p = fps["decord"], fps["pyav"]
        cells = (statistics.median(d), max(d), statistics.median(p), max(p), med_s["decord"], med_s["pyav"])
        ratio = f"{statistics.median(d) / statistics.median(p):.2f}x"
        print(f"{label:<22}" + "".join(f"{c:>{w}.{2 if w >= 12 and i >= 4 else 1}f}"
                                       for i, (c, w) in enumerate(zip(cells, widths[1:]))) + f"{ratio:>12}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
