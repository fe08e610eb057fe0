"""report.html in a real browser: headless Chromium decodes every H.264 video and shows the tables."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import torch

from prompt_a_video.evaluation.plots import plot_dimensions
from prompt_a_video.evaluation.report import write_report
from prompt_a_video.evaluation.statistics import compute_metrics
from prompt_a_video.video import Video
from prompt_a_video.video_io import write_mp4

pytestmark = pytest.mark.integration

PROMPTS = ["a red car in the rain", "a dog <b>running</b> on the beach"]
METHODS = ["original", "sft"]


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("no Chromium found (chromium, chromium-browser, google-chrome): `apt-get install chromium` "
                "to run the report's browser test")


def _dump_dom(browser: str, page, profile) -> str:
    """The page's DOM after its scripts ran and media loaded (virtual time: no fixed sleep)."""
    cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio",
           f"--user-data-dir={profile}", "--dump-dom", "--virtual-time-budget=15000", page.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "</html>" in done.stdout, (
        f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _moving_clip(seed: int) -> Video:
    """8 frames 64x64: a random colour field that shifts by 4 px a frame."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, 256, (64, 64, 3), generator=g, dtype=torch.uint8)
    return Video(torch.stack([base.roll(4 * t, dims=1) for t in range(8)]), fps=8.0)


def _evaluation(out):
    rewrites, records = [], []
    for m, method in enumerate(METHODS):
        for p, prompt in enumerate(PROMPTS):
            text = prompt if method == "original" else f"{prompt}, cinematic lighting"
            video = f"videos/{method}-{p}-s0.mp4"
            write_mp4(_moving_clip(10 * m + p), out / video, preset="ultrafast")
            rewrites.append({"method": method, "prompt": prompt, "sample": 0, "text": text})
            reward = 2.0 + m * 0.3 + p * 0.1
            records.append({"method": method, "prompt": prompt, "sample": 0, "seed": 0, "text": text,
                            "scores": {"VQ": reward / 2}, "reward": reward, "failure": None, "video": video})
    metrics = compute_metrics(records, rewrites, seeds=[0], prompt_set="browser-test", bootstrap=100)
    plot_dimensions(metrics, out / "dimensions.png")
    return metrics, records, rewrites


@pytest.mark.parametrize("embed_videos", [True, False], ids=["data-uris", "relative-links"])
def test_chromium_loads_every_video_and_shows_the_tables(tmp_path, embed_videos):
    browser = _browser()
    out = tmp_path / "eval"
    metrics, records, rewrites = _evaluation(out)
    page = write_report(out, metrics, records, rewrites, title="browser test", embed_videos=embed_videos)
    dom = _dump_dom(browser, page, tmp_path / "chromium-profile")

    states = re.findall(r'<video\b[^>]*\bdata-state="([a-z]+)"', dom)
    assert len(states) == len(records), f"expected {len(records)} <video> elements, found {len(states)}"
    assert states == ["loaded"] * len(records), f"video states after loading: {states}"
    assert '<table class="summary">' in dom and '<table class="comparison">' in dom
    assert "data:image/png;base64," in dom, "the per-dimension plot is on the page"
    assert "<b>running</b>" not in dom and "&lt;b&gt;running&lt;/b&gt;" in dom


def test_a_missing_video_is_marked_as_failed_for_the_reader(tmp_path):
    browser = _browser()
    out = tmp_path / "eval"
    metrics, records, rewrites = _evaluation(out)
    (out / records[0]["video"]).unlink()
    page = write_report(out, metrics, records, rewrites, title="missing video", embed_videos=True)
    dom = _dump_dom(browser, page, tmp_path / "chromium-profile")
    states = re.findall(r'<video\b[^>]*\bdata-state="([a-z]+)"', dom)
    assert states == ["error"] + ["loaded"] * (len(records) - 1)
    # The first video's note is visible (no `hidden`), the others stay hidden.
    notes = re.findall(r'<span class="video-error"( hidden(?:="")?)?>video failed to load</span>', dom)
    assert [bool(hidden) for hidden in notes] == [False] + [True] * (len(records) - 1)
