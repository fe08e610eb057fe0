"""The render-and-score cache: hits render/score nothing, keys separate what differs, hits
are bit-exact, damaged entries are misses that get repaired, eviction drops the least
recently used videos and never scores, and `pav cache info|prune` report it."""

import hashlib
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from prompt_a_video.commands import cache as cache_cli
from prompt_a_video.cache import CachedGenerator, CachedReward, RenderCache, parse_bytes, score_key, video_key
from prompt_a_video.generators.base import Generator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.video import Video


def _frames(fingerprint: str, prompt: str, seed: int) -> torch.Tensor:
    digest = hashlib.sha256(f"{fingerprint}|{prompt}|{seed}".encode()).digest()
    g = torch.Generator().manual_seed(int.from_bytes(digest[:7], "little"))
    return torch.randint(0, 256, (3, 8, 10, 3), generator=g, dtype=torch.uint8)


class CountingGenerator(Generator):
    """Deterministic tiny random clips; records every prompt list it is asked to render."""

    prompt_token_limit = 77

    def __init__(self, fingerprint: str = "fake-gen/v1"):
        self._fingerprint = fingerprint
        self.calls: list[list[str]] = []

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def rendered(self) -> list[str]:
        return [p for call in self.calls for p in call]

    def generate(self, prompts, seed):
        self.calls.append(list(prompts))
        return [Video(_frames(self._fingerprint, p, seed), fps=8, meta={"prompt": p, "size": (8, 10)})
                for p in prompts]


class CountingReward(Reward):
    """VQ = mean pixel / 255, TVA = prompt length / 100; raises or returns NaN on request."""

    dimensions = ("VQ", "TVA")

    def __init__(self, fingerprint: str = "fake-reward/v1", raise_on=(), nan_on=()):
        self._fingerprint = fingerprint
        self.raise_on, self.nan_on = set(raise_on), set(nan_on)
        self.scored: list[str] = []  # prompts of every score() call (not the isolation retries)

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def score(self, videos, prompts):
        self.scored.extend(prompts)
        return super().score(videos, prompts)

    def score_batch(self, videos, prompts):
        if self.raise_on & set(prompts):
            raise RuntimeError("decoder exploded")
        vq = torch.stack([v.frames.float().mean() / 255 for v in videos])
        tva = torch.tensor([math.nan if p in self.nan_on else len(p) / 100 for p in prompts])
        return {"VQ": vq, "TVA": tva}


def _assert_scores_equal(a, b):
    assert set(a) == set(b) and a.failures == b.failures
    for dim in a:
        assert torch.allclose(a[dim], b[dim], equal_nan=True), dim


@pytest.fixture
def cache(tmp_path):
    return RenderCache(tmp_path / "rc", max_video_bytes=None)


# ---------------------------------------------------------------- keys


def test_keys_separate_every_part_and_are_stable():
    base = video_key("gen", "a dog", 0)
    assert len(base) == 64 and int(base, 16) >= 0
    assert video_key("gen", "a dog", 0) == base
    assert video_key("gen", "a dog", np.int64(0)) == base  # seeds from numpy/torch scalars
    assert len({base, video_key("gen2", "a dog", 0), video_key("gen", "a cat", 0), video_key("gen", "a dog", 1)}) == 4
    # no two part tuples spell the same text, and videos never collide with scores
    assert score_key("h", "r", "a b") != score_key("h", "r a", "b")
    assert score_key("gen", "a dog", "0") != video_key("gen", "a dog", 0)
    with pytest.raises(TypeError, match="seed"):
        video_key("gen", "a dog", True)
    with pytest.raises(TypeError, match="prompt"):
        video_key("gen", None, 0)


def test_parse_bytes_reads_units():
    assert parse_bytes("20GB") == 20 * 10**9
    assert parse_bytes("512 MiB") == 512 * 2**20
    assert parse_bytes("1.5k") == 1500
    assert parse_bytes(123) == 123 and parse_bytes(None) is None and parse_bytes("none") is None
    with pytest.raises(ValueError, match="20GB"):
        parse_bytes("twenty gigs")


