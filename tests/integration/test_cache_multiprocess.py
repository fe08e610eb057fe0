"""Several processes share one render cache (as DDP ranks and workers do): they write,
read and evict the same keys at once; no reader ever sees a damaged entry, every entry
left behind is readable and equal to a fresh render, and no temp file is left over."""

import hashlib
import multiprocessing as mp
import random
import traceback

import pytest
import torch

from prompt_a_video.cache import CachedGenerator, CachedReward, RenderCache, video_key
from prompt_a_video.generators.base import Generator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.video import Video

pytestmark = pytest.mark.integration

PROMPTS = [f"prompt {i}: a {animal} crossing a street" for i, animal in enumerate(
    ["dog", "cat", "fox", "horse", "duck", "goat", "bear", "owl", "frog", "deer", "seal", "crab"])]
HOT = PROMPTS[:3]  # written over and over by every process, raced against eviction
WORKERS = 3
ROUNDS = 40


def _frames(prompt: str, seed: int) -> torch.Tensor:
    digest = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()
    g = torch.Generator().manual_seed(int.from_bytes(digest[:7], "little"))
    return torch.randint(0, 256, (4, 16, 16, 3), generator=g, dtype=torch.uint8)


class NoiseGenerator(Generator):
    fingerprint = "noise/v1"

    def generate(self, prompts, seed):
        return [Video(_frames(p, seed), fps=8.0, meta={"prompt": p}) for p in prompts]


class MeanReward(Reward):
    dimensions = ("VQ", "TVA")
    fingerprint = "mean/v1"

    def score_batch(self, videos, prompts):
        return {"VQ": torch.stack([v.frames.float().mean() / 255 for v in videos]),
                "TVA": torch.tensor([len(p) / 100 for p in prompts])}


def _hammer(root: str, worker: int, max_video_bytes: int, barrier, results) -> None:
    """One process: mixed CachedGenerator/CachedReward batches plus raw rewrites of HOT keys."""
    try:
        cache = RenderCache(root, max_video_bytes=max_video_bytes)
        generator = CachedGenerator(NoiseGenerator(), cache, chunk_size=3)
        reward = CachedReward(MeanReward(), cache)
        rng = random.Random(worker)
        problems = []
        barrier.wait(timeout=60)  # start together, after the slow imports
        for _ in range(ROUNDS):
            prompts = rng.sample(PROMPTS, k=5)
            videos = generator.generate(prompts, seed=0)
            problems += [p for p, v in zip(prompts, videos) if not torch.equal(v.frames, _frames(p, 0))]
            scores = reward.score(videos, prompts)
            expected = MeanReward().score(videos, prompts)
            problems += [f"scores of {p}" for i, p in enumerate(prompts)
                         if scores.item(i) != expected.item(i)]
            for prompt in HOT:
                key = video_key(NoiseGenerator.fingerprint, prompt, 0)
                cache.put_video(key, Video(_frames(prompt, 0), fps=8.0, meta={"prompt": prompt}))
                video = cache.get_video(key)  # may be evicted by another process meanwhile: None is fine
                if video is not None and not torch.equal(video.frames, _frames(prompt, 0)):
                    problems.append(f"hot {prompt}")
        results.put((worker, problems, cache.stats.corrupt, cache.stats.evicted_videos, None))
    except BaseException:
        results.put((worker, [], 0, 0, traceback.format_exc()))


def test_processes_sharing_a_cache_never_see_damaged_entries(tmp_path):
    root = str(tmp_path / "render-cache")
    one_video = 4 * 16 * 16 * 3
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    # A bound of ~5 videos for 12 prompts: eviction runs all the time, in every process.
    procs = [ctx.Process(target=_hammer, args=(root, w, 5 * one_video, barrier, results)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    for worker, problems, corrupt, _, error in reports:
        assert error is None, f"worker {worker} crashed:\n{error}"
        assert problems == [], f"worker {worker} read wrong content: {problems}"
        assert corrupt == 0, f"worker {worker} read {corrupt} damaged entries"
    assert sum(r[3] for r in reports) > 0  # eviction did run concurrently with the reads

    cache = RenderCache(root, max_video_bytes=None)
    usage = cache.usage()
    assert usage.temp_files == 0 and usage.scores == len(PROMPTS)
    expected_keys = {video_key(NoiseGenerator.fingerprint, p, 0): p for p in PROMPTS}
    stored = {path.stem for path in (tmp_path / "render-cache" / "videos").glob("*/*.npz")}
    assert stored and stored <= set(expected_keys)
    for key in stored:
        assert torch.equal(cache.get_video(key).frames, _frames(expected_keys[key], 0))
    # every score entry is readable and equal to a fresh score: nothing is rescored
    counting = MeanReward()
    counting.score_batch = lambda *a: pytest.fail("a score entry was unreadable and rescored")
    videos = NoiseGenerator().generate(PROMPTS, seed=0)
    cached = CachedReward(counting, cache).score(videos, PROMPTS)
    fresh = MeanReward().score(videos, PROMPTS)
    assert all(cached.item(i) == fresh.item(i) for i in range(len(PROMPTS)))
    assert cache.stats.corrupt == 0
