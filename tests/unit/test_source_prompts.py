"""The project's shipped source prompts: sizes, splits, no VBench prompt, loadable by name."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from prompt_a_video import assets
from prompt_a_video.data import load_prompts
from prompt_a_video.generators.synthetic import parse_prompt

ROOT = Path(__file__).resolve().parents[2]
SETS = ROOT / "prompt_a_video" / "data" / "prompt_sets"
SPLITS = {"evolution": 0.5, "dpo": 0.3, "eval": 0.2}
SHARED_VBENCH = ROOT.parent / "shared" / "data" / "vbench_prompt_refinements.jsonl"


def normalize(prompt: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", prompt.lower()).split())


@pytest.fixture(scope="module")
def splits() -> dict[str, list[str]]:
    return {name: [item.prompt for item in load_prompts(f"pav:{name}")] for name in SPLITS}


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_source_prompts", ROOT / "scripts" / "make_source_prompts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sizes_follow_the_split_shares(splits):
    total = sum(map(len, splits.values()))
    assert 400 <= total <= 1000
    for name, share in SPLITS.items():
        assert abs(len(splits[name]) / total - share) < 0.02, (name, len(splits[name]), total)


def test_splits_are_disjoint_and_free_of_duplicates(splits):
    seen: dict[str, str] = {}
    for name, prompts in splits.items():
        for prompt in prompts:
            key = normalize(prompt)
            assert key not in seen, f"{prompt!r} in {name} and {seen[key]}"
            seen[key] = name


def test_files_have_no_empty_or_padded_lines():
    for name in SPLITS:
        raw = (SETS / f"{name}.txt").read_text(encoding="utf-8")
        assert raw.endswith("\n") and "\r" not in raw
        for i, line in enumerate(raw.split("\n")[:-1], start=1):
            assert line and line == line.strip() and "  " not in line, f"{name}.txt:{i}: {line!r}"


def _vbench_sources() -> list[set[str]]:
    found = []
    if SHARED_VBENCH.is_file():
        found.append({normalize(json.loads(line)["prompt"]) for line in SHARED_VBENCH.read_text().splitlines()})
    if assets.is_installed("vbench"):
        found.append({normalize(item.prompt) for item in load_prompts("vbench")})
    return found


def test_no_vbench_prompt_is_a_source_prompt(splits):
    sources = _vbench_sources()
    if not sources:
        pytest.skip("no VBench list here (../shared/data or the vbench asset)")
    for vbench in sources:
        assert len(vbench) > 800
        leaked = [p for prompts in splits.values() for p in prompts if normalize(p) in vbench]
        assert leaked == []


def test_loadable_by_name_and_equal_to_the_files(splits):
    for name in SPLITS:
        lines = (SETS / f"{name}.txt").read_text(encoding="utf-8").splitlines()
        assert splits[name] == lines
    with pytest.raises(ValueError, match="pav:evolution, pav:dpo, pav:eval"):
        load_prompts("pav:train")
    with pytest.raises(ValueError, match="pav:evolution"):
        load_prompts("pav")
    with pytest.raises(ValueError, match="only the named set 'vbench'"):
        load_prompts("pav:dpo", dimensions=["scene"])


def test_the_synthetic_backbone_finds_a_subject_in_nearly_all(splits):
    prompts = [p for ps in splits.values() for p in ps]
    without = [p for p in prompts if not parse_prompt(p).subjects]
    assert len(without) <= 0.05 * len(prompts), without


def test_prompts_are_short_and_use_the_right_article(splits):
    for prompt in (p for ps in splits.values() for p in ps):
        assert 3 <= len(prompt.split()) <= 20, prompt
        for article, word in re.findall(r"\b(a|an) (\w+)", prompt):
            vowel = word[0] in "aeiou" and not word.startswith(("uni", "ufo", "use", "eu", "one"))
            assert (article == "an") == vowel, prompt


def test_the_script_is_deterministic_and_splits_every_category(script):
    built = script.build(script.SEED, set())
    assert built == script.build(script.SEED, set())
    assert built != script.build(script.SEED + 1, set())
    parts = script.split(built, script.SEED)
    for category, prompts in built.items():
        homes = {name: sum(p in set(prompts) for p in part) for name, part in parts.items()}
        assert all(homes.values()), (category, homes)  # every split has every kind of prompt
    # excluding a prompt removes it (and only changes what is drawn after it)
    banned = built["people"][0]
    assert banned not in {p for ps in script.build(script.SEED, {normalize(banned)}).values() for p in ps}


def test_the_shipped_files_are_what_the_script_writes(script, capsys):
    if not assets.is_installed("vbench"):
        pytest.skip("the vbench asset is not installed (pav assets install --names vbench)")
    assert script.main(["--check"]) == 0, capsys.readouterr().err
