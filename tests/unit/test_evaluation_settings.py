"""The evaluation section: method lists, prompt spreading, --refiner parsing, validation."""

import pytest

from prompt_a_video.evaluation.run import pipeline_refiners
from prompt_a_video.evaluation.methods import (HeuristicRewrite, OperatorRewrite, OriginalPrompt,
                                               RefinerRewrite)
from prompt_a_video.evaluation.settings import (EvaluationSettings, build_methods, parse_refiner_args,
                                                spread)
from prompt_a_video.evolution.heuristic_operator import HeuristicOperator


def test_spread_takes_evenly_spaced_items_not_the_first_ones():
    items = list(range(10))
    assert spread(items, 5) == [0, 2, 4, 6, 8]
    assert spread(items, 3) == [0, 3, 6]
    assert spread(items, None) == items and spread(items, 20) == items


def test_methods_follow_the_settings_order_and_what_the_workdir_holds(capsys):
    settings = EvaluationSettings(methods=["original", "heuristic", "zero-shot", "sft", "dpo"])
    trained = {"sft": "wd/sft/refiner", "dpo-r1": "wd/dpo-r1/refiner", "dpo-r2": "wd/dpo-r2/refiner"}
    methods = build_methods(settings, trained, {"mine": "x"}, zero_shot_model="base-llm")
    assert list(methods) == ["original", "heuristic", "zero-shot", "sft", "dpo-r1", "dpo-r2", "mine"]
    assert isinstance(methods["original"], OriginalPrompt) and isinstance(methods["heuristic"], HeuristicRewrite)
    assert methods["zero-shot"].model == "base-llm" and methods["dpo-r2"].model == "wd/dpo-r2/refiner"
    # nothing trained and no zero-shot model: those methods are left out, and it is said
    methods = build_methods(settings, {}, {}, zero_shot_model=None)
    assert list(methods) == ["original", "heuristic"]
    out = capsys.readouterr().out
    assert "zero-shot left out" in out and "no trained dpo refiner found: dpo left out" in out
    # the default list is "whichever were trained": a pipeline without GRPO is not told about it
    methods = build_methods(EvaluationSettings(), trained, {}, zero_shot_model="base-llm")
    assert "grpo" not in methods and "left out" not in capsys.readouterr().out


def test_settings_and_refiner_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="unknown.*'gpt4'"):
        EvaluationSettings(methods=["original", "gpt4"])
    with pytest.raises(ValueError, match=r"evaluation.seeds must be a non-empty list of distinct ints >= 0"):
        EvaluationSettings(seeds=[])
    (tmp_path / "r").mkdir()
    assert parse_refiner_args([f"mine={tmp_path / 'r'}"]) == {"mine": str(tmp_path / "r")}
    with pytest.raises(ValueError, match="expected NAME=DIR"):
        parse_refiner_args([str(tmp_path / "r")])
    with pytest.raises(FileNotFoundError, match="nowhere"):
        parse_refiner_args(["x=nowhere"])
    extra = {"original": OriginalPrompt()}
    with pytest.raises(ValueError, match="already a method"):
        build_methods(EvaluationSettings(methods=["original"], extra_methods=extra), {}, {}, None)


def test_rewrite_methods_give_one_prompt_per_sample():
    prompts = ["a dog running on the beach", "a red car"]
    assert OriginalPrompt().rewrite(prompts, 2) == [[p, p] for p in prompts]
    heuristic = HeuristicRewrite().rewrite(prompts, 3, seed=1)
    assert [len(r) for r in heuristic] == [3, 3] and all(p in r[0] for p, r in zip(prompts, heuristic))
    assert heuristic == HeuristicRewrite().rewrite(prompts, 3, seed=1)
    proposals = OperatorRewrite(HeuristicOperator()).rewrite(prompts, 2, seed=0)
    assert [len(r) for r in proposals] == [2, 2] and proposals[0][0] != prompts[0]


def test_greedy_refiner_method_asks_once_and_repeats(monkeypatch):
    calls = []

    class FakeRefiner:
        def __init__(self, model, device=None, batch_size=8, budget=True):
            pass

        def refine(self, prompts, n, **kwargs):
            calls.append(n)
            return [[f"{p}, refined {i}" for i in range(n)] for p in prompts]

    monkeypatch.setattr("prompt_a_video.refiner.Refiner", FakeRefiner)
    assert RefinerRewrite("m", temperature=0).rewrite(["a dog"], 3) == [["a dog, refined 0"] * 3]
    assert RefinerRewrite("m", temperature=0.7).rewrite(["a dog"], 2) == [["a dog, refined 0", "a dog, refined 1"]]
    assert calls == [1, 2]


def test_pipeline_refiners_names_finished_rounds(tmp_path):
    def finish(name, status="done"):
        (tmp_path / name / "refiner").mkdir(parents=True)
        (tmp_path / name / "stage.json").write_text(f'{{"status": "{status}"}}')

    finish("sft")
    finish("dpo-r1")
    assert pipeline_refiners(tmp_path) == {"sft": str(tmp_path / "sft" / "refiner"),
                                           "dpo": str(tmp_path / "dpo-r1" / "refiner")}
    finish("dpo-r2", status="running")
    assert set(pipeline_refiners(tmp_path)) == {"sft", "dpo-r1"}  # two rounds: named by round; r2 unfinished
    with pytest.raises(FileNotFoundError, match="work directory"):
        pipeline_refiners(tmp_path / "missing")
