"""Writers and readers agree, and the records have DESIGN.md's keys exactly."""

from __future__ import annotations

import json
import math

from prompt_a_video.data import (
    Candidate,
    JsonlWriter,
    PoolRecord,
    PreferencePair,
    PromptItem,
    iter_pairs,
    iter_pool,
    load_prompts,
    sft_pairs,
    write_prompts_txt,
)

POOL_KEYS = ["prompt", "backbone", "candidates", "best"]
CANDIDATE_KEYS = ["prompt", "iteration", "scores", "reward"]
PAIR_KEYS = ["prompt", "chosen", "rejected", "chosen_reward", "rejected_reward", "chosen_scores", "rejected_scores"]


def _pool():
    c0 = Candidate("a dog running", 0, {"VQ": 2.9, "TVA": 3.0}, 2.95)
    c1 = Candidate("A golden retriever sprints across a sunlit beach, slow motion", 1, {"VQ": 3.4, "TVA": 3.1}, 3.25)
    failed = Candidate("a dog, abstract", 2, {"VQ": float("nan"), "TVA": 2.0}, float("nan"))
    return [
        PoolRecord("a dog running", "cogvideox-2b@abc|steps=50", [c0, c1, failed], c1),
        PoolRecord("a red car", "cogvideox-2b@abc|steps=50", [Candidate("a red car", 0, {"VQ": 1.0}, 1.0)], None),
    ]


def _same(a, b):
    """Equality that treats NaN as equal to NaN (a failed reward round-trips as NaN)."""
    return json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


def test_pool_round_trip_and_keys(tmp_path):
    path = tmp_path / "pool.jsonl"
    records = _pool()
    with JsonlWriter(path) as w:
        w.write_many(records)
    back = list(iter_pool(path))
    assert len(back) == 2 and all(_same(a, b) for a, b in zip(records, back))
    assert math.isnan(back[0].candidates[2].reward)
    first = json.loads(path.read_text().splitlines()[0])
    assert list(first) == POOL_KEYS
    assert list(first["best"]) == CANDIDATE_KEYS
    assert all(list(c) == CANDIDATE_KEYS for c in first["candidates"])
    second = json.loads(path.read_text().splitlines()[1])
    assert second["best"] is None


def test_pool_optional_keys_default(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text(json.dumps({"prompt": "a dog", "candidates": [{"prompt": "a dog, 4k", "scores": {"VQ": None}}]}) + "\n")
    [rec] = iter_pool(path)
    assert rec.backbone is None and rec.best is None
    cand = rec.candidates[0]
    assert cand.iteration is None and cand.reward is None
    assert math.isnan(cand.scores["VQ"])  # null score = failed to score


def test_sft_pairs_yields_original_and_best():
    assert list(sft_pairs(_pool())) == [
        ("a dog running", "A golden retriever sprints across a sunlit beach, slow motion")
    ]


def test_pairs_round_trip_and_keys(tmp_path):
    path = tmp_path / "pairs.jsonl"
    pairs = [
        PreferencePair("a dog", "a dog running on a beach, 4k", "a dog", 3.2, 2.9, {"VQ": 3.2}, {"VQ": 2.9}),
        PreferencePair("a cat", "a tabby cat asleep in the sun", "a cat, blurry"),
    ]
    with JsonlWriter(path) as w:
        w.write_many(pairs)
    assert list(iter_pairs(path)) == pairs
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(list(r) == PAIR_KEYS for r in rows)
    assert rows[1]["chosen_reward"] is None and rows[1]["chosen_scores"] is None


def test_triplet_lines_in_jsonl(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"prompt": "a dog", "chosen": "a dog running", "rejected": "a dog"}\n')
    assert list(iter_pairs(path)) == [PreferencePair("a dog", "a dog running", "a dog")]


def test_prompts_txt_round_trip(tmp_path):
    path = tmp_path / "sets" / "prompts.txt"
    prompts = ["a dog running", "  a cat sleeping  ", PromptItem("une voiture rouge — 車")]
    assert write_prompts_txt(path, prompts) == 3
    items = load_prompts(path)
    assert [i.prompt for i in items] == ["a dog running", "a cat sleeping", "une voiture rouge — 車"]
    assert [i.line for i in items] == [1, 2, 3]
    assert all(i.source == str(path) and i.meta == {} for i in items)


def test_prompts_jsonl_round_trip_keeps_meta(tmp_path):
    path = tmp_path / "prompts.jsonl"
    items = [PromptItem("a dog", {"split": "dpo", "tags": ["animal"]}), PromptItem("a car")]
    with JsonlWriter(path) as w:
        w.write_many(items)
    back = load_prompts(path)
    assert [(i.prompt, i.meta, i.line) for i in back] == [
        ("a dog", {"split": "dpo", "tags": ["animal"]}, 1),
        ("a car", {}, 2),
    ]
