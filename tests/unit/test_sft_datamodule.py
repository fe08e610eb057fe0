"""SFT examples from pools of every accepted format, split by prompt, streamed and
sharded over (simulated) DDP ranks and DataLoader workers."""

import json
import math
import random
import warnings
from collections import Counter

import pytest

from prompt_a_video.data import Candidate, DataFormatWarning, JsonlWriter, PoolRecord
from prompt_a_video.datamodules.sft import SFTDataModule, SFTExamples
from prompt_a_video.datamodules.split import batches_per_rank, in_validation
from prompt_a_video.datamodules.streaming import StreamingLoader, buffer_shuffle


def test_split_is_by_prompt_text_and_stable():
    prompts = [f"prompt number {i}" for i in range(2000)]
    held = [p for p in prompts if in_validation(p, 0.1)]
    assert 150 < len(held) < 250
    assert held == [p for p in reversed(prompts) if in_validation(p, 0.1)][::-1]
    assert in_validation("A Dog Running ", 0.5) == in_validation("a dog running", 0.5)
    with pytest.raises(ValueError, match="val_fraction"):
        in_validation("x", 1.0)


def test_reads_jsonl_pools_and_paper_pairs_and_skips_records_without_best(tmp_path):
    pool = tmp_path / "pool.jsonl"
    best = Candidate("a dog sprints on a sunny beach", 1, {"TVA": 3.1}, 3.1)
    with JsonlWriter(pool) as writer:
        writer.write(PoolRecord("a dog running", "synthetic", [best], best))
        writer.write(PoolRecord("a cat sleeping", "synthetic", [], None))
    paper = tmp_path / "paper.json"
    paper.write_text(json.dumps([["a red car", "a glossy red car drives in the rain"]]))
    data = SFTDataModule(pools=[str(pool), str(paper)], val_fraction=0.0, batch_size=2)
    data.setup("fit")
    assert sorted(ex["prompt"] for ex in data.train) == ["a dog running", "a red car"]
    batch = next(iter(data.train_dataloader()))
    assert set(batch) == {"prompt", "target"} and len(batch["prompt"]) == 2


def test_skip_mode_counts_bad_records(tmp_path):
    pool = tmp_path / "pool.jsonl"
    good = {"prompt": "a dog", "backbone": None, "candidates": [], "best": {"prompt": "a big dog", "iteration": 1,
                                                                          "scores": {}, "reward": 1.0}}
    pool.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(ValueError, match="pool.jsonl:2"):
        SFTDataModule(pools=[str(pool)], val_fraction=0.0).setup("fit")
    data = SFTDataModule(pools=[str(pool)], val_fraction=0.0, errors="skip")
    with pytest.warns(UserWarning, match="pool.jsonl:2"):
        data.setup("fit")
    assert len(data.train) == 1 and len(data.skipped) == 1


