"""The render-and-score engine: retry policy, seed means, floors, MP4s, sharded outputs."""

from __future__ import annotations

import json
import math

import pytest
import torch

from prompt_a_video.generators.base import Generator
from prompt_a_video.generators.synthetic import SyntheticGenerator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.composite import CompositeReward
from prompt_a_video.scoring import Item, ScoringEngine, ScoringSettings, average_over_seeds
from prompt_a_video.scoring.isolation import is_out_of_memory, isolated
from prompt_a_video.scoring.items import Scored
from prompt_a_video.scoring.shards import ShardedOutput
from prompt_a_video.video import Video


class CountingGenerator(Generator):
    """A tiny video per prompt whose pixels encode the word count; records every call's size.
    Raises on any batch holding ``poison``; an out-of-memory error on batches above ``fits``."""

    fingerprint = "Counting/v1"

    def __init__(self, poison: str | None = None, fits: int | None = None) -> None:
        self.poison, self.fits, self.calls = poison, fits, []

    def generate(self, prompts, seed):
        self.calls.append(len(prompts))
        if self.fits is not None and len(prompts) > self.fits:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.poison in prompts:
            raise ValueError(f"cannot render {self.poison!r}")
        return [Video(torch.full((1, 2, 2, 3), len(p.split()) + seed, dtype=torch.uint8), 8, {"prompt": p})
                for p in prompts]


class Brightness(Reward):
    """``B``: the mean pixel value; NaN for a video of exactly 3 words (a failed score)."""

    dimensions = ("B",)
    fingerprint = "Brightness/v1"

    def score_batch(self, videos, prompts):
        values = [v.frames.float().mean().item() for v in videos]
        return {"B": torch.tensor([math.nan if len(v.meta["prompt"].split()) == 3 else x
                                   for v, x in zip(videos, values)])}


def engine(generator, batch_size=4, floors=None) -> ScoringEngine:
    reward = CompositeReward([Brightness()], weights={"B": 1.0}, floors=floors or {})
    return ScoringEngine(generator, reward, ScoringSettings(batch_size=batch_size, use_cache=False))


TEXTS = ["a dog", "a red car", "a cat on a sofa", "a very long prompt about a boat", "two birds"]


# ------------------------------------------------------------------ the retry policy
def test_a_failed_batch_is_retried_item_by_item_and_only_the_culprit_fails():
    gen = CountingGenerator(poison="a cat on a sofa")
    results = engine(gen, batch_size=8).score([Item(t, t, 0, t) for t in TEXTS])
    assert gen.calls == [5, 1, 1, 1, 1, 1]  # the batch, then each prompt alone
    assert [r.failed for r in results] == [False, True, True, False, False]
    assert results[2].failure == "render: ValueError: cannot render 'a cat on a sofa'"
    assert results[1].failure.startswith("score: ") and "non-finite B" in results[1].failure  # 3 words
    assert results[0].reward == results[0].scores["B"] == 2.0


def test_out_of_memory_retries_in_halves_down_to_what_fits():
    gen = CountingGenerator(fits=2)
    results = engine(gen, batch_size=8).score([Item(t, t, 0, t) for t in TEXTS if t != "a red car"])
    assert gen.calls == [4, 2, 2]  # 4 is too many, two halves of 2 fit
    assert not any(r.failed for r in results)
    assert is_out_of_memory(MemoryError()) and not is_out_of_memory(ValueError("bad prompt"))


def test_an_item_that_fails_alone_is_returned_with_its_reason_never_raised():
    def call(batch):
        raise KeyError("always")

    assert isolated(call, [1, 2], "render") == ["KeyError: 'always'", "KeyError: 'always'"]
    assert isolated(lambda batch: batch[:1], [1, 2], "render") == [1, 2]  # a short answer: retried one by one


# ------------------------------------------------------------------ batching, floors, seed means
def test_items_are_rendered_per_seed_in_batches_and_a_repeated_text_once():
    gen = CountingGenerator()
    items = [Item(t, "a dog", s, t) for s in (0, 1) for t in ["a dog", "two birds", "a dog", "a b c d e"]]
    results = engine(gen, batch_size=2).score(items)
    assert gen.calls == [2, 1, 2, 1]  # 3 distinct texts a seed, batches of 2
    assert [r.item for r in results] == items
    assert results[0].reward == 2.0 and results[4].reward == 3.0  # seed 1 adds 1 to every pixel


def test_seed_means_by_hand_and_floors_must_hold_under_every_seed():
    results = engine(CountingGenerator(), floors={"B": 2.5}).score(
        [Item(t, t, s, t) for s in (0, 1) for t in ["a dog", "a b c d"]])
    assert [r.passes_floors for r in results] == [False, True, True, True]
    dog, four = average_over_seeds(results)
    assert (dog.key, dog.scores["B"], dog.reward, dog.passes_floors, dog.seeds) == ("a dog", 2.5, 2.5, False, 2)
    assert (four.reward, four.passes_floors) == (4.5, True)


