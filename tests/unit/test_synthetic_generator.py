"""The synthetic backbone: a CPU test world in which prompt wording measurably matters.

Properties are measured on the frames with small numpy statistics computed here (not with
the project's rewards): a noise estimate, frame-to-frame jitter, brightness flicker,
colourfulness, the horizontal shift of a camera pan, where coloured things are.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prompt_a_video.generators.base import Generator
from prompt_a_video.generators.synthetic import (
    PRESETS,
    RENDERER_VERSION,
    SyntheticGenerator,
    draw,
    parse_prompt,
    render,
    tokenize,
)
from prompt_a_video.generators.synthetic.lexicon import LEXICON_DIGEST
from prompt_a_video.video import Video

REPO = Path(__file__).resolve().parents[2]


def frames(prompt: str, preset: str = "long-cinematic", seed: int = 0, **size) -> np.ndarray:
    video = SyntheticGenerator(preset, **size).generate([prompt], seed)[0]
    return video.frames.numpy().astype(np.float64)


def noise_level(f: np.ndarray) -> float:
    """Immerkaer's estimate of Gaussian noise std (grey levels), median-based so that
    edges and texture barely move it."""
    g = f.mean(-1)
    lap = (g[:, :-2, :-2] - 2 * g[:, :-2, 1:-1] + g[:, :-2, 2:] - 2 * g[:, 1:-1, :-2] + 4 * g[:, 1:-1, 1:-1]
           - 2 * g[:, 1:-1, 2:] + g[:, 2:, :-2] - 2 * g[:, 2:, 1:-1] + g[:, 2:, 2:])
    return float(np.sqrt(np.pi / 2) / 6 * np.median(np.abs(lap)))


def jitter(f: np.ndarray) -> float:
    """Variance over time of the mean absolute frame-to-frame difference: a shaking
    camera makes some frame pairs differ much more than others."""
    return float(np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3)).var())


def flicker(f: np.ndarray) -> float:
    """Mean absolute change of the frame's mean brightness between frames."""
    return float(np.abs(np.diff(f.mean(axis=(1, 2, 3)))).mean())


def colourfulness(f: np.ndarray) -> float:
    """Hasler & Suesstrunk colourfulness, averaged over frames."""
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.mean(np.sqrt(rg.std(axis=(1, 2)) ** 2 + yb.std(axis=(1, 2)) ** 2)
                         + 0.3 * np.sqrt(rg.mean(axis=(1, 2)) ** 2 + yb.mean(axis=(1, 2)) ** 2)))


