"""The project's shipped prompt sets: sizes, splits, messy prompts mixed in, no VBench prompt,
the held-out wild set, loadable by name."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from prompt_a_video import assets
from prompt_a_video.data import load_prompts
from prompt_a_video.evaluation.settings import spread
from prompt_a_video.generators.synthetic import parse_prompt

ROOT = Path(__file__).resolve().parents[2]
SETS = ROOT / "prompt_a_video" / "data" / "prompt_sets"
SPLITS = {"evolution": 0.5, "dpo": 0.3, "eval": 0.2}
WILD = "wild"  # held out: evaluation only
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


@pytest.fixture(scope="module")
def messy(script) -> set[str]:
    """The hand-written messy prompts (scripts/user_prompts.py, MESSY); the rest of a split
    is template prompts."""
    return {p for prompts in script.MESSY.values() for p in prompts}


@pytest.fixture(scope="module")
def wild() -> list[str]:
    return [item.prompt for item in load_prompts(f"pav:{WILD}")]


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
    for name in [*SPLITS, WILD]:
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


def test_no_vbench_prompt_is_a_source_or_wild_prompt(splits, wild):
    sources = _vbench_sources()
    if not sources:
        pytest.skip("no VBench list here (../shared/data or the vbench asset)")
    for vbench in sources:
        assert len(vbench) > 800
        leaked = [p for prompts in [*splits.values(), wild] for p in prompts if normalize(p) in vbench]
        assert leaked == []


def test_loadable_by_name_and_equal_to_the_files(splits):
    for name in SPLITS:
        lines = (SETS / f"{name}.txt").read_text(encoding="utf-8").splitlines()
        assert splits[name] == lines
    with pytest.raises(ValueError, match=r"pav:evolution, pav:dpo, pav:eval \(splits\), pav:wild \(held out"):
        load_prompts("pav:train")
    with pytest.raises(ValueError, match="pav:evolution"):
        load_prompts("pav")
    with pytest.raises(ValueError, match="only the named set 'vbench'"):
        load_prompts("pav:dpo", dimensions=["scene"])


def test_the_synthetic_backbone_finds_a_subject_in_nearly_all_template_prompts(splits, messy):
    prompts = [p for ps in splits.values() for p in ps if p not in messy]
    without = [p for p in prompts if not parse_prompt(p).subjects]
    assert len(without) <= 0.05 * len(prompts), without  # the scene-only prompts ("fog rolling over the hills")
    unknown = [p for p in prompts if not any(s.known for s in parse_prompt(p).subjects)]
    assert len(unknown) <= 0.06 * len(prompts), unknown


# Messy prompts are what users type: typos ("a dgo"), brands ("a Tesla"), other languages and
# captions without a noun the lexicon knows. When written: 88% had a subject (any noun heading
# a noun phrase), 76% one the synthetic lexicon knows. The floors leave a margin, no more.
MESSY_WITH_SUBJECT = 0.85
MESSY_WITH_KNOWN_SUBJECT = 0.70


def test_the_synthetic_backbone_finds_a_subject_in_most_messy_prompts(messy):
    parsed = {p: parse_prompt(p) for p in sorted(messy)}
    with_subject = [p for p, x in parsed.items() if x.subjects]
    with_known = [p for p, x in parsed.items() if any(s.known for s in x.subjects)]
    assert len(with_subject) >= MESSY_WITH_SUBJECT * len(parsed), sorted(set(parsed) - set(with_subject))
    assert len(with_known) >= MESSY_WITH_KNOWN_SUBJECT * len(parsed), sorted(set(parsed) - set(with_known))


def test_template_prompts_are_short_and_use_the_right_article(splits, messy):
    for prompt in (p for ps in splits.values() for p in ps if p not in messy):
        assert 3 <= len(prompt.split()) <= 20, prompt
        for article, word in re.findall(r"\b(a|an) (\w+)", prompt):
            vowel = word[0] in "aeiou" and not word.startswith(("uni", "ufo", "use", "eu", "one"))
            assert (article == "an") == vowel, prompt


def test_messy_prompts_are_short_lines(messy, wild):
    for prompt in [*messy, *wild]:
        assert prompt == prompt.strip() and "\n" not in prompt and "  " not in prompt, prompt
        assert 1 <= len(prompt.split()) <= 40 and len(prompt) <= 300, prompt


def test_messy_prompts_are_split_in_the_shares_and_spread_through_every_file(splits, messy):
    shipped_messy = [p for ps in splits.values() for p in ps if p in messy]
    assert len(shipped_messy) == len(messy) >= 150  # none dropped (as a VBench or a template prompt)
    for name, share in SPLITS.items():
        prompts = splits[name]
        flags = [p in messy for p in prompts]
        assert abs(sum(flags) / len(messy) - share) < 0.02, (name, sum(flags))
        rate = sum(flags) / len(prompts)
        assert 0.15 <= rate <= 0.35, (name, rate)
        # Stages take the first `limit` prompts: every prefix holds about the file's share.
        for k in range(1, len(prompts) + 1):
            assert abs(sum(flags[:k]) - rate * k) <= 2, (name, k, sum(flags[:k]))
        # Evaluation spreads `limit` prompts evenly over a set: no pattern the pick falls in step with.
        for k in (8, 16, 24, 32, 48, 64, 96, 100):
            picked = sum(p in messy for p in spread(prompts, k))
            assert abs(picked - rate * k) <= 4, (name, k, picked)


def test_wild_is_held_out_and_loads_by_name(splits, wild, script):
    lines = (SETS / f"{WILD}.txt").read_text(encoding="utf-8").splitlines()
    assert wild == lines and len(wild) == 60
    keys = [normalize(p) for p in wild]
    assert len(set(keys)) == len(keys)
    in_splits = {normalize(p) for ps in splits.values() for p in ps}
    assert [p for p in wild if normalize(p) in in_splits] == []
    written = {normalize(p) for ps in script.MESSY.values() for p in ps}
    assert not written & set(keys)  # not even a messy prompt that the build dropped
    from prompt_a_video.data.prompt_sets import HELD_OUT, SPLITS as SHIPPED_SPLITS

    assert WILD in HELD_OUT and WILD not in SHIPPED_SPLITS  # never a training source
    assert sorted(script.WILD) == ["captions", "casual", "languages", "odd", "run-on"]
    assert sorted(wild) == sorted(p for ps in script.WILD.values() for p in ps)
    with pytest.raises(ValueError, match="disjoint"):
        script.wild_prompts(set(), {"eval": [wild[0].upper() + "!"]})


def test_the_script_is_deterministic_and_splits_every_category(script):
    built = script.build(script.SEED, set())
    assert built == script.build(script.SEED, set())
    assert built != script.build(script.SEED + 1, set())
    parts = script.split(built, script.SEED)
    for category, prompts in built.items():
        homes = {name: sum(p in set(prompts) for p in part) for name, part in parts.items()}
        assert all(homes.values()), (category, homes)  # every split has every kind of prompt
    # excluding a prompt removes it (and only changes what is drawn after it)
    for banned in (built["people"][0], next(iter(script.MESSY.values()))[0]):
        assert banned not in {p for ps in script.build(script.SEED, {normalize(banned)}).values() for p in ps}
    assert parts == script.split(built, script.SEED)


def test_the_shipped_files_are_what_the_script_writes(script, capsys):
    if not assets.is_installed("vbench"):
        pytest.skip("the vbench asset is not installed (pav assets install --names vbench)")
    assert script.main(["--check"]) == 0, capsys.readouterr().err