# ---------------------------------------------------------------- CachedGenerator


def test_second_identical_request_renders_nothing_and_is_bit_exact(cache):
    inner = CountingGenerator()
    gen = CachedGenerator(inner, cache)
    first = gen.generate(["a dog running", "a red car"], seed=3)
    second = gen.generate(["a dog running", "a red car"], seed=3)
    assert inner.calls == [["a dog running", "a red car"]]
    for miss, hit in zip(first, second):
        assert hit.frames.dtype == torch.uint8 and torch.equal(hit.frames, miss.frames)
        assert hit.fps == miss.fps and hit.meta == miss.meta
    # the miss went through the same JSON round trip as the stored copy: no tuple/list drift
    assert first[0].meta == {"prompt": "a dog running", "size": [8, 10]}
    assert torch.equal(second[1].frames, _frames("fake-gen/v1", "a red car", 3))
    assert (cache.stats.video_hits, cache.stats.video_misses) == (2, 2)
    assert gen.fingerprint == inner.fingerprint and gen.prompt_token_limit == 77


@pytest.mark.parametrize("change", ["seed", "prompt", "fingerprint"])
def test_a_different_seed_prompt_or_generator_is_a_miss(cache, change):
    CachedGenerator(CountingGenerator(), cache).generate(["a dog"], seed=0)
    inner = CountingGenerator("fake-gen/v2" if change == "fingerprint" else "fake-gen/v1")
    prompt = "a dog." if change == "prompt" else "a dog"
    (video,) = CachedGenerator(inner, cache).generate([prompt], seed=1 if change == "seed" else 0)
    assert inner.rendered == [prompt]
    assert torch.equal(video.frames, _frames(inner.fingerprint, prompt, 1 if change == "seed" else 0))