def test_a_seed_that_fails_fails_the_mean_with_its_seed_named():
    gen = CountingGenerator(poison="two birds")
    first = engine(gen).score([Item("two birds", "two birds", 0, "k")])
    ok = Scored(Item("two birds", "two birds", 1, "k"), {"B": 3.0}, 3.0, None)
    (mean,) = average_over_seeds([ok, *first])
    assert mean.failed and mean.failure.startswith("seed 0: render: ValueError") and math.isnan(mean.reward)


def test_videos_are_written_once_per_file_and_named_in_the_result(tmp_path):
    gen = SyntheticGenerator(num_frames=2, height=16, width=16)
    results = engine(gen).score([Item("a dog", "a dog", 0, "x"), Item("a dog", "a cat", 0, "y")],
                                video_dir=tmp_path / "videos")
    assert results[0].video_file == results[1].video_file
    assert (tmp_path / "videos" / results[0].video_file).stat().st_size > 0
    assert results[0].meta["prompt"] == "a dog" and results[0].video is None


# ------------------------------------------------------------------ sharded outputs
def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_merge_keeps_each_key_once_in_work_order_and_prefers_a_success(tmp_path):
    out = ShardedOutput(tmp_path / "scores.jsonl", key=lambda r: r["id"], failed=lambda r: r.get("failure") is not None)
    _write(out.out, [{"id": "c"}, {"id": "a", "failure": "oom"}])
    _write(out.shard(0), [{"id": "a"}, {"id": "b"}])
    _write(out.shard(1), [{"id": "b", "x": 1}, {"id": "z"}])
    out.shard(1).write_bytes(out.shard(1).read_bytes() + b'{"id": "cut off')  # a killed writer
    assert out.done() == {"a", "b", "c", "z"} and out.done(retry_failed=True) == {"a", "b", "c", "z"}
    report = out.merge(["a", "b", "c"])
    assert [r["id"] for r in out.records()] == ["a", "b", "c", "z"] and "failure" not in out.records()[0]
    assert (report.records, report.duplicates, report.shards) == (4, 2, 2) and not out.shards()


def test_a_damaged_line_in_the_middle_names_the_file_and_line(tmp_path):
    from prompt_a_video.data import DataFormatError

    out = ShardedOutput(tmp_path / "scores.jsonl", key=lambda r: r["id"])
    out.out.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(DataFormatError, match=r"scores.jsonl:2: not a JSON record"):
        out.done()
    with pytest.raises(ValueError, match="must be a .jsonl file"):
        ShardedOutput(tmp_path / "scores.json", key=str)


def test_mp4_is_complete_knows_a_whole_file_from_a_cut_or_empty_one(tmp_path):
    from prompt_a_video.video_io import mp4_is_complete, write_mp4

    path = write_mp4(Video(torch.zeros(4, 16, 16, 3, dtype=torch.uint8), 8), tmp_path / "v.mp4")
    data = path.read_bytes()
    assert mp4_is_complete(path)
    for cut in (len(data) - 1, len(data) // 2, 7, 0):
        path.write_bytes(data[:cut])
        assert not mp4_is_complete(path), cut
    assert not mp4_is_complete(tmp_path / "missing.mp4")


def test_an_evaluation_rerun_renders_again_the_videos_cut_or_deleted_since(tmp_path):
    from prompt_a_video.evaluation.runner import render_and_score

    rewrites = [{"method": m, "prompt": p, "sample": 0, "text": f"{p} {m}"} for m in ("original", "other")
                for p in ("a dog runs", "two birds fly")]
    gen = CountingGenerator()
    first = render_and_score(rewrites, engine(gen, batch_size=1), tmp_path, seeds=[0])  # chunks of 1
    videos = [tmp_path / r["video"] for r in first]
    assert len(gen.calls) == 4 and all(v.stat().st_size > 0 for v in videos)
    whole = videos[0].read_bytes()
    videos[0].write_bytes(whole[: len(whole) // 2])  # cut short
    videos[1].unlink()

    again = render_and_score(rewrites, engine(gen, batch_size=1), tmp_path, seeds=[0])

    assert gen.calls[4:] == [1, 1]  # only the two damaged videos were rendered again
    assert videos[0].read_bytes() == whole and videos[1].is_file()
    assert [json.dumps(r, sort_keys=True) for r in again] == [json.dumps(r, sort_keys=True) for r in first]
    assert len((tmp_path / "scores.jsonl").read_text().splitlines()) == 4
