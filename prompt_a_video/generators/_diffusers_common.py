"""What the diffusers video and image generators share: loading, seeding, calling, converting.

:class:`DiffusersGeneratorBase` holds the configuration and the lazily loaded pipeline;
:class:`~prompt_a_video.generators.diffusers_video.DiffusersVideoGenerator` and
:class:`~prompt_a_video.generators.diffusers_image.DiffusersImageGenerator` only add their
typed ``__init__`` (the YAML config) and say which output field holds the pixels.

Seeding: every prompt gets its own CPU ``torch.Generator`` seeded with ``seed`` itself, so
the initial noise of a prompt depends on the seed only. That makes each render
batch-independent (the :class:`Generator` contract) and gives paired comparisons common
random numbers: the original prompt and its refinement, rendered with the same seed,
start from the same noise, and the same frames come out as from a plain
``pipe(prompt, generator=torch.Generator().manual_seed(seed))`` call. CPU generators draw
the same noise whatever device the pipeline runs on.

diffusers is imported inside the functions that need it, so importing this module (and
parsing an experiment YAML) stays cheap.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prompt_a_video.generators.base import Generator
from prompt_a_video.video import Video

DTYPES = ("float32", "bfloat16", "float16")
# Call arguments the generator owns; extra_call_kwargs may not override them.
_MANAGED_KWARGS = frozenset({"prompt", "generator", "output_type", "return_dict", "num_videos_per_prompt",
                             "num_images_per_prompt"})
# "owner/name" as the hub spells repo ids (a relative local path may look the same).
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def diffusers_version() -> str:
    try:
        return version("diffusers")
    except PackageNotFoundError:  # pragma: no cover - diffusers is a dependency
        return "missing"


def resolve_device(device: str) -> str:
    """``"auto"`` -> this process's GPU (``"cuda:<current device>"``) when there is one, else
    ``"cpu"``; anything else unchanged. The index is explicit because diffusers' model CPU
    offload reads a bare ``"cuda"`` as GPU 0: under DDP every rank would render on rank 0's
    GPU (Lightning sets each rank's current device)."""
    if device == "auto":
        return f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    return device


def pipeline_source(model: str) -> str:
    """The folder or hub id to load ``model`` from, or a clear error when neither exists.

    Asset names go through :func:`prompt_a_video.assets.resolve_model` (a missing asset
    names its install command). A path that does not exist and is not shaped like a hub
    id fails here, before diffusers gets a chance to try the hub.
    """
    from prompt_a_video.assets import resolve_model

    source = resolve_model(model)
    path = Path(source).expanduser()
    if path.exists():
        if not (path / "model_index.json").is_file():
            raise FileNotFoundError(
                f"model {model!r}: {path} is not a diffusers pipeline folder (no model_index.json); "
                "save one with pipe.save_pretrained(folder)"
            )
        return str(path)
    if _HUB_ID.fullmatch(source):
        return source
    raise FileNotFoundError(f"model {model!r}: no such folder {path.absolute()} (and not a hub id 'owner/name')")


def load_pipeline(model: str, revision: str | None, dtype: str, load_kwargs: dict[str, Any]):
    """``DiffusionPipeline.from_pretrained`` with our errors; weights in ``dtype``."""
    import diffusers
    from diffusers import DiffusionPipeline

    source = pipeline_source(model)
    # diffusers renamed from_pretrained's torch_dtype to dtype (and deprecated the old
    # name); older releases silently ignore an unknown `dtype`, so pick the one it knows.
    dtype_key = "dtype" if hasattr(diffusers.utils.deprecation_utils, "_resolve_dtype") else "torch_dtype"
    kwargs = {dtype_key: getattr(torch, dtype), **load_kwargs}
    if revision is not None:
        kwargs["revision"] = revision
    try:
        return DiffusionPipeline.from_pretrained(source, **kwargs)
    except OSError as err:
        if Path(source).exists():
            raise
        raise OSError(
            f"model {model!r}: no local folder {Path(source).absolute()}, and the hub repo could not be "
            f"loaded (offline machines need a local folder; HF_HUB_OFFLINE is honoured): {err}"
        ) from err


def call_parameters(pipe) -> tuple[dict[str, inspect.Parameter], bool]:
    """The pipeline's ``__call__`` parameters, and whether it takes ``**kwargs``."""
    params = dict(inspect.signature(pipe.__call__).parameters)
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return params, open_ended


def to_uint8(x) -> torch.Tensor:
    """One rendered item -> ``uint8 [T, H, W, 3]`` (a single image becomes ``T == 1``).

    Accepts what pipelines return per item: a PIL image or list of them, or a tensor /
    array of one frame (3-D) or of frames (4-D), channels first or last, float in [0, 1]
    or uint8. A channel axis of 1 is repeated to RGB, 4 (RGBA) loses its alpha. When both
    ends could be channels (a 3-pixel side), tensors are read channels-first (diffusers'
    ``"pt"`` layout) and arrays channels-last (its ``"np"`` layout).
    """
    if isinstance(x, (list, tuple)):
        return torch.cat([to_uint8(f) for f in x]) if x else _bad(x)
    if not isinstance(x, (torch.Tensor, np.ndarray)):  # PIL.Image
        x = np.asarray(x.convert("RGB"))
    channels_first_default = isinstance(x, torch.Tensor)
    t = torch.from_numpy(np.array(x)) if isinstance(x, np.ndarray) else x.detach()  # a copy: may be read-only
    if t.ndim == 2:  # grayscale image
        t = t[..., None]
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4:
        return _bad(x)
    first, last = t.shape[1] in (1, 3, 4), t.shape[-1] in (1, 3, 4)
    if first and (not last or channels_first_default):
        t = t.permute(0, 2, 3, 1)
    elif not last:
        return _bad(x)
    t = t[..., :3] if t.shape[-1] != 1 else t.expand(*t.shape[:-1], 3)
    if t.is_floating_point():
        t = t.float().clamp(0.0, 1.0).mul(255.0).round()
    else:
        t = t.clamp(0, 255)
    return t.to(dtype=torch.uint8, device="cpu").contiguous()


def _bad(x):
    shape = list(getattr(x, "shape", [])) or f"{type(x).__name__} of length {len(x)}"
    raise ValueError(f"cannot read pipeline output of shape {shape} as frames [T, H, W, 3] or an image")


def split_items(output, n: int, item_ndim: int) -> list:
    """Split a batched pipeline output into ``n`` per-prompt items.

    ``item_ndim`` is the rank of one item as an array: 4 for a video ``[T, ...]``, 3 for
    an image. Lists (of PIL frames or arrays) are already per item.
    """
    if isinstance(output, (torch.Tensor, np.ndarray)) and output.ndim == item_ndim + 1:
        items = list(output)
    elif isinstance(output, (list, tuple)):
        items = list(output)
    else:
        raise ValueError(f"pipeline output of type {type(output).__name__} with shape "
                         f"{list(getattr(output, 'shape', []))} is not a batch of {n} items")
    if len(items) != n:
        raise ValueError(f"pipeline returned {len(items)} items for {n} prompts")
    return items


class DiffusersGeneratorBase(Generator):
    """A :class:`Generator` around any ``DiffusionPipeline``; see the subclasses for args.

    Subclasses set ``output_field`` (the attribute of the pipeline output holding pixels),
    ``item_ndim`` (4 for videos, 3 for images) and ``kind`` (fingerprint prefix), and may
    extend :meth:`sampling_settings`.
    """

    output_field: str = "frames"
    item_ndim: int = 4
    kind: str = "diffusers"

    def __init__(
        self, model: str, *, revision: str | None, dtype: str, device: str, height: int | None,
        width: int | None, num_inference_steps: int, guidance_scale: float | None, fps: float,
        prompt_token_limit: int | None, target: str | None, negative_prompt: str | None, batch_size: int,
        enable_model_cpu_offload: bool, enable_vae_tiling: bool, enable_vae_slicing: bool,
        progress_bar: bool, extra_call_kwargs: dict[str, Any] | None, load_kwargs: dict[str, Any] | None,
    ) -> None:
        name = type(self).__name__
        if dtype not in DTYPES:
            raise ValueError(f"{name}.dtype must be one of {DTYPES}, got {dtype!r}")
        for field, value in (("num_inference_steps", num_inference_steps), ("batch_size", batch_size),
                             ("height", height), ("width", width), ("prompt_token_limit", prompt_token_limit)):
            if value is not None and value < 1:
                raise ValueError(f"{name}.{field} must be >= 1, got {value}")
        if not fps > 0:
            raise ValueError(f"{name}.fps must be > 0, got {fps}")
        extra_call_kwargs = dict(extra_call_kwargs or {})
        clash = sorted(_MANAGED_KWARGS & set(extra_call_kwargs))
        if clash:
            raise ValueError(f"{name}.extra_call_kwargs may not set {clash}: the generator sets them itself")
        self.model, self.revision, self.dtype, self.device = str(model), revision, dtype, device
        self.height, self.width = height, width
        # Floats normalised, so that 6 and 6.0 in a YAML give one fingerprint.
        self.guidance_scale = None if guidance_scale is None else float(guidance_scale)
        self.num_inference_steps, self.fps = int(num_inference_steps), float(fps)
        if target is not None:
            from prompt_a_video.generators.targets import all_targets

            targets = all_targets()
            if target not in targets:
                raise ValueError(f"{name}.target must be one of {', '.join(targets)}, got {target!r}")
            if prompt_token_limit is None:  # the one table of token limits (generators/targets.py)
                prompt_token_limit = targets[target].token_limit
        self.target = target
        self.prompt_token_limit = prompt_token_limit
        self.negative_prompt, self.batch_size = negative_prompt, batch_size
        self.enable_model_cpu_offload = enable_model_cpu_offload
        self.enable_vae_tiling, self.enable_vae_slicing = enable_vae_tiling, enable_vae_slicing
        self.progress_bar = progress_bar
        self.extra_call_kwargs = extra_call_kwargs
        self.load_kwargs = dict(load_kwargs or {})
        self._pipe = None

    # ----------------------------------------------------------------- configuration
    def sampling_settings(self) -> dict[str, Any]:
        """Everything that changes the pixels, besides model/revision/dtype."""
        return {
            "height": self.height, "width": self.width, "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale, "negative_prompt": self.negative_prompt,
            "max_sequence_length": self.prompt_token_limit, "fps": self.fps,
            # Tiled decoding blends overlapping tiles: other pixels than a full decode.
            "vae_tiling": self.enable_vae_tiling, "extra_call_kwargs": self.extra_call_kwargs,
        }

    @property
    def fingerprint(self) -> str:
        """``<kind>:<model>@<revision>:<sha256[:16] of every pixel-changing setting>``.

        Covers model, revision, dtype, load kwargs, sampling settings and the diffusers
        version; not the device, batch size, offloading or slicing (same pixels, up to
        float rounding).
        """
        settings = {"model": self.model, "revision": self.revision, "dtype": self.dtype,
                    "load_kwargs": self.load_kwargs, "diffusers": diffusers_version(), **self.sampling_settings()}
        blob = json.dumps(settings, sort_keys=True, default=repr).encode()
        return f"{self.kind}:{self.model}@{self.revision or 'main'}:{hashlib.sha256(blob).hexdigest()[:16]}"

    # ---------------------------------------------------------------------- loading
    @property
    def is_loaded(self) -> bool:
        return self._pipe is not None

    def load(self):
        """Load the pipeline now (``generate`` does it on first use); returns it."""
        if self._pipe is None:
            pipe = load_pipeline(self.model, self.revision, self.dtype, self.load_kwargs)
            self._place(pipe)
            pipe.set_progress_bar_config(disable=not self.progress_bar)
            self._pipe = pipe
        return self._pipe

    def _place(self, pipe) -> None:
        device = resolve_device(self.device)
        if self.enable_model_cpu_offload:
            if device == "cpu":
                raise ValueError(f"{type(self).__name__}: enable_model_cpu_offload needs an accelerator, "
                                 f"but device {self.device!r} resolved to cpu")
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        vae = getattr(pipe, "vae", None)
        for wanted, method in ((self.enable_vae_tiling, "enable_tiling"), (self.enable_vae_slicing, "enable_slicing")):
            if wanted:
                if not hasattr(vae, method):
                    raise ValueError(f"{type(self).__name__}: {type(pipe).__name__} has no VAE supporting "
                                     f"{method}(); unset enable_vae_{method.split('_')[1]}")
                getattr(vae, method)()

    # ------------------------------------------------------------------- rendering
    def call_kwargs(self, pipe) -> dict[str, Any]:
        """The sampling arguments of one pipeline call (without prompt and generator)."""
        params, open_ended = call_parameters(pipe)
        accepts = lambda key: open_ended or key in params  # noqa: E731
        kwargs: dict[str, Any] = {"num_inference_steps": self.num_inference_steps}
        # Set by the user: a pipeline that cannot take them is a configuration error.
        for key, value in self._requested_kwargs().items():
            if value is None:
                continue
            if not accepts(key):
                raise ValueError(f"{type(self).__name__}: {type(pipe).__name__} does not accept {key!r}; "
                                 f"remove it from init_args")
            kwargs[key] = value
        # Passed where the pipeline has a use for them: the text encoder's window, and the
        # frame rate that some video models condition on (LTX-Video's frame_rate).
        if self.prompt_token_limit is not None and "max_sequence_length" in params:
            kwargs["max_sequence_length"] = self.prompt_token_limit
        if "frame_rate" in params:
            kwargs["frame_rate"] = self.fps
        kwargs.update(self.extra_call_kwargs)
        return kwargs

    def _requested_kwargs(self) -> dict[str, Any]:
        return {"height": self.height, "width": self.width, "guidance_scale": self.guidance_scale,
                "negative_prompt": self.negative_prompt}

    def generate(self, prompts: list[str], seed: int) -> list[Video]:
        """One :class:`Video` per prompt, in order; see the module doc for seeding."""
        if isinstance(prompts, str):
            raise TypeError(f"{type(self).__name__}.generate takes a list of prompts, got one string")
        prompts = list(prompts)
        bad = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
        if bad:
            raise TypeError(f"{type(self).__name__}.generate: prompts must be strings; item {bad[0]} is "
                            f"{type(prompts[bad[0]]).__name__}")
        if not prompts:
            return []
        pipe = self.load()
        kwargs = self.call_kwargs(pipe)
        videos: list[Video] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start:start + self.batch_size]
            generators = [torch.Generator("cpu").manual_seed(seed) for _ in chunk]
            result = pipe(prompt=chunk, generator=generators, output_type="pt", return_dict=True, **kwargs)
            output = getattr(result, self.output_field, None)
            if output is None:
                output = result[0]
            for prompt, item in zip(chunk, split_items(output, len(chunk), self.item_ndim)):
                frames = to_uint8(item)
                videos.append(Video(frames, fps=self.fps, meta=self._meta(prompt, seed, frames, kwargs, pipe)))
        return videos

    def _meta(self, prompt: str, seed: int, frames: torch.Tensor, kwargs: dict[str, Any], pipe) -> dict[str, Any]:
        params, _ = call_parameters(pipe)

        def used(key):  # what was passed, else the pipeline's own default
            value = kwargs.get(key, params[key].default if key in params else None)
            return None if value is inspect.Parameter.empty else value

        return {
            "generator": type(self).__name__, "model": self.model, "revision": self.revision,
            "pipeline": type(pipe).__name__, "prompt": prompt, "seed": int(seed),
            "steps": used("num_inference_steps"), "guidance": used("guidance_scale"),
            "size": [int(frames.shape[1]), int(frames.shape[2])], "num_frames": int(frames.shape[0]),
            "dtype": self.dtype,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, loaded={self.is_loaded})"
