"""Text-to-video backbones from diffusers: CogVideoX, Wan 2.1, LTX-Video, HunyuanVideo, AnimateDiff...

:class:`DiffusersVideoGenerator` wraps any pipeline whose output has ``.frames``, loaded
with ``DiffusionPipeline.from_pretrained`` from a hub id, a local folder or an offline
asset name. Loading waits for the first :meth:`generate` (or an explicit ``load()``), so
parsing an experiment YAML never touches weights. Each prompt is seeded on its own (see
``_diffusers_common``): a prompt's video does not depend on the rest of the batch.

Per-family settings (the model cards' recommendations; set them in the YAML's
``init_args``; ``None`` leaves a pipeline default in place):

===============  ======================================  ======  =======  =====  ========  ===  ========  ===========
family           model (hub id)                          frames  H x W    steps  guidance  fps  dtype     token limit
===============  ======================================  ======  =======  =====  ========  ===  ========  ===========
CogVideoX-2B     THUDM/CogVideoX-2b                      49      480x720  50     6.0       8    float16   226
CogVideoX-5B     THUDM/CogVideoX-5b                      49      480x720  50     6.0       8    bfloat16  226
Wan2.1-T2V-1.3B  Wan-AI/Wan2.1-T2V-1.3B-Diffusers        81      480x832  50     5.0       16   bfloat16  512
LTX-Video        Lightricks/LTX-Video                    161     480x704  50     3.0       24   bfloat16  128
HunyuanVideo     hunyuanvideo-community/HunyuanVideo     61      320x512  30     6.0       15   bfloat16  256
AnimateDiff      (saved SD-1.5 + motion adapter folder)  16      512x512  25     7.5       8    float16   77
===============  ======================================  ======  =======  =====  ========  ===  ========  ===========

Notes: CogVideoX's transformer has a positional table of exactly 226 text tokens, so its
token limit cannot be changed. CogVideoX-5B's card also sets ``use_dynamic_cfg: true``
(``extra_call_kwargs``). HunyuanVideo's ``guidance_scale`` is the distilled (embedded)
guidance; real CFG is ``true_cfg_scale`` in ``extra_call_kwargs``. AnimateDiff needs a
motion adapter next to an SD-1.5 base: assemble the pipeline once, ``save_pretrained`` it
and point ``model`` at that folder. On 24 GB GPUs set ``enable_model_cpu_offload`` and
``enable_vae_tiling`` for the 5B+ models (tiling changes pixels, so it is part of the
fingerprint). See ``docs/backbones.md`` for YAML examples.
"""

from __future__ import annotations

from typing import Any, Literal

from prompt_a_video.generators._diffusers_common import DiffusersGeneratorBase


class DiffusersVideoGenerator(DiffusersGeneratorBase):
    """A diffusers text-to-video pipeline as a :class:`Generator`.

    Args:
        model: hub id (``THUDM/CogVideoX-2b``), local pipeline folder, or offline asset name.
        revision: hub revision (branch, tag or commit); None = the default branch.
        dtype: weights dtype: ``float32`` (CPU), ``bfloat16`` or ``float16`` (GPU).
        device: ``"auto"`` (cuda if available, else cpu), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        num_frames: frames to render; None = the pipeline's default.
        height: frame height in pixels; None = the pipeline's default.
        width: frame width in pixels; None = the pipeline's default.
        num_inference_steps: denoising steps.
        guidance_scale: classifier-free guidance scale; None = the pipeline's default.
        fps: frame rate stored in each :class:`Video` (and passed as ``frame_rate`` to
            pipelines that condition on it, e.g. LTX-Video).
        prompt_token_limit: tokens the text encoder reads; passed as ``max_sequence_length``
            to pipelines that take it; None = the pipeline's default (then unknown here).
        target: the model family in :data:`~prompt_a_video.generators.targets.TARGETS`
            (``cogvideox``, ``wan``, ``ltx``, ``sd``...): gives ``prompt_token_limit`` when
            that is not set, and is recorded in an exported refiner's ``refiner.json`` so
            `pav refine` counts tokens for this family.
        negative_prompt: the negative prompt of classifier-free guidance; None = none.
        batch_size: prompts per pipeline call. 1 (the default) makes every video exactly
            independent of the batch; larger batches are faster on a GPU but batched
            matrix products round differently, so rare pixels may differ by one level.
        enable_model_cpu_offload: keep sub-models on the CPU until used (needs a GPU).
        enable_vae_tiling: decode in overlapping tiles (less memory, slightly other pixels).
        enable_vae_slicing: decode the batch one video at a time (less memory).
        progress_bar: show the pipeline's denoising progress bar.
        extra_call_kwargs: further pipeline call arguments, e.g. ``{use_dynamic_cfg: true}``.
        load_kwargs: further ``from_pretrained`` arguments, e.g. ``{variant: fp16}``.

    ``generate`` returns ``Video`` with frames ``uint8 [T, H, W, 3]`` and meta ``model``,
    ``seed``, ``steps``, ``guidance``, ``size`` ([H, W]), ``num_frames``, ``prompt``.
    """

    output_field = "frames"
    item_ndim = 4  # one video: [T, C, H, W] ("pt") or [T, H, W, C] ("np")
    kind = "diffusers-video"

    def __init__(
        self,
        model: str,
        revision: str | None = None,
        dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16",
        device: str = "auto",
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float | None = None,
        fps: float = 8.0,
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
        if num_frames is not None and num_frames < 1:
            raise ValueError(f"DiffusersVideoGenerator.num_frames must be >= 1, got {num_frames}")
        self.num_frames = num_frames
        super().__init__(
            model, revision=revision, dtype=dtype, device=device, height=height, width=width,
            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, fps=fps,
            prompt_token_limit=prompt_token_limit, target=target, negative_prompt=negative_prompt,
            batch_size=batch_size,
            enable_model_cpu_offload=enable_model_cpu_offload, enable_vae_tiling=enable_vae_tiling,
            enable_vae_slicing=enable_vae_slicing, progress_bar=progress_bar,
            extra_call_kwargs=extra_call_kwargs, load_kwargs=load_kwargs,
        )

    def sampling_settings(self) -> dict[str, Any]:
        return {**super().sampling_settings(), "num_frames": self.num_frames}

    def _requested_kwargs(self) -> dict[str, Any]:
        return {**super()._requested_kwargs(), "num_frames": self.num_frames}
