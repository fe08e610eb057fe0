"""A bad count, seed list, limit, rate, length or path ends a command before any model
loads and before any file (or MLflow run) is written: exit status 2 and one line on
stderr that names the setting and what it accepts."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch  # noqa: F401  (imported now: its log handler must not keep a test's captured stderr)
import pytest

from prompt_a_video import cli

ROOT = Path(__file__).resolve().parents[2]
RENDER = ROOT / "experiments/render/synthetic.yaml"
EVOLVE = ROOT / "experiments/evolve/synthetic.yaml"
PAIRS = ROOT / "experiments/pairs/synthetic.yaml"
SFT = ROOT / "experiments/sft/smollm2-cpu.yaml"
DPO = ROOT / "experiments/dpo/smollm2-cpu.yaml"
PIPELINE = ROOT / "experiments/quickstart.yaml"
PROMPTS = ROOT / "experiments/data/smoke_prompts.txt"


class ModelLoaded(AssertionError):
    """A model (or the synthetic backbone) was asked for work: the check came too late."""


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A working directory where loading any model fails the test (a bug, with its
    traceback), and the MLflow store and the cache live; returns its folder."""
    from transformers import PreTrainedModel

    from prompt_a_video.generators.synthetic import SyntheticGenerator
    from prompt_a_video.modules.backbone import CausalLMBackbone
    from prompt_a_video.refiner import Refiner

    def loaded(*args, **kwargs):
        raise ModelLoaded("a model loaded before the bad value was reported")

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(loaded))
    monkeypatch.setattr(SyntheticGenerator, "generate", loaded)
    monkeypatch.setattr(CausalLMBackbone, "load_model", loaded)
    monkeypatch.setattr(Refiner, "load", loaded)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store' / 'mlruns.db'}")
    monkeypatch.setenv("PAV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PAV_DEBUG", raising=False)
    (tmp_path / "comments.txt").write_text("# prompts to come\n\n   \n  # more later\n")
    (tmp_path / "not-a-refiner").mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")  # looks like a model folder; never loaded here
    return tmp_path


def fails(capsys, world: Path, *argv) -> str:
    """Run `pav ARGV`: exit 2, one line naming the problem, nothing written; the line."""
    before = _tree(world)
    capsys.readouterr()
    status = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"pav {argv[0]}: "), last
    assert _tree(world) == before, f"{argv}: wrote {sorted(_tree(world) - before)}"
    return last


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# --- 1. limit, and a prompt set without a prompt ----------------------------------------------------

@pytest.mark.parametrize("limit", ["-1", "0"])
def test_render_limit_must_be_at_least_one(capsys, world, limit):
    line = fails(capsys, world, "render", "-c", RENDER, "--prompts", PROMPTS, "--out", "out", "--limit", limit)
    assert line == f"pav render: limit must be an int >= 1, or null for all the prompts; got {limit}"


def test_render_seeds_and_batch_size(capsys, world):
    base = ["render", "-c", RENDER, "--prompts", PROMPTS, "--out", "out"]
    assert fails(capsys, world, *base, "--seeds", "[]") == \
        "pav render: seeds must be a non-empty list of distinct ints >= 0 (e.g. [0, 1]); got []"
    assert "seed 1 is listed twice" in fails(capsys, world, *base, "--seeds", "[0, 1, 1]")
    assert "got [-1]" in fails(capsys, world, *base, "--seeds", "[-1]")
    assert fails(capsys, world, *base, "--batch_size", "0") == "pav render: batch_size must be an int >= 1, got 0"


@pytest.mark.parametrize("command, config, out", [("render", RENDER, "out"), ("evolve", EVOLVE, "pool.jsonl")])
def test_a_prompt_file_without_a_prompt_is_an_error_naming_it(capsys, world, command, config, out):
    line = fails(capsys, world, command, "-c", config, "--prompts", "comments.txt", "--out", out)
    assert line.startswith(f"pav {command}: comments.txt: no prompt in this prompt set"), line
    assert "lines starting with '#' are skipped" in line


def test_every_limit_is_checked(capsys, world):
    from prompt_a_video.datamodules.prompts import PromptSetDataModule
    from prompt_a_video.evaluation.settings import EvaluationSettings

    line = fails(capsys, world, "evolve", "-c", EVOLVE, "--prompts", PROMPTS, "--out", "pool.jsonl", "--limit", "-1")
    assert line == "pav evolve: limit must be an int >= 1, or null for all the prompts; got -1"
    line = fails(capsys, world, "pairs", "-c", PAIRS, "--refiner", "model", "--out", "pairs.jsonl", "--limit", "0")
    assert line == "pav pairs: limit must be an int >= 1, or null for all the prompts; got 0"
    with pytest.raises(ValueError, match=r"^evaluation\.limit must be an int >= 1, or null for all the prompts; "
                                         r"got -1$"):
        EvaluationSettings(limit=-1)
    with pytest.raises(ValueError, match=r"^limit must be an int >= 1, or null for all the prompts; got -1$"):
        PromptSetDataModule(str(PROMPTS), limit=-1)


