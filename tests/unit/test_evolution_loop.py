"""The evolution loop on fakes: what is kept, what is best, what is rendered, what fails;
the shard merge that makes distributed and resumed runs end with one deterministic pool."""

import json
import math
import random

import pytest
import torch

from prompt_a_video.evolution.base import Operator, Scored
from prompt_a_video.evolution.loop import EvolutionLoop, derive_seed
from prompt_a_video.evolution.pool_stats import best_so_far_curve, pool_statistics
from prompt_a_video.evolution.shards import completed_prompts, merge_shards, shard_path, shard_paths
from prompt_a_video.generators.base import Generator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.composite import CompositeReward
from prompt_a_video.video import Video

PHRASES = ["slow motion", "golden hour light", "close-up shot", "highly detailed", "soft focus", "wide angle",
           "cinematic", "forbidden", "tracking shot", "4k"]


class CountingGenerator(Generator):
    """Frames from the prompt's words; counts every (prompt, seed) it renders; raises on BOOM."""

    def __init__(self):
        self.rendered: list[tuple[str, int]] = []
        self.calls = 0
        self.largest_batch = 0

    @property
    def fingerprint(self) -> str:
        return "counting/v1"

    def generate(self, prompts, seed):
        self.calls += 1
        self.largest_batch = max(self.largest_batch, len(prompts))
        if any("BOOM" in p for p in prompts):
            raise RuntimeError("cannot render BOOM")
        self.rendered += [(p, seed) for p in prompts]
        return [Video(torch.full((1, 2, 2, 3), len(p) % 256, dtype=torch.uint8), 8.0, {"prompt": p, "seed": seed})
                for p in prompts]


class WordsReward(Reward):
    """W = words of the rendered prompt / 10 (+ 0.1 * seed); F = 0 if it says 'forbidden';
    NaN for a rendered prompt saying 'nan'."""

    dimensions = ("W", "F")

    @property
    def fingerprint(self) -> str:
        return "words/v1"

    def score_batch(self, videos, prompts):
        w, f = [], []
        for v in videos:
            text = v.meta["prompt"]
            w.append(math.nan if "nan" in text.split() else len(text.split()) / 10 + 0.1 * v.meta["seed"])
            f.append(0.0 if "forbidden" in text else 1.0)
        return {"W": torch.tensor(w), "F": torch.tensor(f)}


def words_reward():
    return CompositeReward([WordsReward()], weights={"W": 1.0}, floors={"F": 0.5})


class PhraseOperator(Operator):
    """Appends seeded random phrases to the best prompt; also returns repeats (the original,
    a whitespace variant of it, a duplicate) that the loop must drop. Records its calls."""

    def __init__(self, fail_on: str | None = None):
        self.fail_on = fail_on
        self.calls: list[tuple[str, list[Scored], int, int]] = []

    def propose(self, original, history, n, *, seed=None):
        self.calls.append((original, list(history), n, seed))
        if self.fail_on and self.fail_on in original:
            raise ConnectionError("API down")
        rng = random.Random(seed)
        base = history[0].prompt if history else original
        out = [f"{base}, {p}" for p in rng.sample(PHRASES, n)]
        return out + [original, f"  {original}  ", out[0]]


class ScriptedOperator(Operator):
    """Returns fixed proposals per source and iteration, whatever the history: ``script``
    is a list (iteration 1, 2...) of lists, or ``{original: such a list}``."""

    def __init__(self, script):
        self.script = script
        self.done: dict[str, int] = {}

    def propose(self, original, history, n, *, seed=None):
        i = self.done[original] = self.done.get(original, 0) + 1
        script = self.script.get(original, []) if isinstance(self.script, dict) else self.script
        return list(script[i - 1]) if i <= len(script) else []


def make_loop(operator=None, generator=None, **kwargs):
    kwargs.setdefault("iterations", 3)
    kwargs.setdefault("proposals_per_iteration", 3)
    return EvolutionLoop(generator or CountingGenerator(), words_reward(), operator or PhraseOperator(), **kwargs)


