"""MP4 writing and reading: round trips, uniform sampling, both backends, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prompt_a_video import video_io
from prompt_a_video.video import Video
from prompt_a_video.video_io import VideoReadError, read_video, sample_indices, write_mp4

BACKENDS = ["decord", "pyav"]


def smooth_clip(t: int, h: int, w: int) -> torch.Tensor:
    """Gradients that drift a little per frame: content a lossy codec keeps well."""
    y = torch.linspace(0, 1, h)[None, :, None]
    x = torch.linspace(0, 1, w)[None, None, :]
    f = torch.arange(t, dtype=torch.float32)[:, None, None] / max(t, 1)
    rgb = torch.stack([(30 + 80 * x + 120 * f).expand(t, h, w), (30 + 180 * y).expand(t, h, w),
                       (200 - 60 * (x + y)).expand(t, h, w)], dim=-1)
    return rgb.round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    """12 frames of 32x64 at 8 fps, H.264: a size decord lays out correctly."""
    video = Video(smooth_clip(12, 32, 64), fps=8.0)
    return video, write_mp4(video, tmp_path_factory.mktemp("clips") / "clip.mp4")


# ------------------------------------------------------------------ sample_indices
@pytest.mark.parametrize("total,n", [(10, 4), (240, 16), (49, 16), (7, 7), (100, 2)])
def test_sample_indices_span_the_clip_uniformly(total, n):
    idx = sample_indices(total, n)
    assert len(idx) == n and idx[0] == 0 and idx[-1] == total - 1
    gaps = np.diff(idx)
    assert (gaps > 0).all(), "no frame twice when there are enough frames"
    assert gaps.max() - gaps.min() <= 1, f"uneven spacing {gaps.tolist()}"


def test_sample_indices_single_frame_is_the_middle_one():
    assert sample_indices(9, 1) == [4]
    assert sample_indices(1, 1) == [0]


def test_sample_indices_repeat_frames_when_asking_for_more_than_there_are():
    idx = sample_indices(3, 8)
    assert len(idx) == 8 and idx == sorted(idx) and set(idx) == {0, 1, 2}


@pytest.mark.parametrize("total,n", [(0, 4), (10, 0), (-1, 3)])
def test_sample_indices_reject_empty_requests(total, n):
    with pytest.raises(ValueError):
        sample_indices(total, n)


# -------------------------------------------------------------------- round trips
@pytest.mark.parametrize("backend", BACKENDS)
def test_round_trip_keeps_shape_fps_and_pixels(clip_file, backend):
    video, path = clip_file
    back = read_video(path, backend=backend)
    assert back.frames.dtype == torch.uint8 and back.frames.shape == video.frames.shape
    assert back.fps == pytest.approx(8.0)
    assert back.meta["backend"] == backend and back.meta["total_frames"] == 12 and back.meta["indices"] is None
    # yuv420p (half-resolution chroma, and FFmpeg's RGB<->YUV rounding: about -1 level)
    # costs ~2 levels on average even at this quality; a wrong frame costs tens.
    diff = (back.frames.float() - video.frames.float()).abs()
    assert diff.mean() < 3.0 and diff.max() < 24, (float(diff.mean()), float(diff.max()))


@pytest.mark.parametrize("backend", BACKENDS)
def test_uniform_sampling_returns_the_sampled_frames(clip_file, backend):
    video, path = clip_file
    full = read_video(path, backend=backend)
    sampled = read_video(path, num_frames=4, backend=backend)
    assert sampled.meta["indices"] == sample_indices(12, 4)
    assert torch.equal(sampled.frames, full.frames[sample_indices(12, 4)])
    assert sampled.fps == pytest.approx(8.0 * 4 / 12), "fps keeps the clip's duration"


def test_backends_agree_on_frame_count_and_pixels(clip_file):
    _, path = clip_file
    a, b = (read_video(path, num_frames=5, backend=name) for name in BACKENDS)
    assert a.meta["total_frames"] == b.meta["total_frames"] and a.frames.shape == b.frames.shape
    assert (a.frames.float() - b.frames.float()).abs().mean() < 2.0


def test_odd_sizes_are_padded_by_one_replicated_edge(tmp_path):
    video = Video(smooth_clip(5, 33, 35), fps=10.0)
    back = read_video(write_mp4(video, tmp_path / "odd.mp4"))
    assert back.frames.shape == (5, 34, 36, 3)
    assert (back.frames[:, :33, :35].float() - video.frames.float()).abs().mean() < 3.0
    # The added column repeats the last one.
    assert (back.frames[:, :33, 35].float() - video.frames[:, :, 34].float()).abs().mean() < 3.0


def test_mpeg4_fallback_codec_round_trips(tmp_path):
    video = Video(smooth_clip(6, 32, 64), fps=8.0)
    back = read_video(write_mp4(video, tmp_path / "m4.mp4", codec="mpeg4"), backend="pyav")
    assert back.frames.shape == video.frames.shape
    assert (back.frames.float() - video.frames.float()).abs().mean() < 4.0


def test_write_leaves_only_the_finished_file(tmp_path):
    write_mp4(Video(smooth_clip(3, 32, 32), fps=4.0), tmp_path / "sub" / "a.mp4")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.mp4"]


def test_auto_reads_widths_decord_lays_out_wrongly(tmp_path):
    # 16 px wide is what the tiny test generators render; decord 0.6 garbles it.
    video = Video(smooth_clip(9, 16, 16), fps=8.0)
    back = read_video(write_mp4(video, tmp_path / "tiny.mp4"), num_frames=4)
    assert back.frames.shape == (4, 16, 16, 3)
    # Steep gradients at 16 px lose more to half-resolution chroma.
    assert (back.frames.float() - video.frames[sample_indices(9, 4)].float()).abs().mean() < 6.0


def test_auto_uses_pyav_where_decord_is_missing(clip_file, monkeypatch):
    monkeypatch.setattr(video_io, "decord_available", lambda: False)
    assert read_video(clip_file[1], num_frames=2).meta["backend"] == "pyav"


# ------------------------------------------------------------------------- errors
def _bad_files(tmp_path, good):
    data = good.read_bytes()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "folder.mp4").mkdir()
    return {name: tmp_path / f"{name}.mp4" for name in ("empty", "junk", "truncated", "folder", "missing")}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["empty", "junk", "truncated", "folder", "missing"])
def test_unreadable_files_raise_video_read_error_naming_the_file(tmp_path, clip_file, backend, kind):
    path = _bad_files(tmp_path, clip_file[1])[kind]
    with pytest.raises(VideoReadError, match=f"{kind}.mp4"):
        read_video(path, num_frames=4, backend=backend)


def test_unknown_backend_is_rejected(clip_file):
    with pytest.raises(ValueError, match="backend"):
        read_video(clip_file[1], backend="opencv")
