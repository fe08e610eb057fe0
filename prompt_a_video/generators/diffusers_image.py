"""Text-to-image backbones from diffusers: the paper's T2I extension (a still is ``T == 1``).

:class:`DiffusersImageGenerator` wraps any pipeline whose output has ``.images``
(StableDiffusionPipeline, StableDiffusionXLPipeline, PixArt, SD3, FLUX...), with the same
loading, seeding and fingerprint rules as the video generator: lazy loading, one CPU
``torch.Generator`` per prompt seeded with ``seed``, so an image does not depend on the
rest of the batch.

Per-family settings (model cards' recommendations; ``None`` keeps a pipeline default):

=======  ============================================  =========  =====  ========  =======  ===========
family   model (hub id)                                H x W      steps  guidance  dtype    token limit
=======  ============================================  =========  =====  ========  =======  ===========
SD-1.5   stable-diffusion-v1-5/stable-diffusion-v1-5   512x512    50     7.5       float16  77
SDXL     stabilityai/stable-diffusion-xl-base-1.0      1024x1024  50     5.0       float16  77
=======  ============================================  =========  =====  ========  =======  ===========

CLIP text encoders read 77 tokens and these pipelines take no ``max_sequence_length``:
``prompt_token_limit: 77`` only informs `pav refine`'s length warning. SDXL's fp16 weights
are the ``variant: fp16`` files (``load_kwargs``). See ``docs/backbones.md``.
"""

from __future__ import annotations

from typing import Any, Literal

from prompt_a_video.generators._diffusers_common import DiffusersGeneratorBase


class DiffusersImageGenerator(DiffusersGeneratorBase):
    """A diffusers text-to-image pipeline as a :class:`Generator` of one-frame videos.

    Args:
        model: hub id, local pipeline folder, or offline asset name.
        revision: hub revision; None = the default branch.
        dtype: weights dtype: ``float32`` (CPU), ``bfloat16`` or ``float16`` (GPU).
        device: ``"auto"`` (cuda if available, else cpu), ``"cpu"``, ``"cuda"``...
        height: image height in pixels; None = the pipeline's default.
        width: image width in pixels; None = the pipeline's default.
        num_inference_steps: denoising steps.
        guidance_scale: classifier-free guidance scale; None = the pipeline's default.
        fps: the ``fps`` of the returned one-frame :class:`Video` (rewards ignore it).
        prompt_token_limit: tokens the text encoder reads (77 for CLIP); passed as
            ``max_sequence_length`` to pipelines that take it (SD3, FLUX, PixArt);
            None = the pipeline's default.
        target: the model family in :data:`~prompt_a_video.generators.targets.TARGETS`
            (``cogvideox``, ``wan``, ``ltx``, ``sd``...): gives ``prompt_token_limit`` when
            that is not set, and is recorded in an exported refiner's ``refiner.json`` so
            `pav refine` counts tokens for this family.
        negative_prompt: the negative prompt; None = none.
        batch_size: prompts per pipeline call; 1 = exactly batch-independent (see the
            video generator for why larger batches may differ by one level in rare pixels).
        enable_model_cpu_offload: keep sub-models on the CPU until used (needs a GPU).
        enable_vae_tiling: decode in overlapping tiles (less memory, slightly other pixels).
        enable_vae_slicing: decode the batch one image at a time.
        progress_bar: show the pipeline's progress bar.
        extra_call_kwargs: further pipeline call arguments.
        load_kwargs: further ``from_pretrained`` arguments, e.g. ``{variant: fp16}``.

    ``generate`` returns ``Video`` with frames ``uint8 [1, H, W, 3]`` and the same meta as
    the video generator.
    """

    output_field = "images"
    item_ndim = 3  # one image: [C, H, W] ("pt") or [H, W, C] ("np")
    kind = "diffusers-image"

    def __init__(
        self,
        model: str,
        revision: str | None = None,
        dtype: Literal["float32", "bfloat16", "float16"] = "float16",
        device: str = "auto",
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float | None = None,
        fps: float = 1.0,
        prompt_token_limit: int | None = None,
        target: str | None = None,
        negative_prompt: str | None = None,
        batch_size: int = 1,
        enable_model_cpu_offload: bool = False,
        enable_vae_tiling: bool = False,
        enable_vae_slicing: bool = False,
        progress_bar: bool = False,
        extra_call_kwargs: dict[str, Any] | None = None,
        load_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            model, revision=revision, dtype=dtype, device=device, height=height, width=width,
            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, fps=fps,
            prompt_token_limit=prompt_token_limit, target=target, negative_prompt=negative_prompt,
            batch_size=batch_size,
            enable_model_cpu_offload=enable_model_cpu_offload, enable_vae_tiling=enable_vae_tiling,
            enable_vae_slicing=enable_vae_slicing, progress_bar=progress_bar,
            extra_call_kwargs=extra_call_kwargs, load_kwargs=load_kwargs,
        )
