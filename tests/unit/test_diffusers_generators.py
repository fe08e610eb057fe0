"""Diffusers generators on tiny random pipelines loaded from disk: shapes, seeding, batch
independence, fingerprints, lazy loading and errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from prompt_a_video.generators._diffusers_common import split_items, to_uint8
from prompt_a_video.generators.base import Generator
from prompt_a_video.generators.diffusers_image import DiffusersImageGenerator
from prompt_a_video.generators.diffusers_video import DiffusersVideoGenerator

A, B, C = "a dog running on the beach", "a red car driving at night", "two cats playing with yarn"
CPU = dict(dtype="float32", device="cpu", num_inference_steps=2)


@pytest.fixture(scope="module")
def cogvideox(tiny_cogvideox_dir):
    return DiffusersVideoGenerator(str(tiny_cogvideox_dir), prompt_token_limit=226, **CPU)


@pytest.fixture(scope="module")
def cog_renders(cogvideox):
    """Renders shared by the tests below (each costs seconds on a busy CPU)."""
    return {
        "A@3": cogvideox.generate([A], seed=3)[0],
        "BA@3": cogvideox.generate([B, A], seed=3),
        "AC@3": cogvideox.generate([A, C], seed=3),
        "A@4": cogvideox.generate([A], seed=4)[0],
    }


@pytest.fixture(scope="module")
def t2i(tiny_t2i_dir):
    return DiffusersImageGenerator(str(tiny_t2i_dir), height=16, width=16, **CPU)


# ------------------------------------------------------------------------ video
def test_video_generator_renders_uint8_clips_with_meta(cog_renders, tiny_cogvideox_dir):
    videos = cog_renders["BA@3"]
    assert len(videos) == 2
    for video, prompt in zip(videos, [B, A]):
        assert video.frames.dtype == torch.uint8 and video.frames.shape == (9, 16, 16, 3)
        assert video.fps == 8.0
        assert video.meta["model"] == str(tiny_cogvideox_dir) and video.meta["seed"] == 3
        assert video.meta["steps"] == 2 and video.meta["size"] == [16, 16] and video.meta["prompt"] == prompt
        assert video.meta["guidance"] == 6  # CogVideoXPipeline's default, recorded
    assert not torch.equal(videos[0].frames, videos[1].frames), "the prompt must matter"


def test_video_of_a_prompt_does_not_depend_on_its_batch(cog_renders):
    alone = cog_renders["A@3"].frames
    assert torch.equal(cog_renders["BA@3"][1].frames, alone)  # second of two
    assert torch.equal(cog_renders["AC@3"][0].frames, alone)  # first, with another neighbour


def test_different_seeds_give_different_videos(cog_renders):
    assert not torch.equal(cog_renders["A@3"].frames, cog_renders["A@4"].frames)


def test_same_frames_as_a_plain_diffusers_call_with_that_seed(cogvideox, cog_renders):
    # The noise of (prompt, seed) is torch.Generator().manual_seed(seed): results are
    # reproducible outside the project, and prompts compared at one seed share noise.
    pipe = cogvideox.load()
    direct = pipe(A, generator=torch.Generator().manual_seed(3), num_inference_steps=2, output_type="np").frames
    assert torch.equal(cog_renders["A@3"].frames, to_uint8(direct[0]))


def test_batched_calls_seed_each_prompt_like_single_calls(tiny_cogvideox_dir, cog_renders):
    # batch_size > 1 renders in one pipeline call; batched matrix products may round
    # differently, so frames agree up to one level, but each prompt keeps its own noise
    # (one shared generator would give the second prompt other noise than when alone).
    batched = DiffusersVideoGenerator(str(tiny_cogvideox_dir), prompt_token_limit=226, batch_size=3, **CPU)
    together = batched.generate([C, A, B], seed=3)
    assert len(together) == 3 and together[1].meta["prompt"] == A
    assert (together[1].frames.int() - cog_renders["A@3"].frames.int()).abs().max() <= 1


def test_prompt_token_limit_reaches_the_pipeline_and_truncates_the_prompt(tiny_wan_dir, t2i):
    wan = DiffusersVideoGenerator(str(tiny_wan_dir), prompt_token_limit=4, fps=16, height=16, width=16,
                                  num_frames=9, **CPU)
    assert wan.call_kwargs(wan.load())["max_sequence_length"] == 4
    assert "max_sequence_length" not in t2i.call_kwargs(t2i.load())  # SD takes no such argument
    # Prompts that share their first words are the same prompt once cut to 4 tokens (3 + </s>).
    first, second = wan.generate(["a dog running on the beach at sunset", "a dog running on a snowy road"], 0)
    assert first.frames.shape == (9, 16, 16, 3) and first.fps == 16.0
    assert torch.equal(first.frames, second.frames)


# ------------------------------------------------------------------------ image
def test_image_generator_renders_one_frame_videos(t2i):
    images = t2i.generate([A, B], seed=4)
    assert [im.frames.shape for im in images] == [(1, 16, 16, 3)] * 2
    assert all(im.is_image and im.frames.dtype == torch.uint8 for im in images)
    assert images[0].meta["size"] == [16, 16] and images[0].meta["seed"] == 4 and images[0].meta["num_frames"] == 1
    # Batch independence, and the seed matters.
    assert torch.equal(t2i.generate([C, A], seed=4)[1].frames, images[0].frames)
    assert not torch.equal(t2i.generate([A], seed=5)[0].frames, images[0].frames)


# ------------------------------------------------------------------ fingerprints
BASE = dict(model="org/some-model", num_frames=9, height=16, width=16, num_inference_steps=4, guidance_scale=6.0,
            fps=8.0, prompt_token_limit=226, dtype="float32")


@pytest.mark.parametrize("change", [
    {"model": "org/other-model"}, {"revision": "v2"}, {"dtype": "bfloat16"}, {"num_frames": 13},
    {"height": 32}, {"width": 32}, {"num_inference_steps": 5}, {"guidance_scale": 5.0}, {"fps": 16.0},
    {"prompt_token_limit": 120}, {"negative_prompt": "blurry"}, {"enable_vae_tiling": True},
    {"extra_call_kwargs": {"use_dynamic_cfg": True}}, {"load_kwargs": {"variant": "fp16"}},
], ids=lambda c: next(iter(c)))
def test_fingerprint_changes_with_every_pixel_changing_setting(change):
    assert DiffusersVideoGenerator(**{**BASE, **change}).fingerprint != DiffusersVideoGenerator(**BASE).fingerprint


@pytest.mark.parametrize("change", [{"device": "cuda"}, {"batch_size": 4}, {"progress_bar": True},
                                    {"enable_vae_slicing": True}], ids=lambda c: next(iter(c)))
def test_fingerprint_ignores_settings_that_keep_the_pixels(change):
    assert DiffusersVideoGenerator(**{**BASE, **change}).fingerprint == DiffusersVideoGenerator(**BASE).fingerprint


def test_fingerprint_is_stable_and_names_the_model():
    fp = DiffusersVideoGenerator(**BASE).fingerprint
    assert fp == DiffusersVideoGenerator(**BASE).fingerprint and "org/some-model" in fp
    assert DiffusersVideoGenerator(**{**BASE, "guidance_scale": 6, "fps": 8}).fingerprint == fp  # 6 == 6.0
    image = DiffusersImageGenerator("org/some-model", height=16, width=16, num_inference_steps=4,
                                    guidance_scale=6.0, fps=8.0, prompt_token_limit=226, dtype="float32")
    assert image.fingerprint != fp


def test_a_target_family_gives_the_token_limit_from_the_one_table():
    from prompt_a_video.generators.targets import TARGETS

    base = {k: v for k, v in BASE.items() if k != "prompt_token_limit"}
    cogvideox = DiffusersVideoGenerator(**base, target="cogvideox")
    assert cogvideox.prompt_token_limit == TARGETS["cogvideox"].token_limit == 226
    assert cogvideox.fingerprint == DiffusersVideoGenerator(**BASE).fingerprint  # the same pixels as 226 given
    assert DiffusersVideoGenerator(**base, target="ltx", prompt_token_limit=64).prompt_token_limit == 64  # given wins
    assert DiffusersImageGenerator("org/sd", target="sd", dtype="float32").prompt_token_limit == 77
    with pytest.raises(ValueError, match="target must be one of .*cogvideox"):
        DiffusersVideoGenerator(**base, target="cogvideo")


# ------------------------------------------------------------- loading, errors
def test_constructing_does_not_load_weights(tiny_cogvideox_dir, tmp_path):
    gen = DiffusersVideoGenerator(str(tiny_cogvideox_dir), **CPU)
    missing = DiffusersVideoGenerator(str(tmp_path / "nowhere"), **CPU)  # no error yet
    assert not gen.is_loaded and not missing.is_loaded and missing.fingerprint


def test_yaml_examples_of_the_docs_build_generators_without_loading():
    from jsonargparse import ArgumentParser

    doc = Path(__file__).resolve().parents[2] / "docs" / "backbones.md"
    blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    parser = ArgumentParser()
    parser.add_subclass_arguments(Generator, "generator")
    for block in blocks:
        generator = parser.instantiate(parser.parse_string(block)).generator
        assert isinstance(generator, Generator) and not generator.is_loaded and generator.fingerprint


def test_importing_the_generators_does_not_import_diffusers_or_decoders():
    code = ("import sys, prompt_a_video.generators.diffusers_video, prompt_a_video.generators.diffusers_image, "
            "prompt_a_video.video_io; print([m for m in ('diffusers', 'av', 'decord') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("cls", [DiffusersVideoGenerator, DiffusersImageGenerator])
def test_missing_model_folder_is_a_clear_error(cls, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        cls(str(tmp_path / "nowhere"), **CPU).generate([A], seed=0)


def test_folder_without_a_pipeline_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        DiffusersImageGenerator(str(tmp_path), **CPU).generate([A], seed=0)


def test_configuration_errors_are_raised_at_construction():
    with pytest.raises(ValueError, match="dtype"):
        DiffusersVideoGenerator("org/m", dtype="float64")
    with pytest.raises(ValueError, match="generator"):
        DiffusersVideoGenerator("org/m", extra_call_kwargs={"generator": None})
    with pytest.raises(ValueError, match="num_frames"):
        DiffusersVideoGenerator("org/m", num_frames=0)


# ------------------------------------------------------------ output conversion
def _clip() -> torch.Tensor:
    return torch.randint(0, 256, (2, 5, 6, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


@pytest.mark.parametrize("form", ["pt-float", "np-float", "np-uint8", "pil-list", "pt-float-batch5d"])
def test_pipeline_outputs_of_any_layout_become_uint8_thwc(form):
    clip = _clip()  # [T=2, H=5, W=6, 3]
    unit = clip.float() / 255.0
    item = {
        "pt-float": unit.permute(0, 3, 1, 2),  # diffusers "pt": [T, C, H, W]
        "np-float": unit.numpy(),  # diffusers "np": [T, H, W, C]
        "np-uint8": clip.numpy(),
        "pil-list": [Image.fromarray(f) for f in clip.numpy()],
        "pt-float-batch5d": split_items(unit.permute(0, 3, 1, 2)[None].repeat(3, 1, 1, 1, 1), 3, 4)[2],
    }[form]
    assert torch.equal(to_uint8(item), clip)


def test_images_become_single_frame_videos_and_values_are_clamped():
    image = torch.tensor([[[1.2, -0.1], [0.5, 0.0]]]).expand(3, 2, 2)  # [C, H, W], out of range
    out = to_uint8(split_items(image[None], 1, 3)[0])
    assert out.shape == (1, 2, 2, 3) and out[0, 0, 0, 0] == 255 and out[0, 0, 1, 0] == 0 and out[0, 1, 0, 0] == 128


def test_outputs_that_are_not_frames_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        to_uint8(np.zeros((2, 5, 7, 7), dtype=np.float32))
    with pytest.raises(ValueError, match="2 items for 3 prompts"):
        split_items(torch.zeros(2, 5, 3, 4, 4), 3, 4)