# --- 2. seeds and counts of evolution, pairs and evaluation -------------------------------------------

@pytest.mark.parametrize("option, value, expected", [
    ("seeds", "[]", "EvolutionLoop.seeds must be a non-empty list of distinct ints >= 0 (e.g. [0, 1]); got []"),
    ("seeds", "[0, 0]", "EvolutionLoop.seeds must be a non-empty list of distinct ints >= 0; seed 0 is listed twice"),
    ("iterations", "0", "EvolutionLoop.iterations must be an int >= 1, got 0"),
    ("iterations", "-3", "EvolutionLoop.iterations must be an int >= 1, got -3"),
    ("proposals_per_iteration", "0", "EvolutionLoop.proposals_per_iteration must be an int >= 1, got 0"),
    ("top_k", "0", "EvolutionLoop.top_k must be an int >= 1, got 0"),
    ("render_batch_size", "0", "EvolutionLoop.render_batch_size must be an int >= 1, or null for all at once, got 0"),
    ("batch_size", "0", "batch_size must be an int >= 1, got 0"),
])
def test_evolve_settings(capsys, world, option, value, expected):
    line = fails(capsys, world, "evolve", "-c", EVOLVE, "--prompts", PROMPTS, "--out", "pool.jsonl",
                 f"--{option}", value)
    assert line == f"pav evolve: {expected}"


@pytest.mark.parametrize("option, value, expected", [
    ("n", "0", "n must be an int >= 1, got 0"),
    ("sample_batch", "0", "sample_batch must be an int >= 1, got 0"),
    ("batch_size", "0", "batch_size must be an int >= 1, got 0"),
    ("seeds", "[]", "seeds must be a non-empty list of distinct ints >= 0 (e.g. [0, 1]); got []"),
    ("temperature", "-1", "temperature must be a number >= 0 (0: greedy decoding), got -1.0"),
    ("top_p", "0", "top_p must be in (0, 1], got 0.0"),
    ("max_new_tokens", "0", "max_new_tokens must be an int >= 1, got 0"),
])
def test_pairs_settings(capsys, world, option, value, expected):
    line = fails(capsys, world, "pairs", "-c", PAIRS, "--refiner", "model", "--out", "pairs.jsonl",
                 f"--{option}", value)
    assert line == f"pav pairs: {expected}"


def test_evaluate_checks_its_settings_and_prompt_sets_first(capsys, world):
    base = ["evaluate", "-c", PIPELINE, "--out", "eval"]
    assert fails(capsys, world, *base, "--evaluation.seeds", "[]") == ("pav evaluate: evaluation.seeds must be a "
                                                                       "non-empty list of distinct ints >= 0 (e.g. "
                                                                       "[0, 1]); got []")
    assert fails(capsys, world, *base, "--evaluation.limit", "0") == ("pav evaluate: evaluation.limit must be an int "
                                                                      ">= 1, or null for all the prompts; got 0")
    assert fails(capsys, world, *base, "--prompts", "comments.txt").startswith(
        "pav evaluate: comments.txt: no prompt in this prompt set")


def test_evaluation_settings():
    from prompt_a_video.evaluation.settings import EvaluationSettings

    for kwargs, expected in [
        ({"seeds": [0, 0]}, r"evaluation\.seeds must be a non-empty list of distinct ints >= 0; seed 0 is listed"),
        ({"seeds": [-1]}, r"evaluation\.seeds must be a non-empty list of distinct ints >= 0 \(e\.g\. \[0, 1\]\); "
                          r"got \[-1\]"),
        ({"temperature": -0.5}, r"evaluation\.temperature must be a number >= 0"),
        ({"top_p": 1.5}, r"evaluation\.top_p must be in \(0, 1\], got 1\.5"),
        ({"max_new_tokens": 0}, r"evaluation\.max_new_tokens must be an int >= 1, got 0"),
        ({"llm_batch_size": 0}, r"evaluation\.llm_batch_size must be an int >= 1, got 0"),
        ({"batch_size": 0}, r"evaluation\.batch_size must be an int >= 1, got 0"),
    ]:
        with pytest.raises(ValueError, match=expected):
            EvaluationSettings(**kwargs)
    assert EvaluationSettings(seeds=[3, 1]).seeds == [3, 1]


# --- 3. sampling settings of `pav refine`, before the model loads ---------------------------------------

