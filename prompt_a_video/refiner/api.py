"""`Refiner`: a trained prompt refiner, for users (``from prompt_a_video import Refiner``).

::

    from prompt_a_video import Refiner

    refiner = Refiner("runs/sft/export")            # nothing is loaded yet
    refiner.refine("a dog running on the beach")    # -> ["A golden retriever sprints ..."]
    refiner.refine(["a dog", "a red car"], n=3)     # -> [[3 rewrites], [3 rewrites]]

A refiner is any of:

- an export folder of `pav export` (``refiner.json`` + ``merged/`` and/or ``adapter/``),
  or one of its subfolders: prompted exactly as in training (system prompt and user
  template from ``refiner.json``);
- any Hugging Face causal-LM folder with a chat template, an offline asset name
  (``smollm2-135m-instruct``), or a hub id (``org/name``, where a hub is reachable): the
  base model, prompted with the default system prompt.

Where the refiner is is checked when the ``Refiner`` is made (cheap: no weights, no
torch); the weights load on the first :meth:`Refiner.refine` (or :meth:`Refiner.load`).
`pav refine` (:mod:`prompt_a_video.commands.refine`) and the default sampler of `pav pairs`
(``RefinerRewrite``) go through this class.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

__all__ = ["Refiner"]

# "org/name": a hub id. A local path that does not exist is never sent to the hub unless
# it has exactly this shape (and then only if it is given as a str, not a Path).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_USES = ("auto", "merged", "adapter")


class Refiner:
    """A prompt refiner LLM: short user prompts in, video-model prompts out.

    Args:
        model: an export folder of `pav export` (or its ``merged/``/``adapter/``
            subfolder), an HF causal-LM folder with a chat template, an offline asset
            name, or a hub id.
        use: which part of an export folder runs: ``auto`` (``merged/`` if present,
            else the base model + ``adapter/``), ``merged`` or ``adapter``.
        dtype: ``float32`` / ``bfloat16`` / ``float16``; default: the dtype it was
            trained in (``float32`` for a bare folder or hub id).
        device: where the model runs (``cpu``, ``cuda``, ``cuda:1``...); default: CPU.
        batch_size: prompts per ``generate`` call (each gives ``n`` sequences per
            prompt): speed and memory. Sampled rewrites depend on it too (a batch
            shares one random stream).
        prompt_format: how to prompt a folder or hub id without ``refiner.json``:
            ``default`` (our system prompt), or ``paper``: the paper's format (no system
            turn, its task text + prompt + "New prompt:"), to run the authors' released
            refiners as they were trained. An export's ``refiner.json`` decides otherwise.

    Raises:
        FileNotFoundError: ``model`` is neither an existing folder, nor an asset name,
            nor shaped like a hub id (``AssetNotInstalledError``, a subclass, for an
            asset that is not installed: its message names the install command).
    """

    def __init__(self, model: str | os.PathLike, *, use: str = "auto", dtype: str | None = None,
                 device: str | None = None, batch_size: int = 8, prompt_format: str | None = None) -> None:
        if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
            raise TypeError(f"Refiner: model must be a folder, an asset name or a hub id, got {model!r}")
        if use not in _USES:
            raise ValueError(f"Refiner: use must be one of {_USES}, got {use!r}")
        if batch_size < 1:
            raise ValueError(f"Refiner: batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.use = use
        self.dtype = dtype
        self.device = device
        self.batch_size = batch_size
        from prompt_a_video.modules.backbone import PROMPT_FORMATS

        if prompt_format is not None and prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"Refiner: prompt_format must be one of {list(PROMPT_FORMATS)}, got {prompt_format!r}")
        self.prompt_format = prompt_format
        self.path = _locate(model)
        if self.path is None and use == "adapter":
            raise ValueError(f"Refiner: use='adapter' needs an export folder with adapter/, not the hub id {model!r}")
        self._loaded: tuple[Any, Any, Any] | None = None

    @classmethod
    def from_pretrained(cls, model: str | os.PathLike, **kwargs: Any) -> Refiner:
        """The same as ``Refiner(model, **kwargs)``, named as in transformers."""
        return cls(model, **kwargs)

    def __repr__(self) -> str:
        where = str(self.model) if self.path is None or str(self.path) == str(self.model) \
            else f"{self.model} -> {self.path}"
        state = "loaded" if self._loaded is not None else "not loaded"
        return f"Refiner({where!r}, use={self.use!r}, device={self.device!r}, {state})"

    @property
    def settings(self) -> dict[str, Any] | None:
        """The export's ``refiner.json`` (system prompt, user template, base model, what
        was trained), or None for a bare model folder or a hub id. Reads no weights."""
        if self.path is None:
            return None
        from prompt_a_video.refiner.export import read_settings

        return read_settings(self.path)

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> tuple[Any, Any, Any]:
        """``(model, tokenizer, backbone)``, loaded on the first call and kept.

        ``backbone`` is the :class:`~prompt_a_video.modules.backbone.CausalLMBackbone`
        holding the system prompt and user template the refiner is prompted with.
        """
        if self._loaded is None:
            if self.path is not None:
                from prompt_a_video.refiner.export import load_refiner

                self._loaded = load_refiner(self.path, use=self.use, dtype=self.dtype, device=self.device,
                                            prompt_format=self.prompt_format)
            else:
                self._loaded = self._load_hub()
        return self._loaded

    def _load_hub(self) -> tuple[Any, Any, Any]:
        """A hub id: the base model with the default system prompt (GPU machines with a hub)."""
        from prompt_a_video.modules.backbone import CausalLMBackbone

        backbone = CausalLMBackbone(model=str(self.model), dtype=self.dtype or "float32", lora=None,
                                    prompt_format=self.prompt_format or "default")
        try:
            model, tokenizer = backbone.load_model().eval(), backbone.load_tokenizer()
        except OSError as exc:  # not on the hub, or no hub (HF_HUB_OFFLINE=1)
            raise FileNotFoundError(_missing_message(self.model) + f"; the hub said: {exc}") from exc
        if self.device:
            model.to(self.device)
        return model, tokenizer, backbone

    def refine(self, prompts: str | list[str], n: int = 1, *, guard: bool = True, temperature: float = 0.7,
               top_p: float = 0.95, max_new_tokens: int = 256, do_sample: bool | None = None,
               seed: int | None = 0, **options: Any) -> list[str] | list[list[str]]:
        """Rewrite prompts for the video model the refiner was trained for.

        With ``guard`` (the default) no rewrite that repeats itself, echoes instructions
        or loses the user's content is returned: the best samples that pass the checks
        are, and the ORIGINAL prompt where none does (logged as a warning;
        :meth:`refine_guarded` says which and why).

        Args:
            prompts: one prompt (a str) or a list of prompts. Surrounding whitespace is
                stripped; an empty prompt is an error.
            n: rewrites per prompt. ``n > 1`` needs sampling (``temperature > 0``).
            temperature: sampling temperature; ``0`` decodes greedily (the most likely
                rewrite, one per prompt).
            top_p: nucleus sampling mass, in (0, 1].
            max_new_tokens: cap on each rewrite's length, in refiner tokens (not the
                video model's: `pav refine --target` checks those).
            do_sample: force sampling (True) or greedy decoding (False); default:
                sample when ``n > 1`` or ``temperature > 0``.
            seed: seeds sampling, so the same call gives the same rewrites (the global
                torch RNG is left as it was); None samples from the global RNG.
                Greedy decoding does not depend on it.
            guard: check the rewrites and fall back to the original prompt (see above).
            options: ``guard_samples`` (samples drawn per prompt for the guard to choose
                from, default 4, at least ``n``; greedy decoding draws one),
                ``checks`` (a :class:`~prompt_a_video.rewards.text.checks.TextChecks`),
                ``repetition_penalty`` and ``no_repeat_ngram_size`` (answer-only; see
                :func:`~prompt_a_video.refiner.generation.refine_with`).

        Returns:
            for a str: a list of ``n`` rewrites; for a list: one list of ``n`` rewrites
            per prompt, in order (``[]`` for an empty list). Each rewrite is the model's
            answer stripped of a leading label (``Refined prompt:``) and wrapping quotes.
        """
        single = isinstance(prompts, str)
        if guard:
            import logging

            batch = _check_prompts([prompts] if single else prompts)
            guarded = self.refine_guarded(batch, n, temperature=temperature, top_p=top_p,
                                          max_new_tokens=max_new_tokens, do_sample=do_sample, seed=seed, **options)
            log = logging.getLogger("prompt_a_video.refiner")
            for original, answers in zip(batch, guarded):
                if any(a.fallback for a in answers):
                    log.warning("guard: %d of %d answers for %r are the original prompt: no other sample passed "
                                "the text checks (%s)", sum(a.fallback for a in answers), n, original[:60],
                                " | ".join(answers[-1].rejected) or "no sample")
            out = [[r.text for r in answers] for answers in guarded]
            return out[0] if single else out
        options.pop("guard_samples", None), options.pop("checks", None)  # guard settings, unused unguarded
        return self._sample(prompts, n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                            do_sample=do_sample, seed=seed, **options)

    def refine_guarded(self, prompts: list[str], n: int = 1, *, guard_samples: int = 4, checks=None,
                       temperature: float = 0.7, top_p: float = 0.95, **sampling: Any) -> list[list[Any]]:
        """Guarded rewrites with the guard's findings: per prompt, ``n``
        :class:`~prompt_a_video.refiner.guard.GuardedRewrite` (``.text``, ``.fallback``,
        ``.verdict``, ``.rejected``). Arguments as :meth:`refine`."""
        from prompt_a_video.refiner.generation import check_sampling
        from prompt_a_video.refiner.guard import guard_samples as choose
        from prompt_a_video.rewards.text.checks import TextChecks

        greedy = not check_sampling(n=n, temperature=temperature, top_p=top_p, **{
            k: sampling[k] for k in ("max_new_tokens", "do_sample") if k in sampling})
        if not isinstance(guard_samples, int) or guard_samples < 1:
            raise ValueError(f"Refiner.refine: guard_samples must be an int >= 1, got {guard_samples!r}")
        batch = _check_prompts(prompts)
        draws = 1 if greedy else max(n, guard_samples)
        samples = self._sample(batch, draws, temperature=temperature, top_p=top_p, **sampling)
        checks = checks or TextChecks()
        out = [choose(original, drawn, n, checks) for original, drawn in zip(batch, samples)]
        return out

    def _sample(self, prompts, n: int = 1, *, temperature: float = 0.7, top_p: float = 0.95,
                max_new_tokens: int = 256, do_sample: bool | None = None, seed: int | None = 0,
                **controls: Any) -> list[str] | list[list[str]]:
        """Unguarded samples: what the model writes."""
        from prompt_a_video.refiner.generation import check_sampling, refine_with

        single = isinstance(prompts, str)
        batch = _check_prompts([prompts] if single else prompts)
        # Checked before the (slow) first load.
        check_sampling(n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, do_sample=do_sample)
        if not batch:
            return []
        model, tokenizer, backbone = self.load()
        out = refine_with(model, tokenizer, backbone, batch, n, temperature=temperature, top_p=top_p,
                          max_new_tokens=max_new_tokens, do_sample=do_sample, batch_size=self.batch_size, seed=seed,
                          **controls)
        return out[0] if single else out


def _missing_message(model: str | os.PathLike) -> str:
    return (f"refiner folder not found: {model} (expected an export folder of `pav export` with refiner.json and "
            "merged/ or adapter/, one of those subfolders, an HF causal-LM folder with a chat template, an offline "
            "asset name such as 'smollm2-135m-instruct', or a hub id 'org/name')")


def _locate(model: str | os.PathLike) -> Path | None:
    """The refiner's folder, or None for a hub id. Cheap: no weights are read."""
    from prompt_a_video.assets import resolve_model

    path = Path(resolve_model(model)).expanduser()  # an asset name -> its folder (or AssetNotInstalledError)
    if path.is_dir():
        return path
    if path.exists():
        raise FileNotFoundError(f"refiner: {model} is a file; expected a folder ({_missing_message(model)})")
    if isinstance(model, str) and _HUB_ID.match(model):
        return None
    raise FileNotFoundError(_missing_message(model))


def _check_prompts(prompts: Any) -> list[str]:
    if not isinstance(prompts, (list, tuple)):
        raise TypeError(f"Refiner.refine: prompts must be a str or a list of str, got {type(prompts).__name__}")
    out = []
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise TypeError(f"Refiner.refine: prompt {i} is a {type(prompt).__name__}, expected a str")
        if not prompt.strip():
            raise ValueError(f"Refiner.refine: prompt {i} is empty")
        out.append(prompt.strip())
    return out