def test_every_candidate_is_kept_with_its_iteration_and_scored_against_the_original():
    gen = CountingGenerator()
    (result,) = make_loop(generator=gen).evolve(["a cat"])
    record = result.record
    assert result.error is None and record.prompt == "a cat" and record.backbone == "counting/v1"
    assert record.candidates[0].prompt == "a cat" and record.candidates[0].iteration == 0
    assert [c.iteration for c in record.candidates] == [0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    for c in record.candidates:
        assert c.reward == pytest.approx(len(c.prompt.split()) / 10)  # W, weight 1
        assert set(c.scores) == {"W", "F", "passes_floors"}
    # proposals build on the best so far: iteration 2 extends an iteration-1 prompt
    assert any(c.prompt.startswith(record.candidates[1].prompt[:8]) for c in record.candidates if c.iteration == 2)


def test_best_is_the_top_rewrite_that_passes_the_floors_and_the_operator_sees_that_ranking():
    op = ScriptedOperator([
        ["a cat forbidden words make it long", "a cat sitting", "a cat x"],  # 0.7 fails F; 0.3; 0.3 (later: loses tie)
        ["a cat sitting on a mat"],
    ])
    (result,) = make_loop(op, iterations=2, top_k=3).evolve(["a cat"])
    assert result.record.best.prompt == "a cat sitting on a mat"
    assert result.record.best.scores["passes_floors"] == 1.0
    (result,) = make_loop(ScriptedOperator(op.script[:1]), iterations=2, top_k=3).evolve(["a cat"])
    assert result.record.best.prompt == "a cat sitting"  # tie with "a cat x": the earlier wins


def test_history_is_the_top_k_best_first_with_failing_floors_last():
    op = PhraseOperator()
    make_loop(op, iterations=3, proposals_per_iteration=4, top_k=3).evolve(["a red car"])
    for _original, history, n, _seed in op.calls[1:]:
        assert n == 4 and len(history) == 3
        keys = [("forbidden" in h.prompt, -h.reward) for h in history]
        assert keys == sorted(keys)
        assert all("passes_floors" not in h.scores and "W" in h.scores for h in history)


def test_original_is_best_only_if_allowed_when_no_rewrite_beats_it():
    script = [["a big red cat forbidden"], ["cat"]]  # longer but fails a floor; shorter
    (default,) = make_loop(ScriptedOperator(script), iterations=2).evolve(["a big red cat"])
    assert default.error is None and default.record.best is None
    (kept,) = make_loop(ScriptedOperator(script), iterations=2, keep_original_as_best=True).evolve(["a big red cat"])
    assert kept.record.best.prompt == "a big red cat" and kept.record.best.iteration == 0


def test_no_prompt_is_rendered_twice_per_seed_and_scores_are_averaged_over_seeds():
    gen = CountingGenerator()
    results = make_loop(generator=gen, iterations=4, seeds=[0, 1]).evolve(["a cat", "a dog"])
    assert len(gen.rendered) == len(set(gen.rendered))
    for result in results:
        texts = [" ".join(c.prompt.split()) for c in result.record.candidates]
        assert len(texts) == len(set(texts))  # the operator's repeats were dropped
        for c in result.record.candidates:
            assert c.reward == pytest.approx(len(c.prompt.split()) / 10 + 0.05)  # mean of seeds 0 and 1
    rendered_prompts = {p for p, _ in gen.rendered}
    assert {(p, s) for p in rendered_prompts for s in (0, 1)} == set(gen.rendered)
    assert gen.calls == 2 * 5 * 2  # per seed and iteration, one batched call per source
    shared = CountingGenerator()
    together = make_loop(generator=shared, iterations=4, seeds=[0, 1], batch_across_prompts=True).evolve(
        ["a cat", "a dog"])
    assert shared.calls == 2 * 5  # both sources in one call
    assert [r.to_dict() for r in together] == [r.to_dict() for r in results]


def test_operator_failure_is_recorded_for_its_source_only():
    results = make_loop(PhraseOperator(fail_on="dog")).evolve(["a cat", "a dog", "a bird"])
    cat, dog, bird = (r.to_dict() for r in results)
    assert "error" not in cat and "error" not in bird and len(cat["candidates"]) == 10
    assert "PhraseOperator failed at iteration 1" in dog["error"] and "API down" in dog["error"]
    assert dog["best"] is None and [c["prompt"] for c in dog["candidates"]] == ["a dog"]


def test_an_operator_returning_something_else_than_strings_is_an_operator_failure():
    class StringOperator(Operator):
        def propose(self, original, history, n, *, seed=None):
            return f"{original}, cute"  # a str, not a list of str

    (result,) = make_loop(StringOperator()).evolve(["a cat"])
    assert "TypeError" in result.error and "failed at iteration 1" in result.error


def test_generator_failure_on_one_prompt_fails_only_its_source():
    script = {"a cat": [["a cat BOOM", "a cat sitting"], ["a cat again"]], "a dog": [["a dog barking"], ["a dog"]]}
    loop = make_loop(ScriptedOperator(script), iterations=2)
    results = loop.evolve(["a cat", "a dog"])
    assert "generator failed at iteration 1" in results[0].error and "BOOM" in results[0].error
    assert results[0].record.best is None and [c.prompt for c in results[0].record.candidates] == ["a cat"]
    assert results[1].error is None
    assert [c.prompt for c in results[1].record.candidates] == ["a dog", "a dog barking"]
    (alone,) = make_loop(ScriptedOperator(script), iterations=2).evolve(["a dog"])
    assert results[1].to_dict() == alone.to_dict()  # the cat failing in its batch changed nothing


def test_original_that_fails_to_score_fails_its_source_and_a_nan_candidate_is_kept_unranked():
    script = {"a cat": [["a cat nan"], ["a cat on a mat"]]}
    results = make_loop(ScriptedOperator(script), iterations=2).evolve(["nan cat", "a cat"])
    bad, good = results
    assert "original prompt failed to score" in bad.error and "non-finite W" in bad.error
    assert bad.record.best is None and math.isnan(bad.record.candidates[0].reward)
    assert good.error is None
    nan_candidate = next(c for c in good.record.candidates if c.prompt == "a cat nan")
    assert math.isnan(nan_candidate.reward)
    assert good.record.best.prompt == "a cat on a mat"


def test_same_seeds_same_pool_and_batching_does_not_change_records():
    prompts = ["a cat", "a dog running", "a red car"]
    one = [r.to_dict() for r in make_loop(operator_seed=7).evolve(prompts)]
    gen = CountingGenerator()
    again = [r.to_dict() for r in make_loop(operator_seed=7, generator=gen, render_batch_size=2).evolve(prompts)]
    assert gen.largest_batch == 2
    alone = [make_loop(operator_seed=7).evolve([p])[0].to_dict() for p in prompts]
    other = [r.to_dict() for r in make_loop(operator_seed=8).evolve(prompts)]
    assert json.dumps(one) == json.dumps(again) == json.dumps(alone)
    assert json.dumps(one) != json.dumps(other)


class BatchSensitiveReward(WordsReward):
    """WordsReward plus 1e-3 per video in the batch: numerics that depend on the batch, as
    a padded text encoder's last float bits do."""

    def score_batch(self, videos, prompts):
        out = super().score_batch(videos, prompts)
        return {"W": out["W"] + 1e-3 * len(videos), "F": out["F"]}


def test_records_do_not_depend_on_batch_mates_even_with_a_batch_sensitive_reward():
    def loop(**kwargs):
        reward = CompositeReward([BatchSensitiveReward()], weights={"W": 1.0}, floors={"F": 0.5})
        return EvolutionLoop(CountingGenerator(), reward, PhraseOperator(), iterations=2, **kwargs)

    prompts = ["a cat", "a dog running", "a red car"]
    together = [r.to_dict() for r in loop().evolve(prompts)]
    assert together == [loop().evolve([p])[0].to_dict() for p in prompts]  # what a resumed run would do
    shared = [r.to_dict() for r in loop(batch_across_prompts=True).evolve(prompts)]
    assert shared != together  # the trade-off batch_across_prompts documents


def test_derived_seeds_depend_on_base_prompt_and_iteration():
    seeds = {derive_seed(b, p, i) for b in (0, 1) for p in ("a cat", "a dog") for i in (1, 2)}
    assert len(seeds) == 8 and derive_seed(0, "a cat", 1) == derive_seed(0, "a cat", 1)
    assert all(0 <= s < 2**31 for s in seeds)


def test_loop_rejects_a_reward_without_an_aggregate():
    with pytest.raises(ValueError, match="CompositeReward"):
        EvolutionLoop(CountingGenerator(), WordsReward(), PhraseOperator())


# --- shards and merge ---------------------------------------------------------------

def _rec(prompt, reward=1.0, error=None):
    d = {"prompt": prompt, "backbone": "b", "candidates": [{"prompt": prompt, "iteration": 0, "scores": {},
                                                             "reward": reward}], "best": None}
    if error:
        d["error"] = error
    return json.dumps(d)


def test_merge_keeps_each_source_once_in_source_order_byte_for_byte_and_removes_shards(tmp_path):
    out = tmp_path / "pool.jsonl"
    out.write_text(_rec("b") + "\n" + _rec("zz-old") + "\n")
    shard_path(out, 0).write_text(_rec("d") + "\n" + _rec("a", error="API down") + "\n")
    shard_path(out, 1).write_text(_rec("a", reward=2.0) + "\n" + _rec("c") + "\n" + _rec("d") + "\n"
                                  + '{"prompt": "e", "backb')  # cut off by a kill
    assert completed_prompts(out) == {"a", "b", "c", "d", "zz-old"}
    report = merge_shards(out, ["a", "b", "c", "d", "e"])
    lines = out.read_text().splitlines()
    assert [json.loads(x)["prompt"] for x in lines] == ["a", "b", "c", "d", "zz-old"]
    assert lines[0] == _rec("a", reward=2.0)  # the record without error wins
    assert (report.records, report.duplicates, report.shards) == (5, 2, 2)
    assert shard_paths(out) == []


def test_failed_sources_count_as_done_unless_retried(tmp_path):
    out = tmp_path / "pool.jsonl"
    out.write_text(_rec("a", error="API down") + "\n" + _rec("b") + "\n")
    assert completed_prompts(out) == {"a", "b"}
    assert completed_prompts(out, retry_failed=True) == {"b"}


def test_damage_in_the_middle_of_a_shard_is_an_error_naming_the_line(tmp_path):
    out = tmp_path / "pool.jsonl"
    shard_path(out, 0).write_text(_rec("a") + "\n{not json\n" + _rec("b") + "\n")
    with pytest.raises(ValueError, match=r"pool.rank0.jsonl:2: "):
        completed_prompts(out)
    with pytest.raises(ValueError, match="a .jsonl file"):
        shard_path(tmp_path / "pool.json", 0)


def test_best_so_far_curve_and_statistics_from_records():
    def cand(prompt, it, reward, passes=1.0):
        return {"prompt": prompt, "iteration": it, "scores": {"passes_floors": passes}, "reward": reward}

    records = [
        {"prompt": "a", "candidates": [cand("a", 0, 1.0), cand("a1", 1, 1.5), cand("a2", 2, 3.0, passes=0.0),
                                       cand("a3", 2, 2.0)], "best": cand("a3", 2, 2.0)},
        {"prompt": "b", "candidates": [cand("b", 0, 2.0), cand("b1", 1, 1.0)], "best": None},
        {"prompt": "c", "candidates": [cand("c", 0, 9.0)], "best": None, "error": "API down"},
    ]
    assert best_so_far_curve(records, 2) == pytest.approx([1.5, 1.75, 2.0])
    stats = pool_statistics(records)
    assert stats["n_prompts"] == 3 and stats["n_with_best"] == 1 and stats["n_failed"] == 1
    assert stats["mean_gain"] == pytest.approx(1.0) and stats["mean_candidates"] == pytest.approx(7 / 3)
