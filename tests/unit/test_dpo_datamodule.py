"""DPO batches from preference-pair files, and prompt-set batches for prediction."""

import json
import sys
import types
from collections import Counter

import pytest

from prompt_a_video.data import JsonlWriter, PreferencePair
from prompt_a_video.datamodules.dpo import DPODataModule
from prompt_a_video.datamodules.prompts import PromptSetDataModule
from prompt_a_video.datamodules.split import in_validation


def _write_pairs(path, prompts, per_prompt=1):
    pairs = []
    with JsonlWriter(path) as writer:
        for p in prompts:
            for k in range(per_prompt):
                pair = PreferencePair(p, f"{p}, golden light {k}", f"{p}, blurry {k}", 3.2, 2.1,
                                      {"VQ": 3.2}, {"VQ": 2.1})
                writer.write(pair)
                pairs.append((pair.prompt, pair.chosen, pair.rejected))
    return pairs


def _triples(batches):
    for batch in batches:
        assert set(batch) == {"prompt", "chosen", "rejected"}
        assert len(batch["prompt"]) == len(batch["chosen"]) == len(batch["rejected"])
        assert all(isinstance(t, str) for key in batch for t in batch[key])
        yield from zip(batch["prompt"], batch["chosen"], batch["rejected"])


def test_batches_from_our_records_and_paper_triplets(tmp_path):
    ours = _write_pairs(tmp_path / "pairs.jsonl", [f"prompt {i}" for i in range(5)])
    triplets = [{"prompt": "a red car", "chosen": "a glossy red car in the rain", "rejected": "red car"}]
    (tmp_path / "paper.json").write_text(json.dumps(triplets))
    data = DPODataModule(pairs=[str(tmp_path / "pairs.jsonl"), str(tmp_path / "paper.json")],
                         val_fraction=0.0, batch_size=4)
    data.setup("fit")
    loader = data.train_dataloader()
    seen = list(_triples(loader))
    assert len(loader) == 2
    assert Counter(seen) == Counter(ours + [("a red car", "a glossy red car in the rain", "red car")])


def test_split_by_prompt_and_validation_order_is_stable(tmp_path):
    prompts = [f"prompt {i}" for i in range(30)]
    _write_pairs(tmp_path / "pairs.jsonl", prompts, per_prompt=3)
    data = DPODataModule(pairs=[str(tmp_path / "pairs.jsonl")], val_fraction=0.4, batch_size=5, seed=2)
    data.setup("fit")
    train = {t[0] for t in _triples(data.train_dataloader())}
    val_loader = data.val_dataloader()
    val = list(_triples(val_loader))
    assert train and val and not train & {t[0] for t in val}
    assert {t[0] for t in val} == {p for p in prompts if in_validation(p, 0.4, seed=2)}
    assert set(Counter(t[0] for t in val).values()) == {3}  # all three pairs of each prompt
    assert list(_triples(val_loader)) == val


def test_bad_pairs_raise_or_are_skipped_and_counted(tmp_path):
    path = tmp_path / "pairs.jsonl"
    _write_pairs(path, ["a dog", "a cat"])
    with open(path, "a") as f:
        f.write(json.dumps({"prompt": "a cow", "chosen": "a cow", "rejected": "a cow"}) + "\n")
    with pytest.raises(ValueError, match="pairs.jsonl:3: chosen and rejected are identical"):
        DPODataModule(pairs=[str(path)], val_fraction=0.0).setup("fit")
    data = DPODataModule(pairs=[str(path)], val_fraction=0.0, errors="skip")
    with pytest.warns(UserWarning, match="pairs.jsonl:3"):
        data.setup("fit")
    assert len(data.train) == 2 and len(data.skipped) == 1
    with pytest.raises(ValueError, match="data.pairs is empty"):
        DPODataModule(pairs=[])


# -- prompt sets -------------------------------------------------------------------------


def _prompts(data):
    data.setup("predict")
    batches = list(data.predict_dataloader())
    assert all(set(b) == {"prompt"} for b in batches)
    return [b["prompt"] for b in batches]


def test_prompt_set_batches_in_file_order_with_limit(tmp_path):
    (tmp_path / "p.txt").write_text("a dog\na cat\na red car\na boat\n")
    assert _prompts(PromptSetDataModule(str(tmp_path / "p.txt"), batch_size=2, limit=3)) == [
        ["a dog", "a cat"], ["a red car"]]
    (tmp_path / "p.jsonl").write_text('{"prompt": "a dog", "tag": 1}\n{"prompt": ""}\n{"prompt": "a boat"}\n')
    data = PromptSetDataModule(str(tmp_path / "p.jsonl"), batch_size=8, errors="skip")
    with pytest.warns(UserWarning, match="p.jsonl:2"):
        assert _prompts(data) == [["a dog", "a boat"]]
    assert len(data.skipped) == 1 and data.items[0].meta == {"tag": 1}
    with pytest.raises(ValueError, match=r"limit must be an int >= 1, or null for all the prompts; got 0"):
        PromptSetDataModule(str(tmp_path / "p.txt"), limit=0)


def test_prompt_set_from_vbench_dimensions(tmp_path, monkeypatch):
    folder = tmp_path / "vbench"
    folder.mkdir()
    (folder / "VBench_full_info.json").write_text(json.dumps([
        {"prompt_en": "alley", "dimension": ["scene"]},
        {"prompt_en": "a red bicycle", "dimension": ["color"]},
        {"prompt_en": "a blue car", "dimension": ["color"]},
    ]))
    fake = types.ModuleType("prompt_a_video.assets")
    fake.require_asset = lambda name: folder
    monkeypatch.setitem(sys.modules, "prompt_a_video.assets", fake)
    assert _prompts(PromptSetDataModule("vbench:color", batch_size=1)) == [["a red bicycle"], ["a blue car"]]
