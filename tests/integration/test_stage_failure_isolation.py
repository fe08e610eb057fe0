"""One bad render never ends a stage: a generator that raises on one prompt, and one that
runs out of memory on any batch larger than 1, injected into render, evolve, pairs,
evaluate and the validation callback. Each stage finishes, records the failure with its
reason, and keeps every other record."""

from __future__ import annotations

import json

import pytest

from prompt_a_video.generators.base import Generator
from prompt_a_video.generators.synthetic import SyntheticGenerator
from prompt_a_video.rewards.composite import CompositeReward
from prompt_a_video.rewards.offline import DynamicDegreeReward, SceneAlignmentReward

pytestmark = pytest.mark.integration

POISON = "a glitch in the sky"
PROMPTS = ["a dog running on the beach", POISON, "a red car driving in the rain", "a cat sleeping on a sofa"]


class BrokenOnOnePrompt(Generator):
    """The synthetic backbone, but any batch holding the glitch prompt raises."""

    def __init__(self) -> None:
        self.inner = SyntheticGenerator(preset="long-cinematic", num_frames=4, height=24, width=24)

    @property
    def fingerprint(self) -> str:
        return "broken-on-one+" + self.inner.fingerprint

    def generate(self, prompts, seed):
        if any("glitch" in p for p in prompts):
            raise RuntimeError("the sampler produced NaN latents")
        return self.inner.generate(prompts, seed)


class OutOfMemoryAboveOne(BrokenOnOnePrompt):
    """Only one video fits on the device: a larger batch raises CUDA's out-of-memory message."""

    def generate(self, prompts, seed):
        if len(prompts) > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.inner.generate(prompts, seed)


def reward() -> CompositeReward:
    return CompositeReward([DynamicDegreeReward(), SceneAlignmentReward()], weights={"DD": 1.0, "TVA": 1.0})


GENERATORS = [pytest.param(BrokenOnOnePrompt, id="raises-on-one"), pytest.param(OutOfMemoryAboveOne, id="oom-above-1")]


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _expect_failures(records, failed_if, *, reason):
    for record in records:
        if failed_if(record):
            assert record["failure"] and reason in record["failure"], record
        else:
            assert record["failure"] is None and record["reward"] is not None, record


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns.db")
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    return tmp_path


@pytest.mark.parametrize("make", GENERATORS)
def test_render(here, make):
    from prompt_a_video.commands.render import render

    summary = render(make(), reward(), "prompts.txt", "out", seeds=[0, 1], batch_size=4, use_cache=False,
                     save_videos=False)
    records = _lines(here / "out/scores.jsonl")
    assert [(r["prompt"], r["seed"]) for r in records] == [(p, s) for s in (0, 1) for p in PROMPTS]
    glitch = make is BrokenOnOnePrompt
    _expect_failures(records, lambda r: glitch and r["prompt"] == POISON, reason="NaN latents")
    assert summary["failed"] == (2 if glitch else 0)


@pytest.mark.parametrize("make", GENERATORS)
def test_evolve(here, make):
    from prompt_a_video.commands.evolve import evolve
    from prompt_a_video.evolution.heuristic_operator import HeuristicOperator

    evolve(make(), reward(), HeuristicOperator(), "prompts.txt", "pool.jsonl", iterations=1,
           proposals_per_iteration=2, batch_size=2, use_cache=False, progress=False)
    records = _lines(here / "pool.jsonl")
    assert [r["prompt"] for r in records] == PROMPTS
    for r in records:
        if make is BrokenOnOnePrompt and r["prompt"] == POISON:
            assert "the generator failed at iteration 0" in r["error"] and "NaN latents" in r["error"]
        else:
            assert "error" not in r and len(r["candidates"]) == 3


@pytest.mark.parametrize("make", GENERATORS)
def test_pairs(here, make):
    from prompt_a_video.evolution.pair_rules import BestVsWorstRule
    from prompt_a_video.commands.pairs import pairs
    from prompt_a_video.refiner.rewriters import RewriteMethod

    class WithAGlitch(RewriteMethod):
        def rewrite(self, prompts, n, seed=0):
            return [[f"{p}, cinematic lighting", f"{p}, {POISON}", f"{p}, blurry"] for p in prompts]

    good = [p for p in PROMPTS if p != POISON]
    (here / "good.txt").write_text("\n".join(good) + "\n")
    pairs(make(), reward(), "pairs.jsonl", prompts="good.txt", rule=BestVsWorstRule(), sampler=WithAGlitch(),
          n=3, batch_size=4, use_cache=False)
    done = _lines(here / "pairs.done.jsonl")
    assert [r["prompt"] for r in done] == good
    for record in done:
        glitched = make is BrokenOnOnePrompt
        assert (record["candidates"], record["failed"], record["pairs"]) == (3, 1 if glitched else 0, 1)
        if glitched:
            assert "NaN latents" in record["failures"][0] and POISON in record["failures"][0]
    if make is BrokenOnOnePrompt:  # the failed candidate takes no part in a pair
        assert all(POISON not in p["chosen"] + p["rejected"] for p in _lines(here / "pairs.jsonl"))


@pytest.mark.parametrize("make", GENERATORS)
def test_evaluate(here, make):
    from prompt_a_video.evaluation.run import run_evaluations
    from prompt_a_video.evaluation.settings import EvaluationSettings

    settings = EvaluationSettings(methods=["original", "heuristic"], seeds=[0], fidelity_model=None,
                                  text_fluency_model=None, use_cache=False, save_videos=False, batch_size=4)
    (metrics,) = run_evaluations(settings, make(), reward(), "eval", trained={}, prompts="prompts.txt").values()
    records = _lines(here / "eval/scores.jsonl")
    assert sorted((r["method"], r["prompt"]) for r in records) == sorted(
        (m, p) for m in ("original", "heuristic") for p in PROMPTS)
    _expect_failures(records, lambda r: make is BrokenOnOnePrompt and r["prompt"] == POISON, reason="NaN latents")
    assert metrics["methods"]["original"]["n"] == (3 if make is BrokenOnOnePrompt else 4)


@pytest.mark.parametrize("make", GENERATORS)
def test_validation_callback(make):
    from tests.unit.test_render_score_callback import fit

    from prompt_a_video.callbacks.render_score import RenderAndScoreValidation

    callback = RenderAndScoreValidation(make(), reward(), PROMPTS, use_cache=False)
    _, logger = fit(callback)
    [record] = logger.logged("val/reward")
    assert record["val/render_failures"] == (1 if make is BrokenOnOnePrompt else 0)
