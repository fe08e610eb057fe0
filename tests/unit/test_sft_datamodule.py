"""SFT examples from pools of every accepted format, split by prompt."""

import json

import pytest

from prompt_a_video.data import Candidate, JsonlWriter, PoolRecord
from prompt_a_video.datamodules.sft import SFTDataModule
from prompt_a_video.datamodules.split import in_validation


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