@pytest.mark.parametrize("options, expected", [
    (["--max_new_tokens", "0"], "max_new_tokens must be an int >= 1, got 0"),
    (["--temperature", "-1"], "temperature must be a number >= 0 (0: greedy decoding), got -1.0"),
    (["--top_p", "0"], "top_p must be in (0, 1], got 0.0"),
    (["--top_p", "1.5"], "top_p must be in (0, 1], got 1.5"),
    (["--n", "0"], "n must be an int >= 1 (answers per prompt), got 0"),
    (["--n", "2", "--temperature", "0"], "n=2 needs sampling: give temperature > 0 (greedy decoding, temperature 0, "
                                         "gives one answer)"),
    (["--guard_samples", "0"], "guard_samples must be an int >= 1, got 0"),
])
def test_refine_sampling_settings(capsys, world, options, expected):
    line = fails(capsys, world, "refine", "--model", "model", "--prompt", "a dog", *options)
    assert line == f"pav refine: {expected}"


def test_the_refiner_api_checks_sampling_before_loading(world):
    from prompt_a_video import Refiner

    refiner = Refiner(world / "model")
    for kwargs, expected in [({"max_new_tokens": 0}, "max_new_tokens must be an int >= 1"),
                             ({"temperature": -1}, "temperature must be a number >= 0"),
                             ({"top_p": 0}, r"top_p must be in \(0, 1\]"), ({"n": 0}, "n must be an int >= 1")]:
        for guard in (True, False):
            with pytest.raises(ValueError, match=expected):
                refiner.refine("a dog", guard=guard, **kwargs)
    assert not refiner.loaded


# --- 4. where the refiner of `pav pairs` is ----------------------------------------------------------

def test_pairs_refiner_must_be_a_refiner_folder(capsys, world):
    base = ["pairs", "-c", PAIRS, "--out", "pairs.jsonl", "--limit", "2"]
    missing = world / "nonexistent"
    assert fails(capsys, world, *base, "--refiner", missing).startswith(
        f"pav pairs: refiner folder not found: {missing} (expected an export folder of `pav export`")
    assert fails(capsys, world, *base, "--refiner", "not-a-refiner").startswith(
        "pav pairs: --refiner not-a-refiner: not a refiner folder: it has no refiner.json, config.json or "
        "adapter_config.json")


@pytest.mark.parametrize("argv", [
    ["render", "-c", RENDER, "--prompts", PROMPTS, "--out", "runs/render", "--limit", "0"],
    ["pairs", "-c", PAIRS, "--out", "runs/pairs/pairs.jsonl", "--refiner", "nonexistent"],
])
def test_no_output_folder_is_made_for_a_command_that_fails_on_a_bad_value(capsys, world, argv):
    fails(capsys, world, *argv)


# --- 5. training settings, in the module's __init__ (before the backbone's weights) -----------------

FIT_QUIET = ["--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]


@pytest.mark.parametrize("config, option, value, expected", [
    (SFT, "lr", "-1", "model.init_args.lr must be a number > 0, got -1.0"),
    (SFT, "lr", "0", "model.init_args.lr must be a number > 0, got 0.0"),
    (SFT, "weight_decay", "-0.1", "model.init_args.weight_decay must be a number >= 0, got -0.1"),
    (SFT, "warmup_steps", "-1", "model.init_args.warmup_steps must be an int >= 0, got -1"),
    (SFT, "max_length", "0", "model.init_args.max_length must be an int >= 1 (tokens per example), got 0"),
    (DPO, "lr", "-1", "model.init_args.lr must be a number > 0, got -1.0"),
    (DPO, "beta", "0", "DPO beta must be > 0 (it scales the implicit reward), got 0.0"),
])
def test_fit_settings(capsys, world, config, option, value, expected):
    line = fails(capsys, world, "fit", "-c", config, *FIT_QUIET, f"--model.init_args.{option}", value)
    assert line == f"pav fit: {expected}"


def test_module_settings_fail_before_any_weights(world):
    from prompt_a_video.modules.backbone import CausalLMBackbone
    from prompt_a_video.modules.dpo import DPORefiner
    from prompt_a_video.modules.sft import SFTRefiner

    backbone = CausalLMBackbone(model=str(world / "model"))
    for module in (SFTRefiner, DPORefiner):
        for kwargs, expected in [({"lr": float("nan")}, "lr must be a number > 0, got nan"),
                                 ({"weight_decay": -1.0}, "weight_decay must be a number >= 0"),
                                 ({"warmup_steps": -2}, "warmup_steps must be an int >= 0, got -2")]:
            with pytest.raises(ValueError, match=expected):
                module(backbone, **kwargs)
    SFTRefiner(backbone, lr=1e-4)  # a good one builds, still without weights (configure_model loads them)


def test_a_good_setting_still_reaches_the_model(capsys, world):
    # The guard of these tests works: a good command gets as far as loading, and fails there.
    with pytest.raises(ModelLoaded):
        cli.main(["refine", "--model", "model", "--prompt", "a dog"])