def test_mixed_hits_and_misses_keep_order_and_render_duplicates_once(cache):
    inner = CountingGenerator()
    gen = CachedGenerator(inner, cache, chunk_size=2)
    gen.generate(["b", "d"], seed=0)
    prompts = ["a", "b", "c", "a", "d", "e"]
    videos = gen.generate(prompts, seed=0)
    assert inner.calls[1:] == [["a", "c"], ["e"]]  # misses only, first occurrence order, in chunks
    for prompt, video in zip(prompts, videos):
        assert torch.equal(video.frames, _frames("fake-gen/v1", prompt, 0)) and video.meta["prompt"] == prompt
    assert videos[0].frames is not videos[3].frames  # duplicates are separate tensors


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_video_is_a_miss_and_is_repaired(cache, damage):
    inner = CountingGenerator()
    gen = CachedGenerator(inner, cache)
    (original,) = gen.generate(["a dog"], seed=0)
    path = cache.video_path(video_key(inner.fingerprint, "a dog", 0))
    data = path.read_bytes()
    path.write_bytes({"garbage": b"not a zip at all", "truncated": data[: len(data) // 2], "empty": b""}[damage])
    (again,) = gen.generate(["a dog"], seed=0)
    assert inner.rendered == ["a dog", "a dog"] and torch.equal(again.frames, original.frames)
    assert cache.stats.corrupt == 1
    assert torch.equal(RenderCache(cache.root).get_video(path.stem).frames, original.frames)  # repaired


def test_a_write_that_fails_midway_leaves_no_entry_and_no_temp_file(cache, monkeypatch):
    def half_write(fh, **arrays):
        fh.write(b"PK\x03\x04 half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", half_write)
    gen = CachedGenerator(CountingGenerator(), cache)
    (video,) = gen.generate(["a dog"], seed=0)  # the render survives a failed store
    assert torch.equal(video.frames, _frames("fake-gen/v1", "a dog", 0))
    assert cache.usage().videos == 0 and cache.usage().temp_files == 0


def test_leftover_temp_files_are_ignored_and_cleaned_once_stale(cache):
    gen = CachedGenerator(CountingGenerator(), cache)
    gen.generate(["a dog"], seed=0)
    path = cache.video_path(video_key("fake-gen/v1", "a dog", 0))
    stale = path.parent / f".{path.name}.x1y2.tmp"  # what a writer killed mid-write leaves
    stale.write_bytes(b"PK half a zip")
    usage = cache.usage()
    assert (usage.videos, usage.temp_files) == (1, 1)
    assert gen.generate(["a dog"], seed=0)[0].frames.shape == (3, 8, 10, 3) and cache.stats.video_hits == 1
    assert cache.clean_temp() == 0 and stale.exists()  # may still be a live writer's
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    assert cache.clean_temp() == 1 and not stale.exists() and path.exists()


# ---------------------------------------------------------------- eviction


def _put(cache, prompt, age_s, fingerprint="fake-gen/v1"):
    """Store a video and its scores, and date its last use ``age_s`` seconds back."""
    key = video_key(fingerprint, prompt, 0)
    cache.put_video(key, Video(_frames(fingerprint, prompt, 0), fps=8))
    cache.put_scores(score_key(key, "r", prompt), {"VQ": 0.5})
    when = time.time() - age_s
    os.utime(cache.video_path(key), (when, when))
    return key


def test_eviction_removes_least_recently_used_videos_and_never_scores(cache):
    keys = {p: _put(cache, p, age) for p, age in [("v0", 400), ("v1", 300), ("v2", 200), ("v3", 100)]}
    assert cache.get_video(keys["v0"]) is not None  # a read makes v0 the most recent
    size = {p: cache.video_path(k).stat().st_size for p, k in keys.items()}
    report = cache.evict(size["v3"] + size["v0"])
    assert (report.removed, report.removed_bytes) == (2, size["v1"] + size["v2"])
    assert {p for p, k in keys.items() if cache.video_path(k).exists()} == {"v0", "v3"}
    assert cache.usage().scores == 4
    assert cache.evict(0).removed == 2 and cache.usage().videos == 0 and cache.usage().scores == 4


def test_writes_past_the_bound_evict_the_oldest_automatically(tmp_path):
    probe = RenderCache(tmp_path / "probe", max_video_bytes=None)
    one = max(probe.video_path(_put(probe, p, 0)).stat().st_size for p in ("v0", "v1", "v2", "v3", "v4"))
    cache = RenderCache(tmp_path / "rc", max_video_bytes=int(2.5 * one))
    keys = [_put(cache, f"v{i}", 500 - 100 * i) for i in range(5)]  # v0 oldest ... v4 newest
    present = [cache.video_path(k).exists() for k in keys]
    assert present == [False, False, False, True, True]
    assert cache.usage().video_bytes <= cache.max_video_bytes and cache.usage().scores == 5
    assert cache.stats.evicted_videos == 3


# ---------------------------------------------------------------- CachedReward


def _videos(prompts, seed=0):
    return [Video(_frames("fake-gen/v1", p, seed), fps=8) for p in prompts]


def test_reward_second_request_scores_nothing_and_merges_in_order(cache):
    inner = CountingReward()
    reward = CachedReward(inner, cache)
    first = reward.score(_videos(["a", "bb"]), ["a", "bb"])
    prompts = ["ccc", "a", "dddd", "bb", "a"]
    merged = reward.score(_videos(prompts), prompts)
    assert inner.scored == ["a", "bb", "ccc", "dddd"]
    _assert_scores_equal(merged, CountingReward().score(_videos(prompts), prompts))
    _assert_scores_equal(reward.score(_videos(["a", "bb"]), ["a", "bb"]), first)
    assert reward.fingerprint == inner.fingerprint and reward.dimensions == ("VQ", "TVA")
    assert (cache.stats.score_hits, cache.stats.score_misses) == (2 + 2, 4)


def test_reward_keys_on_video_content_fingerprint_and_original_prompt(cache):
    CachedReward(CountingReward(), cache).score(_videos(["a"]), ["a"])
    other_video, other_prompt, other_reward = CountingReward(), CountingReward(), CountingReward("fake-reward/v2")
    CachedReward(other_video, cache).score(_videos(["a"], seed=1), ["a"])
    CachedReward(other_prompt, cache).score(_videos(["a"]), ["a dog"])
    CachedReward(other_reward, cache).score(_videos(["a"]), ["a"])
    assert other_video.scored == ["a"] and other_prompt.scored == ["a dog"] and other_reward.scored == ["a"]


def test_raised_failures_are_retried_but_nan_failures_are_cached(cache):
    inner = CountingReward(raise_on={"boom"}, nan_on={"void"})
    reward = CachedReward(inner, cache)
    prompts = ["ok", "boom", "void"]
    first = reward.score(_videos(prompts), prompts)
    assert set(first.failures) == {1, 2} and "decoder exploded" in first.failures[1]
    assert "non-finite TVA" in first.failures[2]
    inner.scored.clear()
    again = reward.score(_videos(["void", "boom", "ok"]), ["void", "boom", "ok"])
    assert inner.scored == ["boom"]  # only the raised one is scored again
    assert again.failures == {0: first.failures[2], 1: first.failures[1]}
    assert all(math.isnan(again[dim][i]) for dim in ("VQ", "TVA") for i in (0, 1))  # failed: every dim NaN
    assert again["VQ"][2] == first["VQ"][0] and again["TVA"][2] == first["TVA"][0]


@pytest.mark.parametrize("content", ["{", '{"scores": [1, 2]}', '{"scores": {"VQ": 0.5}}', ""])
def test_a_damaged_or_incomplete_score_entry_is_rescored(cache, content):
    inner = CountingReward()
    reward = CachedReward(inner, cache)
    first = reward.score(_videos(["a"]), ["a"])
    key = score_key(_videos(["a"])[0].content_hash(), inner.fingerprint, "a")
    cache.score_path(key).write_text(content)  # the last one lacks the TVA dimension
    _assert_scores_equal(reward.score(_videos(["a"]), ["a"]), first)
    assert inner.scored == ["a", "a"]
    assert cache.get_scores(key).scores == first.item(0)


# ---------------------------------------------------------------- pav cache


def test_info_reports_entries_bytes_and_bound(cache, capsys):
    CachedGenerator(CountingGenerator(), cache).generate(["a", "b", "c"], seed=0)
    CachedReward(CountingReward(), cache).score(_videos(["a"]), ["a"])
    cache_cli.info(root=str(cache.root), max_video_bytes="1GB")
    out = capsys.readouterr().out
    assert str(cache.root) in out
    assert "videos: 3 entries" in out and "scores: 1 entries" in out and "bound 1.00 GB" in out


def test_prune_through_the_command_line_keeps_scores(cache, capsys):
    from jsonargparse import auto_cli

    gen = CachedGenerator(CountingGenerator(), cache)
    gen.generate(["a", "b"], seed=0)
    CachedReward(CountingReward(), cache).score(_videos(["a"]), ["a"])
    args = ["prune", "--root", str(cache.root), "--max_video_bytes", "1GB"]
    auto_cli(cache_cli.COMMANDS, args=args, as_positional=False)
    assert "evicted 0 videos" in capsys.readouterr().out and cache.usage().videos == 2
    auto_cli(cache_cli.COMMANDS, args=[*args, "--all_videos", "true"], as_positional=False)
    assert "evicted 2 videos" in capsys.readouterr().out
    assert (cache.usage().videos, cache.usage().scores) == (0, 1)


def test_cache_cli_imports_no_torch():
    code = ("import sys, prompt_a_video.commands.cache as c; assert set(c.COMMANDS) == {'info', 'prune'};"
            "print('HEAVY', [m for m in ('torch', 'lightning', 'transformers') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
