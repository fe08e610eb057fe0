"""The GPU pipeline recipes (experiments/pipeline/*.yaml): cost header and the paper's components.

Each recipe holds only what its backbone changes and is stacked on the paper's shared
setup: ``pav pipeline -c experiments/pipeline/paper-base.yaml -c experiments/pipeline/R.yaml``.
tests/unit/test_experiments.py already runs every YAML's header command with
``--print_config``. Here, what a user of a recipe relies on: the header is the exact
stacked command with the recipe's own work directory; stacking resolves to what the two
files merged by hand into one would (so nothing of the base leaks into what a recipe
restates); ``# gpu-hours:`` parses and agrees with the
recipe's sizes times its stated ``# render-cost:`` (so changed sizes cannot leave a stale
estimate); every section is valid for the stage it feeds; and the components are the
paper's: VideoScore + aesthetic + MPS with the paper's presets, GPT-4o through the
OpenAI-compatible operator with the key from the environment, the paper's pair filter,
Llama-3-8B-Instruct with the paper's LoRA and DPO settings. Building the components loads
no weights (backbones and rewards load on first use), so this runs offline on CPU.
"""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from prompt_a_video import cli

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "experiments" / "pipeline" / "paper-base.yaml"
RECIPES = sorted(p for p in (ROOT / "experiments" / "pipeline").glob("*.yaml") if p != BASE)
# dict-typed sections of `pav pipeline`: a later -c file replaces them whole
DICT_SECTIONS = {"evolve", "sft", "dpo", "pairs"}
# recipe -> the real model it renders with (a hub id the generator's docs list)
BACKBONES = {
    "cogvideox-5b": "THUDM/CogVideoX-5b",
    "cogvideox-2b": "THUDM/CogVideoX-2b",
    "wan2.1-1.3b": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    "ltx-video": "Lightricks/LTX-Video",
    "sd-t2i": "stabilityai/stable-diffusion-xl-base-1.0",
}
LLAMA = "meta-llama/Meta-Llama-3-8B-Instruct"
GPU_HOURS = re.compile(r"^# gpu-hours: (?P<hours>\d+(?:\.\d+)?) \((?P<hardware>\d+x [^)]+)\)$")
RENDER_COST = re.compile(r"^# render-cost: (?P<seconds>\d+(?:\.\d+)?) s/(?:video|image) \(.+\)$")
# What the LLM stages (SFT, pair sampling, DPO, loading) may add to the renders' hours.
LLM_HOURS_ALLOWANCE = 2.0


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(ROOT)  # fit sections name their base YAMLs relative to the repository


def header(path: Path, pattern: re.Pattern) -> re.Match:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [m for m in map(pattern.match, lines[:5]) if m]
    assert len(found) == 1, f"{path.name}: expected one header line matching {pattern.pattern} in the first 5 lines"
    return found[0]


def stacked_command(path: Path) -> str:
    return (f"# pav pipeline -c {BASE.relative_to(ROOT)} -c experiments/pipeline/{path.name} "
            f"--workdir runs/{path.stem}")


def printed_config(argv: list[str], capsys) -> dict:
    """`pav ARGV --print_config`, parsed."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        cli.main([*argv, "--print_config"])
    captured = capsys.readouterr()
    assert stop.value.code in (0, None), captured.err
    return yaml.safe_load(captured.out)


def assert_prints_config(path: Path, capsys) -> dict:
    """`pav pipeline -c BASE -c FILE --workdir DIR --print_config` (the header command) succeeds."""
    config = printed_config(shlex.split(path.read_text(encoding="utf-8").splitlines()[0][2:])[1:], capsys)
    assert config["generator"]["class_path"]
    return config


def merged(base, over):
    """Two YAML trees merged by hand the way the recipes' header documents stacking: a
    component keeps merging its init_args while its class_path stays; a new class_path, a
    list or a scalar replaces what was there."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    if base.get("class_path", over.get("class_path")) != over.get("class_path", base.get("class_path")):
        return over
    return {**base, **{k: merged(base[k], v) if k in base else v for k, v in over.items()}}


