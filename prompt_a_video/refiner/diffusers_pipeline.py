"""`RefinedPipeline`: a trained refiner in front of any diffusers pipeline.

::

    import torch
    from diffusers import CogVideoXPipeline
    from prompt_a_video import Refiner, RefinedPipeline

    pipe = CogVideoXPipeline.from_pretrained("THUDM/CogVideoX-2b", torch_dtype=torch.float16)
    refined = RefinedPipeline(pipe, Refiner("runs/sft/export", device="cuda")).to("cuda")
    out = refined(prompt="a dog running on the beach", num_inference_steps=50,
                  generator=torch.Generator().manual_seed(0))
    out.frames[0]      # what CogVideoXPipeline returns, unchanged
    out.prompts        # ["A golden retriever sprints along ..."]: what the pipeline got
    out.original_prompts  # ["a dog running on the beach"]

Why a wrapper object that forwards to the pipeline (and not something else in diffusers):

- **Where others put prompt enhancers.** The video models' own repos rewrite the prompt
  with an LLM *before* the pipeline call, outside it: Wan's ``generate.py`` calls a
  ``prompt_expander(prompt, tar_lang=..., seed=...)`` and renders ``.prompt`` of its
  result (falling back to the original prompt when expansion fails); CogVideoX's
  ``inference/convert_demo.py`` rewrites with a chat model, and its demos hand that text
  to ``pipe(prompt=...)``. ``RefinedPipeline`` is that pattern with the pipeline's calling
  contract kept, so it drops into code that already calls ``pipe(...)``.
- **Not a ``DiffusionPipeline`` subclass / ``from_pipe``.** ``from_pipe`` builds another
  pipeline *class* on the same components (e.g. ``StableDiffusionSAGPipeline``), so a
  refining variant would need one class per pipeline family, each copying its
  ``__call__``; and a pipeline's components must be diffusers/transformers models that
  ``save_pretrained`` can write, which a :class:`~prompt_a_video.refiner.api.Refiner`
  (an export folder with its own prompt format and guard) is not.
- **Not a callback.** ``callback_on_step_end`` runs inside the denoising loop, after
  ``encode_prompt``: the text is already embedded, there is nothing left to rewrite.
- **Not (only) a Modular Diffusers block.** The diffusers team's prompt expanders
  (``diffusers-internal-dev/qwen-prompt-expander``, ``gemini-prompt-expander``) are
  ``ModularPipelineBlocks`` inserted before text encoding. That is the right shape for
  modular pipelines, but in diffusers 0.42 there are modular versions of only some
  families (Wan, LTX, SDXL, Flux, ...), not of ``CogVideoXPipeline`` or
  ``StableDiffusionPipeline``, and most users hold a classic pipeline.

What the wrapper does, exactly:

- ``prompt`` (a str or a list of str, passed by keyword or as the first positional
  argument) is replaced by its refinement: a str by one rewrite (a str), a list by one
  rewrite per prompt (a list, in order). Nothing else is touched: ``negative_prompt``
  (not refined: it says what to avoid, the refiner was trained on what to show),
  ``prompt_2``/``prompt_3`` of two-encoder pipelines, ``generator``, callbacks and every
  other argument reach the pipeline as the same objects.
- ``refine=False`` per call passes ``prompt`` through as given (not even stripped).
- ``refine_kwargs`` go to :meth:`Refiner.refine` (``temperature``, ``seed``, ``guard``,
  ``max_new_tokens``...), over the ones given to the constructor. There is no ``n``: the
  pipeline renders one prompt per input prompt; for several videos of one prompt use the
  pipeline's ``num_videos_per_prompt`` (``num_images_per_prompt``), for several rewrites
  call ``refiner.refine(prompt, n=...)`` and render each. The refiner's own defaults
  apply otherwise: guarded (a rewrite that fails the text checks comes back as the
  original prompt, with a logged warning), sampled at temperature 0.7 with ``seed=0``, so
  the same call gives the same refined prompt, and with the pipeline's ``generator`` the
  same pixels.
- ``prompt_embeds`` given by the caller: there is no text to rewrite, so nothing is
  refined and every argument passes through untouched; a ``UserWarning`` says so (the
  call is still valid diffusers code, e.g. embeddings reused across calls, so it is not
  an error), unless ``refine=False`` was passed. ``refine=True`` passed explicitly with
  ``prompt_embeds`` is a ``ValueError``: the caller asked for something impossible.
- The output is the pipeline's own output object (``CogVideoXPipelineOutput``,
  ``StableDiffusionPipelineOutput``...), ``.frames``/``.images`` untouched, with two
  attributes added: ``prompts`` (list[str], what the pipeline was given, one per input
  prompt) and ``original_prompts`` (list[str], what the caller gave). They are plain
  attributes, not output fields: ``out[0]``, ``out.keys()`` and ``out.to_tuple()`` are
  as diffusers makes them. With ``num_videos_per_prompt=k`` the batch of frames has
  ``k`` entries per prompt: ``frames[i*k:(i+1)*k]`` were rendered from ``prompts[i]``.
  With ``return_dict=False`` the pipeline's tuple comes back as it is (its positions are
  the pipeline's contract: ``images, nsfw = ...``); the prompts used are then on
  :attr:`RefinedPipeline.last_prompts` (also set for ``return_dict=True``; one per
  wrapper, so not meaningful across threads sharing it).
- Attributes the wrapper does not have are the pipeline's: ``refined.scheduler``,
  ``refined.enable_model_cpu_offload()``, ``refined.vae.enable_tiling()``; setting one
  (``refined.scheduler = DPMSolverMultistepScheduler.from_config(...)``) sets it on the
  pipeline, which is the object that renders. ``refined.to(...)`` moves the pipeline
  and returns the wrapper (``pipe.to`` returns the pipeline, which would silently drop
  the refiner from ``refined = refined.to("cuda")``). The refiner runs where its own
  ``device`` says (``Refiner(path, device="cuda")``): ``to`` does not move it.

Importing this module is cheap (no torch, no diffusers): it never imports diffusers at
all, it calls the pipeline it is given.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

__all__ = ["RefinedPipeline"]

# The wrapper's own attributes; any other attribute is read from and written to the pipeline.
_OWN = frozenset({"pipe", "refiner", "refine_kwargs", "last_prompts"})


class RefinedPipeline:
    """A diffusers pipeline whose ``prompt`` is rewritten by a refiner before each call.

    Args:
        pipe: the pipeline to call: any ``DiffusionPipeline`` (or callable) that takes
            ``prompt`` as its first parameter, a str or a list of str.
        refiner: a :class:`~prompt_a_video.refiner.api.Refiner`; a path or name that
            ``Refiner(...)`` takes (export folder, model folder, offline asset name, hub
            id), made into one right away: cheap (the folder is checked, so a typo fails
            here and not after the pipeline has loaded; no weights are read), the weights
            load on the first refined call; or any object with a
            ``refine(prompts: list[str], n=1, **refine_kwargs) -> list[list[str]]``
            method (one list of rewrites per prompt, as ``Refiner.refine`` returns).
        refine_kwargs: default keyword arguments of every ``refiner.refine`` call
            (``temperature``, ``seed``, ``guard``, ``max_new_tokens``...); a call's own
            ``refine_kwargs`` override them key by key. No ``n``.

    Raises:
        TypeError: ``refiner`` is neither a path nor an object with a ``refine`` method.
        FileNotFoundError: ``refiner`` is a path or name that does not exist (as ``Refiner``).
        ValueError: ``refine_kwargs`` has ``n``.
    """

    pipe: Any
    refiner: Any
    refine_kwargs: dict[str, Any]
    last_prompts: list[str] | None

    def __init__(self, pipe: Any, refiner: Any, *, refine_kwargs: dict[str, Any] | None = None) -> None:
        if not callable(pipe):
            raise TypeError(f"RefinedPipeline: pipe must be a diffusers pipeline (callable), got {type(pipe).__name__}")
        if isinstance(refiner, (str, os.PathLike)):
            from prompt_a_video.refiner.api import Refiner

            refiner = Refiner(refiner)
        elif not callable(getattr(refiner, "refine", None)):
            raise TypeError("RefinedPipeline: refiner must be a Refiner, a refiner folder or name, or an object "
                            f"with a refine(prompts, n=1, **kwargs) method; got {type(refiner).__name__}")
        self.pipe = pipe
        self.refiner = refiner
        self.refine_kwargs = _check_refine_kwargs(refine_kwargs)
        self.last_prompts = None

    # ------------------------------------------------------------------ calling
    def __call__(self, *args: Any, refine: bool | None = None, refine_kwargs: dict[str, Any] | None = None,
                 **kwargs: Any) -> Any:
        """Refine ``prompt``, then call the pipeline with it and everything else as given.

        Args:
            args, kwargs: the pipeline's own arguments, as ``pipe(*args, **kwargs)`` takes
                them; ``prompt`` is ``args[0]`` or ``kwargs["prompt"]``.
            refine: False passes ``prompt`` through as given; True insists on refining
                (an error with ``prompt_embeds``); None (default) refines unless the
                caller gave ``prompt_embeds`` (then a warning).
            refine_kwargs: this call's arguments of ``refiner.refine``, over the
                constructor's.

        Returns:
            the pipeline's output, with ``.prompts`` and ``.original_prompts`` (list[str],
            one per input prompt) added when it is an output object (``return_dict=True``,
            the default); a ``return_dict=False`` tuple as the pipeline returns it. Either
            way :attr:`last_prompts` is what the pipeline got, as a list (None when no
            ``prompt`` was given).

        Raises:
            ValueError: ``refine=True`` with ``prompt_embeds``; ``n`` in ``refine_kwargs``.
            TypeError: ``prompt`` is neither a str nor a list of str (when refining), or the
                refiner answered something other than one list of rewrites per prompt.
        """
        options = {**self.refine_kwargs, **_check_refine_kwargs(refine_kwargs)}
        positional = len(args) > 0
        prompt = args[0] if positional else kwargs.get("prompt")
        if kwargs.get("prompt_embeds") is not None and refine is not False:
            if refine:
                raise ValueError("RefinedPipeline: refine=True with prompt_embeds: the refiner rewrites text and "
                                 "these embeddings are already encoded; pass prompt instead (or refine=False)")
            warnings.warn("RefinedPipeline: prompt_embeds given, so nothing is refined: the call goes to the "
                          "pipeline unchanged (pass refine=False to say so and silence this)", UserWarning,
                          stacklevel=2)
            refine = False
        if prompt is None:  # nothing to refine: the pipeline says what it is missing
            refine = False
        if refine is False:
            used = prompt
        else:
            used = self.refine_prompts(prompt, **options)
            if positional:
                args = (used, *args[1:])
            else:
                kwargs["prompt"] = used
        self.last_prompts = _as_list(used)
        out = self.pipe(*args, **kwargs)
        if self.last_prompts is not None and not isinstance(out, tuple):
            try:
                out.prompts = list(self.last_prompts)
                out.original_prompts = _as_list(prompt)
            except AttributeError:  # an output that takes no attributes (custom pipelines): left as it is
                pass
        return out

    def refine_prompts(self, prompt: str | list[str], **refine_kwargs: Any) -> str | list[str]:
        """What the pipeline would be given for ``prompt``: one rewrite per prompt, in its
        shape (a str for a str, a list for a list; ``[]`` for ``[]``).

        ``refine_kwargs`` are this call's, over the constructor's ``refine_kwargs``."""
        options = {**self.refine_kwargs, **_check_refine_kwargs(refine_kwargs)}
        single = isinstance(prompt, str)
        if not single and not (isinstance(prompt, list) and all(isinstance(p, str) for p in prompt)):
            raise TypeError(f"RefinedPipeline: prompt must be a str or a list of str to be refined, got {prompt!r:.80}")
        batch = [prompt] if single else prompt
        if not batch:
            return []
        answers = self.refiner.refine(list(batch), n=1, **options)
        if not (isinstance(answers, list) and len(answers) == len(batch)
                and all(isinstance(a, list) and len(a) == 1 and isinstance(a[0], str) for a in answers)):
            raise TypeError(f"RefinedPipeline: {type(self.refiner).__name__}.refine must return one list with one "
                            f"rewrite (a str) per prompt for {len(batch)} prompt(s) and n=1; got {answers!r:.200}")
        rewrites = [a[0] for a in answers]
        return rewrites[0] if single else rewrites

    # ------------------------------------------------------------- the pipeline
    def to(self, *args: Any, **kwargs: Any) -> RefinedPipeline:
        """``pipe.to(...)`` (device and/or dtype, as diffusers takes them); returns the wrapper.
        The refiner stays where it is (its own ``device``)."""
        self.pipe.to(*args, **kwargs)
        return self

    def __getattr__(self, name: str) -> Any:
        # Called only for attributes the wrapper lacks. Dunders are not forwarded (copy,
        # pickle and friends must see the wrapper), nor is anything before __init__ set pipe.
        if name.startswith("__") or "pipe" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self.__dict__["pipe"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN or name.startswith("__"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.pipe, name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(dir(self.pipe)))

    def __repr__(self) -> str:
        return f"RefinedPipeline({type(self.pipe).__name__}, refiner={self.refiner!r})"


def _check_refine_kwargs(refine_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    if refine_kwargs is None:
        return {}
    if not isinstance(refine_kwargs, dict):
        raise TypeError(f"RefinedPipeline: refine_kwargs must be a dict, got {type(refine_kwargs).__name__}")
    if "n" in refine_kwargs:
        raise ValueError("RefinedPipeline: refine_kwargs may not set n: the pipeline renders one refined prompt per "
                         "input prompt (for more videos use num_videos_per_prompt; for several rewrites call "
                         "refiner.refine(prompt, n=...) and render each)")
    return dict(refine_kwargs)


def _as_list(prompt: Any) -> list[str] | None:
    """A prompt argument as a list of prompts; None for anything else (no prompt, or a value
    the pipeline will reject itself)."""
    if isinstance(prompt, str):
        return [prompt]
    return list(prompt) if isinstance(prompt, (list, tuple)) else None