def motion_energy(f: np.ndarray) -> float:
    """Mean absolute difference of consecutive frames after a 3x3 box blur (which averages
    most of the per-pixel noise away): how much the picture moves."""
    g = f.mean(-1)
    g = sum(g[:, 1 + dy:g.shape[1] - 1 + dy, 1 + dx:g.shape[2] - 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    return float(np.abs(np.diff(g, axis=0)).mean())


def horizontal_shift(a: np.ndarray, b: np.ndarray, max_shift: int = 16) -> int:
    """Shift s (pixels) minimising the difference of b[:, x] and a[:, x - s]."""
    ga, gb = a.mean(-1), b.mean(-1)
    w = ga.shape[1]
    errors = {s: np.mean((gb[:, max_shift + s:w - max_shift + s] - ga[:, max_shift:w - max_shift]) ** 2)
              for s in range(-max_shift, max_shift + 1)}
    return min(errors, key=errors.get)


def subject_recall(original: str, meta: dict) -> float:
    """Fraction of the original prompt's subjects that were drawn."""
    wanted = parse_prompt(original).subject_names
    return sum(name in meta["subjects"] for name in wanted) / len(wanted)


# --- interface and determinism ----------------------------------------------------------

def test_generator_returns_videos_of_the_configured_size_with_json_meta():
    gen = SyntheticGenerator("short-strict", num_frames=5, height=24, width=40, fps=4.0)
    assert isinstance(gen, Generator)
    videos = gen.generate(["a red car on a street", "a dog"], seed=3)
    assert [type(v) for v in videos] == [Video, Video]
    assert videos[0].frames.shape == (5, 24, 40, 3) and videos[0].fps == 4.0
    meta = json.loads(json.dumps(videos[0].meta))  # JSON-serialisable as is
    assert meta["subjects"] == ["car"] and meta["subject_colours"] == {"car": "red"}
    assert meta["scene"] == "street" and meta["preset"] == "short-strict" and meta["seed"] == 3
    # meta carries every key of the parse summary, with the same meaning
    assert set(parse_prompt("a red car on a street").summary()) <= set(meta)


def test_fingerprint_and_token_limit_follow_the_preset_and_sizes():
    a = SyntheticGenerator("long-cinematic")
    assert a.prompt_token_limit == PRESETS["long-cinematic"].token_limit
    assert SyntheticGenerator("short-strict").prompt_token_limit == PRESETS["short-strict"].token_limit
    prints = {a.fingerprint, SyntheticGenerator("short-strict").fingerprint,
              SyntheticGenerator(num_frames=8).fingerprint, SyntheticGenerator(width=32).fingerprint,
              SyntheticGenerator(fps=4.0).fingerprint}
    assert len(prints) == 5 and f"v{RENDERER_VERSION}" in a.fingerprint and "long-cinematic" in a.fingerprint
    assert a.fingerprint == SyntheticGenerator().fingerprint
    with pytest.raises(ValueError, match="long-cinematic"):
        SyntheticGenerator("no-such-preset")


def test_same_inputs_are_bit_identical_other_seeds_differ_but_look_alike():
    gen = SyntheticGenerator(num_frames=6, height=32, width=32)
    prompt = "a yellow dog running on a beach, sunset"
    first, again = gen.generate([prompt], 7)[0], gen.generate([prompt], 7)[0]
    assert first.content_hash() == again.content_hash() and first.meta == again.meta
    other = gen.generate([prompt], 8)[0]
    assert other.content_hash() != first.content_hash()
    a, b = first.frames.float(), other.frames.float()
    assert (a - b).abs().mean() > 1.0  # different noise, texture, positions...
    assert (a.mean(dim=(0, 1, 2)) - b.mean(dim=(0, 1, 2))).abs().max() < 12  # ...same picture
    assert {k: v for k, v in other.meta.items() if k != "seed"} == {k: v for k, v in first.meta.items() if k != "seed"}


def test_a_prompts_video_does_not_depend_on_the_rest_of_the_batch():
    gen = SyntheticGenerator(num_frames=4, height=32, width=32)
    alone = gen.generate(["a cat on a sofa"], 1)[0]
    batch = gen.generate(["a red car at night", "a cat on a sofa", "a bird flying over the sea"], 1)
    assert batch[1].content_hash() == alone.content_hash()


def test_unknown_nouns_render_from_a_stable_hash_not_pythons_salted_hash():
    code = ("import hashlib; from prompt_a_video.generators.synthetic import render, get_preset, lexicon; "
            "f, m = render('a zorblax next to a quibbit', get_preset('long-cinematic'), 0, 4, 32, 32, 8.0); "
            "print(hashlib.sha256(f.tobytes()).hexdigest(), m['subject_colours'], lexicon.LEXICON_DIGEST)")
    outputs = set()
    for hash_seed in ("1", "2"):  # the package import needs numpy only: fast subprocesses
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(REPO))
        outputs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   check=True, cwd=REPO).stdout)
    here, meta = render("a zorblax next to a quibbit", PRESETS["long-cinematic"], 0, 4, 32, 32, 8.0)
    digest = hashlib.sha256(here.tobytes()).hexdigest()
    assert outputs == {f"{digest} {meta['subject_colours']} {LEXICON_DIGEST}\n"}  # the fingerprint's too
    assert meta["subjects"] == meta["unknown_subjects"] == ["zorblax", "quibbit"]
    assert draw.unknown_look("zorblax") != draw.unknown_look("quibbit")  # each word its own look


# --- parsing ------------------------------------------------------------------------------

def test_tokens_are_words_and_punctuation():
    assert tokenize("A dog, running.") == ["a", "dog", ",", "running", "."]
    assert len(tokenize("The bird's-eye view")) == 5


