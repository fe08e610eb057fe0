"""`pav pairs`: sample, render, score against the original, keep pairs; resume; MLflow."""

import json
import random
from pathlib import Path

import pytest

from prompt_a_video.commands.pairs import pairs
from prompt_a_video.evolution.pairs import done_path
from prompt_a_video.refiner.rewriters import RefinerRewrite, RewriteMethod
from prompt_a_video.commands.runner import run_function_stage

pytestmark = pytest.mark.integration

PROMPTS = ["a dog running on the beach", "a red car driving through the city", "an old man reading a book"]

CONFIG = """
generator:
  class_path: prompt_a_video.generators.synthetic.SyntheticGenerator
  init_args: {preset: long-cinematic, num_frames: 8, height: 32, width: 32}
reward:
  class_path: prompt_a_video.rewards.composite.CompositeReward
  init_args:
    weights: {VQ: 1.0, TC: 1.0, DD: 0.5, TVA: 1.3}
    floors: {TVA: 0.5}
    members:
      - class_path: prompt_a_video.rewards.offline.VisualQualityReward
      - class_path: prompt_a_video.rewards.offline.TemporalConsistencyReward
      - class_path: prompt_a_video.rewards.offline.DynamicDegreeReward
      - class_path: prompt_a_video.rewards.offline.SceneAlignmentReward
rule:
  class_path: prompt_a_video.evolution.pair_rules.PaperPairRule
  init_args: {margin: 0.05, floors: {TVA: 0.5}}
sampler:
  class_path: tests.integration.test_pairs_stage.FakeSampler
prompts: prompts.txt
n: 5
seeds: [0, 1]
sample_batch: 1
batch_size: 4
"""


class FakeSampler(RewriteMethod):
    """Stands in for the refiner: good, bad and unrelated rewrites, shuffled by the seed."""

    calls: list[str] = []  # prompts sampled, across instances (the CLI builds a new one per run)

    def rewrite(self, prompts, n, seed=0):
        out = []
        for prompt in prompts:
            FakeSampler.calls.append(prompt)
            texts = [f"{prompt}, cinematic lighting, high quality, smooth motion, detailed",
                     f"{prompt}, shaky handheld footage, blurry",
                     "a cat sleeping on a sofa",  # unrelated: scored against the ORIGINAL, it must lose
                     prompt, "  ", f"{prompt}, cinematic lighting, high quality, smooth motion, detailed"]
            random.Random(seed).shuffle(texts)
            out.append(texts[:n + 1])
        return out


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    (tmp_path / "pairs.yaml").write_text(CONFIG)
    FakeSampler.calls.clear()
    return tmp_path


def _run(workdir, *extra):
    return run_function_stage("pairs", pairs, ["-c", "pairs.yaml", "--out", "out/pairs.jsonl",
                                               "--cache_root", str(workdir / "cache"), *extra])


def test_pairs_from_yaml_score_against_the_original_and_resume_after_a_cut(workdir):
    from mlflow.tracking import MlflowClient

    from prompt_a_video.generators.synthetic import SyntheticGenerator
    from prompt_a_video.rewards import offline as off
    from prompt_a_video.rewards.composite import CompositeReward

    summary = _run(workdir)
    out, done = workdir / "out/pairs.jsonl", workdir / "out/pairs.done.jsonl"
    records, finished = _lines(out), _lines(done)
    assert [r["prompt"] for r in finished] == PROMPTS and FakeSampler.calls == PROMPTS
    assert all(r["sampled"] == 6 and r["candidates"] == 4 and r["failed"] == 0 for r in finished)  # blank, repeat
    assert records and {r["prompt"] for r in records} <= set(PROMPTS)
    assert sum(r["pairs"] for r in finished) == len(records) == summary["pairs"]
    for r in records:
        assert set(r) == {"prompt", "chosen", "rejected", "chosen_reward", "rejected_reward", "chosen_scores",
                          "rejected_scores"}
        assert r["chosen"] != r["rejected"] and r["chosen_reward"] - r["rejected_reward"] > 0.05
        assert r["chosen_scores"]["TVA"] > 0.5 and set(r["chosen_scores"]) == {"VQ", "TC", "DD", "TVA"}
        assert r["chosen"] != "a cat sleeping on a sofa"
    # the unrelated candidate was judged against the prompt the user wrote, so it loses
    unrelated = [r for r in records if r["rejected"] == "a cat sleeping on a sofa"]
    assert unrelated and all(r["rejected_scores"]["TVA"] < 0.5 for r in unrelated)

    # the recorded scores are the means over both seeds of scoring against the ORIGINAL
    first = records[0]
    generator = SyntheticGenerator(preset="long-cinematic", num_frames=8, height=32, width=32)
    reward = CompositeReward([off.VisualQualityReward(), off.TemporalConsistencyReward(), off.DynamicDegreeReward(),
                              off.SceneAlignmentReward()], weights={"VQ": 1.0, "TC": 1.0, "DD": 0.5, "TVA": 1.3})
    per_seed = [reward.score(generator.generate([first["chosen"]], s), [first["prompt"]]).item(0) for s in (0, 1)]
    assert first["chosen_reward"] == pytest.approx((per_seed[0]["reward"] + per_seed[1]["reward"]) / 2, rel=1e-5)
    assert first["chosen_scores"]["TVA"] == pytest.approx((per_seed[0]["TVA"] + per_seed[1]["TVA"]) / 2, rel=1e-5)

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlruns.db")
    (run,) = client.search_runs([client.get_experiment_by_name("pairs").experiment_id])
    assert run.data.metrics["pairs/pairs"] == len(records) and run.data.metrics["pairs/prompts"] == 3
    assert run.data.metrics["pairs/margin_median"] > 0.05 and "pairs/prompts_zero_pairs" in run.data.metrics
    assert run.data.tags["pav.stage"] == "pairs"

    # a kill during the second prompt: its done record missing, its pairs written in part
    second = [i for i, r in enumerate(records) if r["prompt"] == PROMPTS[1]]
    assert second, "the test needs pairs for the second prompt"
    text = out.read_text().splitlines(keepends=True)
    out.write_text("".join(text[: second[0] + 1]) + '{"prompt": "a red c')
    done.write_text("".join(done.read_text().splitlines(keepends=True)[:1]))
    FakeSampler.calls.clear()
    _run(workdir)
    assert FakeSampler.calls == PROMPTS[1:]  # the finished prompt is not sampled again
    assert _lines(out) == records and [r["prompt"] for r in _lines(done)] == PROMPTS

    FakeSampler.calls.clear()
    again = _run(workdir)  # nothing left to do
    assert FakeSampler.calls == [] and again["pairs"] == len(records)