def built(path: Path):
    """The pipeline's arguments (base + recipe) with their components constructed (no weights loaded)."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    from prompt_a_video.pipeline.run import run_pipeline as pipeline

    parser = ArgumentParser(exit_on_error=False, default_meta=False)
    parser.add_argument("-c", "--config", action=ActionConfigFile)
    parser.add_function_arguments(pipeline, as_group=False, skip={"record"})
    stack = [a for p in (BASE, path) for a in ("-c", str(p.relative_to(ROOT)))]
    return parser.instantiate_classes(parser.parse_args(stack))


def fit_config(section: dict, tmp_path: Path, capsys) -> dict:
    """A fit section as `pav fit -c BASE -c OVERRIDES --print_config` resolves it (the
    pipeline runs exactly those files, plus its wiring of data paths and the logger)."""
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(yaml.safe_dump({k: v for k, v in section.items() if k != "config"}), encoding="utf-8")
    bases = section["config"] if isinstance(section["config"], list) else [section["config"]]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        cli.main(["fit", *[a for b in bases for a in ("-c", b)], "-c", str(overrides), "--print_config"])
    captured = capsys.readouterr()
    assert stop.value.code in (0, None), captured.err
    return yaml.safe_load(captured.out)


def n_prompts(spec: str, limit: int | None) -> int:
    from prompt_a_video.data import load_prompts

    try:
        available = len(dict.fromkeys(item.prompt for item in load_prompts(spec)))
    except FileNotFoundError:  # an offline asset not installed here (VBench: 946 prompts)
        assert limit is not None, f"{spec} is not installed here and the recipe sets no limit"
        return limit
    return available if limit is None else min(limit, available)


def renders(args) -> int:
    """Videos (or images) the recipe renders: evolution + pairs + evaluation."""
    from prompt_a_video.evolution.pairs import sample_pairs as pairs
    from prompt_a_video.evolution.run import evolve_prompts as evolve
    from prompt_a_video.pipeline.run import section_options

    ev = section_options(evolve, args.evolve, "evolve")
    evolution = (n_prompts(args.source_prompts, ev["limit"]) * (1 + ev["iterations"] * ev["proposals_per_iteration"])
                 * len(ev["seeds"] or [0]))
    pa = section_options(pairs, args.pairs, "pairs")
    per_prompt = pa["n"] + (1 if pa["include_original"] else 0)
    pair_renders = args.dpo_rounds * n_prompts(pa["prompts"], pa["limit"]) * per_prompt * len(pa["seeds"] or [0])
    settings = args.evaluation
    methods = len(settings.methods) + len(settings.extra_methods)
    evaluation = methods * len(settings.seeds) * sum(n_prompts(s, settings.limit) for s in settings.prompt_sets.values())
    return evolution + pair_renders + evaluation


def test_the_recipes_of_the_issue_exist():
    assert set(BACKBONES) <= {p.stem for p in RECIPES}
    # the base is no recipe: it names no backbone, and its header runs one recipe on it
    assert "generator" not in yaml.safe_load(BASE.read_text(encoding="utf-8"))
    assert BASE.read_text(encoding="utf-8").splitlines()[0] == stacked_command(ROOT / "experiments/pipeline/cogvideox-5b.yaml")


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_header_is_the_stacked_command_and_its_config_parses(path, tmp_path, capsys):
    assert path.read_text(encoding="utf-8").splitlines()[0] == stacked_command(path)
    config = assert_prints_config(path, capsys)
    assert config["workdir"] == f"runs/{path.stem}" and config["experiment"] == path.stem
    # the resolved config is a whole recipe: it parses alone and resolves to itself
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    assert printed_config(["pipeline", "-c", str(resolved)], capsys) == config
    # stacking resolves exactly as the two files merged into one would: nothing of the
    # base leaks into what the recipe restates (a restated list of components keeps, item
    # by item, the base item's init_args that the new class accepts, unless stated)
    base, recipe = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (BASE, path))
    one = {**base, **{k: v if k in DICT_SECTIONS else merged(base.get(k), v) for k, v in recipe.items()}}
    one_file = tmp_path / "one-file.yaml"
    one_file.write_text(yaml.safe_dump(one, sort_keys=False), encoding="utf-8")
    assert printed_config(["pipeline", "-c", str(one_file), "--workdir", f"runs/{path.stem}"], capsys) == config
    # the recipe holds only what differs: no section restated exactly as the base has it
    assert not [k for k, v in recipe.items() if k in base and v == base[k]], f"{path.name} repeats the base"


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_gpu_hours_header_agrees_with_the_recipe_sizes(path, capsys):
    hours = float(header(path, GPU_HOURS)["hours"])
    assert hours > 0
    seconds = float(header(path, RENDER_COST)["seconds"])
    assert_prints_config(path, capsys)
    render_hours = renders(built(path)) * seconds / 3600
    assert render_hours <= hours <= render_hours + LLM_HOURS_ALLOWANCE, (
        f"{path.name}: its sizes x {seconds} s per render give {render_hours:.1f} h of rendering; "
        f"the header says {hours} h: update `# gpu-hours:` (and the breakdown) after changing sizes")


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_components_are_the_papers(path):
    from prompt_a_video.evaluation.methods import OperatorRewrite
    from prompt_a_video.evolution.chat_api_operator import ChatAPIOperator
    from prompt_a_video.evolution.pair_rules import PaperPairRule
    from prompt_a_video.evolution.pairs import sample_pairs as pairs
    from prompt_a_video.generators.diffusers_image import DiffusersImageGenerator
    from prompt_a_video.generators.diffusers_video import DiffusersVideoGenerator
    from prompt_a_video.pipeline.run import section_options
    from prompt_a_video.rewards.composite import CompositeReward
    from prompt_a_video.rewards.presets import get_preset
    from prompt_a_video.rewards.real import AestheticReward, CLIPScoreReward, MPSReward, VideoScoreReward
    from prompt_a_video.rewards.text import TEXT_FLOORS, FluencyReward, IntentReward, LeakageReward, LexiconReward
    from prompt_a_video.rewards.text import RepetitionReward, TagListReward

    args = built(path)
    image = isinstance(args.generator, DiffusersImageGenerator)
    assert image or isinstance(args.generator, DiffusersVideoGenerator)
    if path.stem in BACKBONES:
        assert args.generator.model == BACKBONES[path.stem]
    members = {type(m) for m in args.reward.members}
    assert isinstance(args.reward, CompositeReward)
    text = {RepetitionReward, FluencyReward, LeakageReward, IntentReward, LexiconReward, TagListReward}
    # every recipe floors the text-quality and intent dimensions: no stage buys reward with degenerate text
    assert text <= members and {d: args.reward.floors[d] for d in TEXT_FLOORS} == TEXT_FLOORS
    if image:
        assert members - text == {AestheticReward, MPSReward, CLIPScoreReward}
        # no paper preset fits image rewards: the weights and floors are the recipe's own
        assert args.reward.preset is None and args.reward.weights and args.reward.floors
    else:
        assert members - text == {VideoScoreReward, AestheticReward, MPSReward}
        assert args.reward.weights == get_preset("evolution").weights
        assert args.reward.floors == TEXT_FLOORS  # the paper's evolution formula has no floors of its own

    # GPT-4o through the OpenAI-compatible operator, the key only from the environment
    for operator in (args.operator, args.evaluation.extra_methods["gpt-4o"].operator):
        assert isinstance(operator, ChatAPIOperator) and operator.model == "gpt-4o"
        assert operator._api_key is None and operator.api_key_env == "OPENAI_API_KEY"
    assert isinstance(args.evaluation.extra_methods["gpt-4o"], OperatorRewrite)
    for written in (BASE, path):
        assert not re.search(r"^\s*api_key\s*:", written.read_text(encoding="utf-8"), re.M), "API keys never go in a YAML"

    rule = section_options(pairs, args.pairs, "pairs")["rule"]
    assert isinstance(rule, PaperPairRule)
    rule.check_dimensions(tuple(args.reward.dimensions))
    if not image:
        assert rule.margin == 1.4 and rule.floors == get_preset("pair_filtering").floors

    # never train on the out-of-domain set; evaluate on both
    assert not args.source_prompts.startswith("vbench")
    assert not str(args.pairs.get("prompts", "pav:dpo")).startswith("vbench")
    assert sorted(args.evaluation.prompt_sets.values()) == ["pav:eval", "vbench"]
    assert {"original", "sft", "dpo"} <= set(args.evaluation.methods)
    assert args.dpo_rounds >= 1


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_refiner_is_llama3_8b_with_the_papers_lora_and_dpo(path, tmp_path, capsys):
    args = built(path)
    sft = fit_config(args.sft, tmp_path, capsys)
    dpo = fit_config(args.dpo, tmp_path, capsys)
    for fit in (sft, dpo):
        assert fit["model"]["init_args"]["backbone"]["model"] == LLAMA
        # one process: a multi-GPU strategy would relaunch the whole `pav pipeline` per rank
        assert fit["trainer"]["devices"] == 1
    assert (sft["trainer"]["max_epochs"], dpo["trainer"]["max_epochs"]) == (12, 3)  # finetune.sh, dpo.py
    lora = sft["model"]["init_args"]["backbone"]["lora"]
    assert (lora["r"], lora["alpha"], sorted(lora["target_modules"])) == (8, 32, ["q_proj", "v_proj"])
    assert sft["model"]["init_args"]["lr"] == pytest.approx(1e-4)
    lora = dpo["model"]["init_args"]["backbone"]["lora"]
    assert (lora["r"], lora["alpha"]) == (16, 16)
    assert set(lora["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert dpo["model"]["init_args"]["beta"] == pytest.approx(0.1)
    # SFT and DPO prompt the refiner with the same instruction
    assert sft["model"]["init_args"]["backbone"]["system_prompt"] == dpo["model"]["init_args"]["backbone"]["system_prompt"]