def test_parse_reads_a_webvid_style_prompt():
    p = parse_prompt("Two puppies ran across a green meadow at sunset, neon lights, slowly panning left, "
                     "shot in 4k, highly detailed, steady camera, black-and-white")
    assert p.subject_names == ["dog"] and p.subjects[0].actions == ["run"]
    assert p.scenes == ["meadow"] and p.lighting == ["sunset", "neon"] and p.camera == ["pan_left"]
    assert set(p.quality) == {"4k", "highly detailed"} and "steady camera" in p.stability
    assert p.style == ["bw"] and p.speed < 1
    assert p.colours == ["green"] and p.subjects[0].colour is None  # green describes the meadow


def test_parse_binds_colours_actions_and_relations_to_the_right_subjects():
    p = parse_prompt("a red car on the left of a blue bus, a man walks and a woman dances")
    by = {s.name: s for s in p.subjects}
    assert (by["car"].colour, by["bus"].colour) == ("red", "blue") and p.relation == "left"
    assert by["man"].actions == ["walk"] and by["woman"].actions == ["dance"]
    both = parse_prompt("a dog and a cat running")
    assert [s.actions for s in both.subjects] == [["run"], ["run"]]
    assert parse_prompt("an orange").subject_names == ["orange"]
    assert parse_prompt("an orange cat").subjects[0].colour == "orange"


def test_lexicon_covers_vbench_prompts(shared_data_dir):
    records = [json.loads(line) for line in (shared_data_dir / "vbench_prompt_refinements.jsonl").open()]
    assert len(records) == 843
    parsed = [parse_prompt(r["prompt"]) for r in records]
    known_subject = np.mean([any(s.known for s in p.subjects) for p in parsed])
    drawable = np.mean([any(s.known for s in p.subjects) or bool(p.scenes) for p in parsed])
    # ~14% of VBench prompts name only a place ("kitchen", "The bund Shanghai"): a scene
    assert known_subject >= 0.8 and drawable >= 0.97, (known_subject, drawable)


def test_rendering_a_prompt_draws_what_its_parse_asks_for(shared_data_dir):
    """The contract of the scene-alignment reward: meta holds what the parse of the same
    prompt asks for, within the preset's limits (token limit, subjects drawn)."""
    records = [json.loads(line) for line in (shared_data_dir / "vbench_prompt_refinements.jsonl").open()]
    extra = ["a red car painted blue under a clear blue sky", "a dog and a cat running, pink, neon lights"]
    for prompt in [r["prompt"] for r in records[::10]] + extra:
        for preset in PRESETS.values():
            _, meta = render(prompt, preset, 0, 2, 16, 16, 8.0)
            asked = parse_prompt(prompt, preset.token_limit)
            drawn_names = asked.subject_names[: preset.max_subjects]
            assert meta["subjects"] == drawn_names, prompt
            assert set(asked.colours) <= set(meta["colours"]) or len(asked.subjects) > preset.max_subjects, prompt
            if len(asked.subjects) <= preset.max_subjects:
                assert meta["actions"] == asked.actions, prompt
            assert meta["scene"] == asked.scene and meta["lighting"] == asked.lighting, prompt
            assert meta["camera"] == asked.camera and meta["style"] == asked.style, prompt


# --- what the words do to the video -----------------------------------------------------

@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_stability_words_lower_camera_jitter(preset):
    for seed in (0, 1):
        shaky = jitter(frames("a dog running", preset, seed))
        steady = jitter(frames("a dog running, static camera, smooth motion", preset, seed))
        assert steady < 0.5 * shaky, (seed, steady, shaky)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_quality_words_lower_noise(preset):
    plain = noise_level(frames("a dog running, static camera", preset))
    sharp = noise_level(frames("a dog running, static camera, sharp, detailed, high quality", preset))
    assert sharp < 0.8 * plain, (sharp, plain)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_too_many_actions_flicker(preset):
    calm = frames("a dog running", preset)
    busy = frames("a dog and a cat running, jumping, swimming and dancing", preset)
    assert flicker(busy) > 3 * flicker(calm), (flicker(busy), flicker(calm))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_actions_and_camera_moves_make_the_clip_dynamic(preset):
    still = motion_energy(frames("a dog, static camera, sharp, 4k", preset))
    assert motion_energy(frames("a dog running, static camera, sharp, 4k", preset)) > 1.2 * still
    assert motion_energy(frames("a dog, pan left, sharp, 4k", preset)) > 1.2 * still