def test_include_original_and_best_vs_worst_from_python(workdir):
    from prompt_a_video.evolution.pair_rules import BestVsWorstRule
    from prompt_a_video.generators.synthetic import SyntheticGenerator
    from prompt_a_video.rewards import offline as off
    from prompt_a_video.rewards.composite import CompositeReward

    class Rewrites(RewriteMethod):
        def rewrite(self, prompts, n, seed=0):
            return [[f"{p}, cinematic lighting, high quality", "a cat sleeping on a sofa"][:n] for p in prompts]

    generator = SyntheticGenerator(preset="long-cinematic", num_frames=8, height=32, width=32)
    reward = CompositeReward([off.VisualQualityReward(), off.SceneAlignmentReward()], weights={"VQ": 1.0, "TVA": 1.0},
                             floors={"TVA": 0.5})
    common = dict(prompts="prompts.txt", rule=BestVsWorstRule(require_floors=True), sampler=Rewrites(), n=2,
                  use_cache=False, limit=2)
    pairs(generator, reward, "plain/pairs.jsonl", **common)
    pairs(generator, reward, "orig/pairs.jsonl", include_original=True, **common)
    plain, orig = _lines(workdir / "plain/pairs.done.jsonl"), _lines(workdir / "orig/pairs.done.jsonl")
    assert [r["candidates"] for r in plain] == [2, 2] and [r["candidates"] for r in orig] == [3, 3]
    for path in ("plain/pairs.jsonl", "orig/pairs.jsonl"):
        records = _lines(workdir / path)
        assert len(records) == 2 and all(r["rejected"] == "a cat sleeping on a sofa" for r in records)
    # an output without its sidecar is somebody else's file: refuse to touch it
    done_path(workdir / "plain/pairs.jsonl").unlink()
    with pytest.raises(FileExistsError, match="sidecar"):
        pairs(generator, reward, "plain/pairs.jsonl", **common)
    # a rule whose floors the reward does not give fails before anything is sampled
    from prompt_a_video.evolution.pair_rules import PaperPairRule

    with pytest.raises(ValueError, match="PaperPairRule.floors"):
        pairs(generator, reward, "paper/pairs.jsonl", **{**common, "rule": PaperPairRule()})


def test_the_default_sampler_samples_from_an_hf_folder(tiny_llama_dir):
    sampler = RefinerRewrite(str(tiny_llama_dir), temperature=1.0, top_p=1.0, max_new_tokens=6)
    first = sampler.rewrite(["a dog running", "a red car"], 3, seed=7)
    assert len(first) == 2 and all(len(texts) == 3 and all(isinstance(t, str) for t in texts) for texts in first)
    assert sampler.rewrite(["a dog running", "a red car"], 3, seed=7) == first
    with pytest.raises(FileNotFoundError, match="refiner folder not found"):
        RefinerRewrite(str(tiny_llama_dir / "nope")).load()
