"""`RefinedPipeline`: a refiner in front of a diffusers pipeline.

First its exact semantics with a fake refiner and a recording fake pipeline (no LLM, no
torch), then the real thing: the test kit's tiny CogVideoX and Stable Diffusion pipelines
behind the tiny exported refiner, spying on the prompt their ``encode_prompt`` receives.
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import pytest

from prompt_a_video import Refiner, RefinedPipeline

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]

A, B = "a dog running on the beach", "an old man reading a book in the rain"
# Greedy and unguarded: the tiny random refiner's answers fail the guard's text checks,
# which would hand back the original prompts and make "the pipeline got the rewrite" moot.
GREEDY = {"temperature": 0, "max_new_tokens": 8, "guard": False}
COG = {"num_inference_steps": 2, "output_type": "pt"}
SD = {"height": 16, "width": 16, "num_inference_steps": 2, "output_type": "pt"}


# --------------------------------------------------------------- fakes, exact semantics
class FakeRefiner:
    """Rewrites by prefixing; records every refine call."""

    def __init__(self):
        self.calls: list[tuple[list[str], dict]] = []

    def refine(self, prompts, n=1, **kwargs):
        self.calls.append((prompts, {"n": n, **kwargs}))
        return [[f"REFINED {p}"] * n for p in prompts]

    def __repr__(self):
        return "FakeRefiner()"


@dataclasses.dataclass
class FakeOutput:
    frames: list


class FakePipe:
    """Records its call; returns a diffusers-like output, or a tuple for return_dict=False."""

    def __init__(self):
        self.calls: list[tuple[tuple, dict]] = []
        self.scheduler = "ddim"

    def __call__(self, prompt=None, negative_prompt=None, *args, return_dict=True, **kwargs):
        self.calls.append(((prompt, negative_prompt, *args), {"return_dict": return_dict, **kwargs}))
        frames = ["frames"] * (1 if isinstance(prompt, str) else len(prompt or [None]))
        return FakeOutput(frames) if return_dict else (frames,)

    def to(self, device):
        self.device = device
        return self


def test_the_pipeline_gets_the_rewrite_and_everything_else_as_the_same_objects():
    refiner, pipe = FakeRefiner(), FakePipe()
    refined = RefinedPipeline(pipe, refiner, refine_kwargs={"temperature": 0.3, "seed": 5})
    negative, callback, generator = "blurry", (lambda *a: {}), object()
    out = refined(prompt=A, negative_prompt=negative, generator=generator, callback_on_step_end=callback,
                  num_frames=9, refine_kwargs={"seed": 7, "guard": False})
    assert refiner.calls == [([A], {"n": 1, "temperature": 0.3, "seed": 7, "guard": False})]
    (args, kwargs), = pipe.calls
    assert args == (f"REFINED {A}", negative)  # a str stays a str
    assert kwargs["generator"] is generator and kwargs["callback_on_step_end"] is callback
    assert kwargs == {"return_dict": True, "generator": generator, "callback_on_step_end": callback, "num_frames": 9}
    assert isinstance(out, FakeOutput) and out.frames == ["frames"]
    assert out.prompts == [f"REFINED {A}"] and out.original_prompts == [A]
    assert refined.last_prompts == [f"REFINED {A}"]
    assert refined.refine_kwargs == {"temperature": 0.3, "seed": 5}  # a call's own do not stick


def test_positional_prompt_lists_refine_false_and_return_dict_false():
    refiner, pipe = FakeRefiner(), FakePipe()
    refined = RefinedPipeline(pipe, refiner)
    out = refined([A, B], "blurry", 16)  # positional prompt, negative_prompt, then a pipeline positional
    assert pipe.calls[-1][0] == ([f"REFINED {A}", f"REFINED {B}"], "blurry", 16)
    assert out.prompts == [f"REFINED {A}", f"REFINED {B}"] and out.original_prompts == [A, B]
    assert refiner.calls == [([A, B], {"n": 1})]

    spaced = f"  {A} "
    out = refined(prompt=spaced, refine=False)
    assert pipe.calls[-1][0][0] is spaced and len(refiner.calls) == 1  # as given, not even stripped
    assert out.prompts == [spaced] == out.original_prompts

    tup = refined(prompt=[A], return_dict=False)
    assert tup == (["frames"],)  # the pipeline's tuple, untouched
    assert refined.last_prompts == [f"REFINED {A}"]
    assert refined.refine_prompts([]) == [] and refined.refine_prompts(B) == f"REFINED {B}"


def test_prompt_embeds_mean_no_refinement():
    refiner, pipe = FakeRefiner(), FakePipe()
    refined = RefinedPipeline(pipe, refiner)
    embeds = object()
    with pytest.warns(UserWarning, match="prompt_embeds given, so nothing is refined"):
        out = refined(prompt_embeds=embeds, negative_prompt="x")
    assert pipe.calls[-1] == ((None, "x"), {"return_dict": True, "prompt_embeds": embeds})
    assert not hasattr(out, "prompts") and refined.last_prompts is None
    with pytest.raises(ValueError, match="refine=True with prompt_embeds"):
        refined(prompt_embeds=embeds, refine=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refined(prompt_embeds=embeds, refine=False)  # said so: no warning
    assert refiner.calls == []


def test_bad_arguments_are_errors():
    refiner, pipe = FakeRefiner(), FakePipe()
    with pytest.raises(ValueError, match="may not set n"):
        RefinedPipeline(pipe, refiner, refine_kwargs={"n": 3})
    refined = RefinedPipeline(pipe, refiner)
    with pytest.raises(ValueError, match="may not set n"):
        refined(prompt=A, refine_kwargs={"n": 2})
    with pytest.raises(TypeError, match="str or a list of str"):
        refined(prompt=("a", "b"))
    with pytest.raises(TypeError, match="refine.* method"):
        RefinedPipeline(pipe, object())
    with pytest.raises(TypeError, match="pipe must be"):
        RefinedPipeline("not a pipeline", refiner)

    class Wrong(FakeRefiner):
        def refine(self, prompts, n=1, **kwargs):
            return [f"REFINED {p}" for p in prompts]  # flat: not one list per prompt

    with pytest.raises(TypeError, match="one list with one rewrite"):
        RefinedPipeline(pipe, Wrong())(prompt=[A, B])
    assert pipe.calls == []  # nothing was rendered


def test_attributes_are_the_pipelines_and_to_returns_the_wrapper():
    pipe = FakePipe()
    refined = RefinedPipeline(pipe, FakeRefiner())
    assert refined.scheduler == "ddim"
    refined.scheduler = "dpm"  # set on the pipeline, which renders
    assert pipe.scheduler == "dpm" and "scheduler" not in vars(refined)
    assert refined.to("meta") is refined and pipe.device == "meta"
    assert "scheduler" in dir(refined) and "refine_prompts" in dir(refined)
    with pytest.raises(AttributeError, match="enable_vae_tiling"):
        refined.enable_vae_tiling
    assert repr(refined) == "RefinedPipeline(FakePipe, refiner=FakeRefiner())"


def test_a_path_becomes_a_refiner_without_loading(tiny_refiner_export_dir, tmp_path):
    refined = RefinedPipeline(FakePipe(), tiny_refiner_export_dir)
    assert isinstance(refined.refiner, Refiner) and not refined.refiner.loaded
    assert str(tiny_refiner_export_dir) in repr(refined)
    with pytest.raises(FileNotFoundError, match="refiner folder not found"):
        RefinedPipeline(FakePipe(), tmp_path / "nope")


def test_importing_it_loads_no_torch_nor_diffusers():
    proc = subprocess.run([sys.executable, "-c",
                           "import sys; from prompt_a_video import RefinedPipeline\n"
                           "print('HEAVY', [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules])"],
                          capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


# --------------------------------------------------------------- real tiny pipelines
@pytest.fixture(scope="module")
def refiner(tiny_refiner_export_dir):
    return Refiner(tiny_refiner_export_dir)


def _load(folder):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def cog(tiny_cogvideox_dir):
    return _load(tiny_cogvideox_dir)


@pytest.fixture(scope="module")
def sd(tiny_t2i_dir):
    return _load(tiny_t2i_dir)


def _spy_encode_prompt(monkeypatch, pipe) -> list[dict]:
    """Record the arguments (by name) of each ``pipe.encode_prompt`` call; still encode."""
    original = pipe.encode_prompt
    signature = inspect.signature(original)
    seen: list[dict] = []

    def spy(*args, **kwargs):
        seen.append(dict(signature.bind(*args, **kwargs).arguments))
        return original(*args, **kwargs)

    monkeypatch.setattr(pipe, "encode_prompt", spy)
    return seen


def _seed(seed: int):
    import torch

    return torch.Generator("cpu").manual_seed(seed)


def test_cogvideox_renders_the_refined_prompt(cog, refiner, monkeypatch):
    import torch
    from diffusers.pipelines.cogvideo.pipeline_output import CogVideoXPipelineOutput

    expected = refiner.refine(A, **GREEDY)[0]
    assert expected != A
    seen = _spy_encode_prompt(monkeypatch, cog)
    refined = RefinedPipeline(cog, refiner, refine_kwargs=GREEDY)
    out = refined(prompt=A, negative_prompt="low quality", generator=_seed(0), **COG)
    assert len(seen) == 1 and seen[0]["prompt"] == expected and seen[0]["negative_prompt"] == "low quality"
    assert isinstance(out, CogVideoXPipelineOutput) and list(out.keys()) == ["frames"]
    assert tuple(out.frames.shape) == (1, 9, 3, 16, 16)
    assert out.prompts == [expected] and out.original_prompts == [A]
    # Exactly "refine, then call": the same pixels as the pipeline called with the rewrite.
    plain = cog(prompt=expected, negative_prompt="low quality", generator=_seed(0), **COG).frames
    assert torch.equal(out.frames, plain)
    # refine=False: the user's prompt reaches the text encoder as given, and renders differently.
    user = refined(prompt=A, negative_prompt="low quality", generator=_seed(0), refine=False, **COG)
    assert seen[-1]["prompt"] == A and user.prompts == [A]
    assert not torch.equal(user.frames, out.frames), "the prompt must matter"


def test_cogvideox_seeded_sampling_is_deterministic(cog, refiner):
    import torch

    refined = RefinedPipeline(cog, refiner, refine_kwargs={"max_new_tokens": 8, "guard": False})
    first = refined(prompt=A, generator=_seed(1), refine_kwargs={"seed": 3}, **COG)
    again = refined(prompt=A, generator=_seed(1), refine_kwargs={"seed": 3}, **COG)
    assert first.prompts == again.prompts and torch.equal(first.frames, again.frames)
    assert first.prompts != [A]
    other = refined.refine_prompts(A, seed=4)
    assert [other] != first.prompts, "the refiner's seed must matter"


def test_stable_diffusion_batch_gets_one_rewrite_per_prompt(sd, refiner, monkeypatch):
    from diffusers.pipelines.stable_diffusion import StableDiffusionPipelineOutput

    expected = [r[0] for r in refiner.refine([A, B], **GREEDY)]
    seen = _spy_encode_prompt(monkeypatch, sd)
    refined = RefinedPipeline(sd, refiner, refine_kwargs=GREEDY)
    out = refined(prompt=[A, B], negative_prompt=["dark", "noisy"], num_images_per_prompt=2,
                  generator=_seed(0), **SD)
    assert seen[0]["prompt"] == expected and seen[0]["negative_prompt"] == ["dark", "noisy"]
    assert seen[0]["num_images_per_prompt"] == 2
    assert isinstance(out, StableDiffusionPipelineOutput) and tuple(out.images.shape) == (4, 3, 16, 16)
    assert out.prompts == expected and out.original_prompts == [A, B]
    images, nsfw = refined(prompt=[A, B], generator=_seed(0), return_dict=False, **SD)  # the pipeline's tuple
    assert tuple(images.shape) == (2, 3, 16, 16) and nsfw is None and refined.last_prompts == expected


def test_real_pipeline_attributes_fall_through(sd, refiner):
    from diffusers import DDIMScheduler

    refined = RefinedPipeline(sd, refiner)
    assert refined.scheduler is sd.scheduler and refined.unet is sd.unet
    assert refined.enable_model_cpu_offload.__self__ is sd
    assert refined.to("cpu") is refined and refined.device.type == "cpu"
    old = sd.scheduler
    try:
        refined.scheduler = DDIMScheduler.from_config(old.config)
        assert sd.scheduler is refined.scheduler and sd.scheduler is not old
    finally:
        sd.scheduler = old
    assert repr(refined).startswith("RefinedPipeline(StableDiffusionPipeline, refiner=Refiner(")