def test_empty_pool_is_a_clear_error(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(json.dumps({"prompt": "a dog", "candidates": []}) + "\n")
    with pytest.raises(ValueError, match="no SFT examples"):
        SFTDataModule(pools=[str(pool)]).setup("fit")


# -- streaming: sharding over ranks and workers, growing pools, split, paper logs ----------


def _write_pool(path, prompts):
    with JsonlWriter(path) as writer:
        for p in prompts:
            best = Candidate(f"{p}, cinematic", 1, {"TVA": 1.0}, 1.0)
            writer.write(PoolRecord(p, "synthetic", [best], best))


def _shards(pool, world, workers, remainder, epoch=0, **kwargs):
    """Each simulated rank's examples, per worker: ``[rank][worker] -> [prompt, ...]``."""
    out = []
    for rank in range(world):
        ds = SFTExamples([str(pool)], val_fraction=0.0, shuffle=True, shuffle_buffer=5, remainder=remainder,
                         rank=rank, world_size=world, seed=7, **kwargs)
        ds.set_epoch(epoch)
        out.append([[ex["prompt"] for ex in ds.iter_shard(w, workers)] for w in range(workers)])
        assert sum(map(len, out[-1])) == len(ds)
    return out


@pytest.mark.parametrize("world,workers", [(1, 1), (1, 3), (2, 1), (2, 2), (3, 2), (4, 3)])
@pytest.mark.parametrize("n", [23, 24])
def test_drop_policy_every_example_once_except_remainder_and_equal_batches(tmp_path, world, workers, n):
    prompts = [f"prompt {i}" for i in range(n)]
    _write_pool(tmp_path / "pool.jsonl", prompts)
    shards = _shards(tmp_path / "pool.jsonl", world, workers, "drop")
    seen = Counter(p for rank in shards for worker in rank for p in worker)
    assert max(seen.values()) == 1
    assert set(seen) <= set(prompts) and len(prompts) - len(seen) == n % world
    assert {sum(map(len, rank)) for rank in shards} == {n // world}
    for batch_size in (1, 2, 5):
        per_rank = {sum(math.ceil(len(w) / batch_size) for w in rank) for rank in shards}
        assert per_rank == {batches_per_rank(n // world, batch_size, workers)}


@pytest.mark.parametrize("world,workers", [(2, 1), (3, 2), (4, 3), (5, 1)])
def test_pad_policy_every_example_at_least_once_and_equal_counts(tmp_path, world, workers):
    prompts = [f"prompt {i}" for i in range(3 if world == 5 else 11)]  # 5 ranks > 3 examples
    _write_pool(tmp_path / "pool.jsonl", prompts)
    shards = _shards(tmp_path / "pool.jsonl", world, workers, "pad")
    seen = Counter(p for rank in shards for worker in rank for p in worker)
    assert set(seen) == set(prompts)
    assert sum(seen.values()) - len(prompts) == -len(prompts) % world
    assert {sum(map(len, rank)) for rank in shards} == {math.ceil(len(prompts) / world)}


def test_shuffle_is_seeded_per_epoch(tmp_path):
    _write_pool(tmp_path / "pool.jsonl", [f"prompt {i}" for i in range(30)])
    order = {e: _shards(tmp_path / "pool.jsonl", 1, 1, "drop", epoch=e)[0][0] for e in (0, 1)}
    assert order[0] == _shards(tmp_path / "pool.jsonl", 1, 1, "drop", epoch=0)[0][0]
    assert order[0] != order[1] and sorted(order[0]) == sorted(order[1])
    assert sorted(buffer_shuffle(range(10), 3, random.Random(0))) == list(range(10))


def test_real_workers_share_a_rank_without_duplicates_and_len_is_exact(tmp_path):
    prompts = [f"prompt {i}" for i in range(13)]
    _write_pool(tmp_path / "pool.jsonl", prompts)
    ds = SFTExamples([str(tmp_path / "pool.jsonl")], val_fraction=0.0, shuffle=True)
    loader = StreamingLoader(ds, batch_size=3, num_workers=2,
                             collate_fn=lambda rows: [r["prompt"] for r in rows])
    batches = list(loader)
    assert len(batches) == len(loader) == batches_per_rank(13, 3, 2)
    assert sorted(p for b in batches for p in b) == sorted(prompts)


def test_growing_pool_is_read_to_its_last_complete_line_and_picked_up_next_epoch(tmp_path):
    pool = tmp_path / "pool.jsonl"
    _write_pool(pool, [f"early {i}" for i in range(4)])
    record = json.dumps(PoolRecord("late 0", None, [Candidate("late 0, dusk")], Candidate("late 0, dusk")).to_dict())
    with open(pool, "a") as f:  # a writer caught mid-record
        f.write(record[:20])
    data = SFTDataModule(pools=[str(pool)], val_fraction=0.0, batch_size=3)  # errors="raise"
    data.setup("fit")
    loader = data.train_dataloader()  # the epoch's snapshot: 4 complete lines
    with open(pool, "a") as f:
        f.write(record[20:] + "\n")
    _write_pool(pool, ["late 1"])
    first = [p for batch in loader for p in batch["prompt"]]  # what was appended waits
    assert sorted(first) == [f"early {i}" for i in range(4)] and len(loader) == 2
    second = [p for batch in loader for p in batch["prompt"]]
    assert sorted(second) == sorted(first + ["late 0", "late 1"])
    assert len(loader) == 2 and len(data.train) == 6


def test_split_by_prompt_keeps_all_examples_of_a_prompt_on_one_side(tmp_path):
    prompts = [f"prompt {i}" for i in range(40)]
    _write_pool(tmp_path / "a.jsonl", prompts)
    paper = tmp_path / "b.json"  # the same prompts again, other targets, another format
    paper.write_text(json.dumps([[p, f"{p} at dawn"] for p in prompts]))
    data = SFTDataModule(pools=[str(tmp_path / "a.jsonl"), str(paper)], val_fraction=0.5, seed=1)
    data.setup("fit")
    train = Counter(ex["prompt"] for ex in data.train)
    val = Counter(ex["prompt"] for ex in data.val)
    assert train and val and not set(train) & set(val) and set(train) | set(val) == set(prompts)
    assert set(train.values()) == set(val.values()) == {2}
    assert set(val) == {p for p in prompts if in_validation(p, 0.5, seed=1)}


def test_paper_evolution_logs_give_the_best_candidate_above_the_original(tmp_path):
    logs = [[
        [{"prompt": "a dog", "scores": {"VQ": 3.0, "TVA": 3.0}},
         {"prompt": "a dog running on a beach", "scores": {"VQ": 3.0, "TVA": 4.0}}],
        [{"prompt": "a dog, blurry", "scores": {"VQ": 1.0, "TVA": 2.0}}],
    ]]
    (tmp_path / "logs.json").write_text(json.dumps(logs))
    data = SFTDataModule(pools=[str(tmp_path / "logs.json")], val_fraction=0.0)
    data.setup("fit")
    assert list(data.train) == [{"prompt": "a dog", "target": "a dog running on a beach"}]


def test_skipped_records_are_counted_once_across_sides_and_epochs(tmp_path):
    pool = tmp_path / "pool.jsonl"
    _write_pool(pool, [f"prompt {i}" for i in range(6)])
    with open(pool, "a") as f:
        f.write('{"prompt": "no candidates"}\n')
    data = SFTDataModule(pools=[str(pool)], val_fraction=0.3, errors="skip")
    with pytest.warns(DataFormatWarning, match="pool.jsonl:7: missing key 'candidates'"):
        data.setup("fit")
    loader = data.train_dataloader()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataFormatWarning)
        for _epoch in range(2):
            list(loader)
            list(data.val_dataloader())
    assert len(data.skipped) == 1


def test_missing_or_unknown_files_fail_at_setup_naming_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl: data file not found"):
        SFTDataModule(pools=[str(tmp_path / "nope.jsonl")]).setup("fit")
    (tmp_path / "pool.txt").write_text("a dog\n")
    with pytest.raises(ValueError, match=r"pool.txt: not an evolved pool"):
        SFTDataModule(pools=[str(tmp_path / "pool.txt")]).setup("fit")
    with pytest.raises(ValueError, match="errors="):
        SFTDataModule(pools=["x.jsonl"], errors="ignore")
    with pytest.raises(ValueError, match="data.pools is empty"):
        SFTDataModule(pools=[])


def test_rank_comes_from_the_trainer_and_too_few_examples_for_the_ranks_is_an_error(tmp_path):
    from types import SimpleNamespace

    _write_pool(tmp_path / "pool.jsonl", [f"prompt {i}" for i in range(5)])
    shares = []
    for rank in (0, 1):
        data = SFTDataModule(pools=[str(tmp_path / "pool.jsonl")], val_fraction=0.0, batch_size=1)
        data.trainer = SimpleNamespace(global_rank=rank, world_size=2, current_epoch=0)
        data.setup("fit")
        shares.append([p for batch in data.train_dataloader() for p in batch["prompt"]])
    assert len(shares[0]) == len(shares[1]) == 2 and not set(shares[0]) & set(shares[1])
    data = SFTDataModule(pools=[str(tmp_path / "pool.jsonl")], val_fraction=0.0)
    data.trainer = SimpleNamespace(global_rank=0, world_size=6, current_epoch=0)
    with pytest.raises(ValueError, match="5 training SFT examples .* cannot be shared by 6 ranks"):
        data.setup("fit")