def test_scene_changes_past_the_budget_cut_the_clip():
    prompt = "a dog on a beach, then in a forest, then in a city"
    strict = SyntheticGenerator("short-strict").generate([prompt], 0)[0]
    assert strict.meta["scene_cuts"] >= 1 and len(strict.meta["scenes"]) >= 2
    f = strict.frames.numpy().astype(np.float64)
    step = np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))
    assert step.max() > 3 * np.median(step)  # a hard cut, not a drift
    assert SyntheticGenerator("long-cinematic").generate(["a dog on a beach"], 0)[0].meta["scene_cuts"] == 0


def test_a_subject_past_the_token_limit_is_not_drawn():
    filler = ("a quiet sunny afternoon with soft warm light and gentle shadows over the grass, " * 5).strip()
    prompt = f"{filler}, a giraffe"
    short, long_ = (SyntheticGenerator(p).generate([prompt], 0)[0].meta for p in ("short-strict", "long-cinematic"))
    assert short["tokens_ignored"] > 0 and long_["tokens_ignored"] == 0
    assert "giraffe" not in short["subjects"] and "giraffe" in long_["subjects"]
    assert subject_recall("a giraffe", short) == 0.0 and subject_recall("a giraffe", long_) == 1.0


def test_camera_pans_move_the_picture_the_right_way():
    left = frames("a red ball on a beach, pan left, sharp, 4k", num_frames=12)
    right = frames("a red ball on a beach, pan right, sharp, 4k", num_frames=12)
    assert horizontal_shift(left[0], left[-1]) >= 4  # the camera turns left: the world slides right
    assert horizontal_shift(right[0], right[-1]) <= -4


def test_spatial_relations_place_subjects():
    f = frames("a red car on the left of a blue bus, static camera, sharp, 4k")[0] / 255
    ys, xs = np.mgrid[: f.shape[0], : f.shape[1]]
    red = (f[..., 0] > 0.5) & (f[..., 1] < 0.35) & (f[..., 2] < 0.35)
    blue = (f[..., 2] > 0.5) & (f[..., 0] < 0.35)
    assert red.sum() > 20 and blue.sum() > 20
    assert xs[red].mean() + 8 < xs[blue].mean()


def test_lighting_is_drawn_and_rewarded_more_by_the_cinematic_preset():
    assert frames("a dog in a park at night").mean() < 0.7 * frames("a dog in a park on a sunny day").mean()
    gain = {preset: colourfulness(frames("a dog in a park, golden hour, soft light, backlight", preset))
            / colourfulness(frames("a dog in a park", preset)) for preset in PRESETS}
    assert gain["short-strict"] > 1 and gain["long-cinematic"] > 1.3 * gain["short-strict"], gain


def test_presets_disagree_on_which_prompt_is_better():
    rich = ("a dog running across a sunny meadow at golden hour, warm backlight, soft natural light, "
            "the camera pans left in a smooth tracking shot, cinematic, highly detailed, sharp focus, 4k, "
            "professional photography, rich colors, vivid, the grass sways in the gentle breeze, wildflowers "
            "in the foreground, distant mountains under a clear blue sky, crisp, masterpiece")
    terse = "a dog running, static camera, sharp, high quality"
    assert len(tokenize(rich)) > PRESETS["short-strict"].token_limit
    cinematic = noise_level(frames(rich, "long-cinematic")), noise_level(frames(terse, "long-cinematic"))
    strict = noise_level(frames(rich, "short-strict")), noise_level(frames(terse, "short-strict"))
    assert cinematic[0] < cinematic[1] and strict[0] > strict[1], (cinematic, strict)
