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

Its output fits the video model it writes for (its *target*: ``target=``, default the
one recorded in ``refiner.json``): each rewrite is cut to the target text encoder's token
budget at a sentence, clause or word boundary (:mod:`~prompt_a_video.refiner.budget`),
and is written in the target's language (``language=``, English by default; a prompt in
another language is refined into it: :mod:`~prompt_a_video.refiner.language`), which
the guard checks.

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
        target: the video model the rewrites are for: a family (``cogvideox``, ``wan``,
            ``ltx``, ``sd``...: :data:`~prompt_a_video.generators.targets.TARGETS`, or
            ``synthetic:<preset>``), or a tokenizer folder (an HF tokenizer, or a diffusers
            pipeline folder: its ``tokenizer/``), which counts tokens exactly and gives the
            limit its ``model_max_length`` records. Default: the target recorded in the
            export's ``refiner.json``, else none (no budget).
        token_limit: the budget in tokens instead of the target's limit.
        target_tokenizer: a tokenizer folder to count a family target's tokens exactly
            (otherwise estimated, 1.3 per word).
        budget: cut every rewrite to the target's token budget (see
            :mod:`~prompt_a_video.refiner.budget`); False returns rewrites as the model
            writes them (`pav refine` still warns past the limit).
        language: the language of the rewrites (ISO 639-1: ``en``, ``zh``, ``de``...:
            :data:`~prompt_a_video.rewards.language.LANGUAGES`); default: the target's
            (English for every family), else English. The refiner is told in its prompt
            only when the output language differs from the one it was trained in or the
            user's prompt is in another language (:mod:`~prompt_a_video.refiner.language`:
            a trained prompt is otherwise left as it was), and the guard rejects a rewrite
            in another language.

    Raises:
        FileNotFoundError: ``model`` is neither an existing folder, nor an asset name,
            nor shaped like a hub id (``AssetNotInstalledError``, a subclass, for an
            asset that is not installed: its message names the install command).
    """

    def __init__(self, model: str | os.PathLike, *, use: str = "auto", dtype: str | None = None,
                 device: str | None = None, batch_size: int = 8, prompt_format: str | None = None,
                 target: str | os.PathLike | None = None, token_limit: int | None = None,
                 target_tokenizer: str | os.PathLike | None = None, budget: bool = True,
                 language: str | None = None) -> None:
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
        from prompt_a_video.data.validation import is_count
        from prompt_a_video.refiner.budget import check_target
        from prompt_a_video.refiner.language import check_language

        check_target(target)  # cheap: a family name or an existing folder
        if token_limit is not None and not is_count(token_limit, 1):
            raise ValueError(f"token_limit must be an int >= 1, got {token_limit!r}")
        if not isinstance(budget, bool):
            raise TypeError(f"budget must be true or false, got {budget!r}")
        self.target = target
        self.token_limit = token_limit
        self.target_tokenizer = target_tokenizer
        self.cut_to_budget = budget
        self._language = check_language(language)
        self._budget: tuple[Any] | None = None  # (Budget | None,), resolved on first use
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

    @property
    def token_budget(self):
        """The target's :class:`~prompt_a_video.refiner.budget.Budget` (limit and token
        counter), or None without a target; the rewrites are cut to it unless
        ``budget=False``. Resolved on first use (a tokenizer folder loads its tokenizer)."""
        if self._budget is None:
            from prompt_a_video.refiner.budget import resolve_budget

            self._budget = (resolve_budget(self.target, self.token_limit, self.target_tokenizer, self.settings),)
        return self._budget[0]

    @property
    def language(self) -> str:
        """The language the rewrites are written in and checked for (see ``language``)."""
        if self._language is None:
            from prompt_a_video.refiner.budget import target_language
            from prompt_a_video.refiner.language import TRAINING_LANGUAGE

            self._language = target_language(self.target, self.settings) or TRAINING_LANGUAGE
        return self._language

    def _fit(self):
        """``text -> text`` within the budget, or None when nothing is cut."""
        budget = self.token_budget if self.cut_to_budget else None
        return None if budget is None else (lambda text: budget.fit(text).text)

    def default_checks(self):
        """The guard's checks unless ``checks=`` is given: ``TEXT_FLOORS``, no fluency LM,
        and the rewrite must be in :attr:`language` (the language instruction counts as an
        instruction that must not leak)."""
        from prompt_a_video.refiner.language import language_instruction
        from prompt_a_video.rewards.text.checks import TextChecks
        from prompt_a_video.rewards.text.leakage import default_instructions

        return TextChecks(language=self.language,
                          instructions=default_instructions() + [language_instruction(self.language)])

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

        With ``guard`` (the default) no rewrite that repeats itself, echoes instructions,
        loses the user's content or is not in :attr:`language` is returned: the best
        samples that pass the checks are, and the ORIGINAL prompt where none does (logged
        as a warning; :meth:`refine_guarded` says which and why). With a target, every
        answer is within its token budget (:attr:`token_budget`; the guard judges the
        rewrites as cut), unless the Refiner was made with ``budget=False``.

        Args:
            prompts: one prompt (a str) or a list of prompts. Surrounding whitespace is
                stripped; an empty prompt is an error.
            n: rewrites per prompt. ``n > 1`` needs sampling (``temperature > 0``).
            temperature: sampling temperature; ``0`` decodes greedily (the most likely
                rewrite, one per prompt).
            top_p: nucleus sampling mass, in (0, 1].
            max_new_tokens: cap on each rewrite's length, in refiner tokens (not the
                video model's: the budget, :attr:`token_budget`, is in those).
            do_sample: force sampling (True) or greedy decoding (False); default:
                sample when ``n > 1`` or ``temperature > 0``.
            seed: seeds sampling, so the same call gives the same rewrites (the global
                torch RNG is left as it was); None samples from the global RNG.
                Greedy decoding does not depend on it.
            guard: check the rewrites and fall back to the original prompt (see above).
            options: ``guard_samples`` (samples drawn per prompt for the guard to choose
                from, default 4, at least ``n``; greedy decoding draws one),
                ``checks`` (a :class:`~prompt_a_video.rewards.text.checks.TextChecks`;
                default :meth:`default_checks`),
                ``repetition_penalty`` and ``no_repeat_ngram_size`` (answer-only; see
                :func:`~prompt_a_video.refiner.generation.refine_with`).

        Returns:
            for a str: a list of ``n`` rewrites; for a list: one list of ``n`` rewrites
            per prompt, in order (``[]`` for an empty list). Each rewrite is the model's
            answer stripped of a leading label (``Refined prompt:``) and wrapping quotes,
            cut to the budget.
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
        answers = self.refine_detailed([prompts] if single else prompts, n, guard=False, temperature=temperature,
                                       top_p=top_p, max_new_tokens=max_new_tokens, do_sample=do_sample, seed=seed,
                                       **options)
        out = [[a.text for a in per_prompt] for per_prompt in answers]
        return out[0] if single else out

    def refine_detailed(self, prompts: list[str], n: int = 1, *, guard: bool = True,
                        **options: Any) -> list[list[Any]]:
        """Per prompt, ``n`` :class:`~prompt_a_video.refiner.guard.GuardedRewrite`: with
        ``guard``, :meth:`refine_guarded`'s; without, the model's samples as
        :meth:`refine` returns them (cut to the budget, ``.uncut`` holding the text before
        the cut), with no verdict. Arguments as :meth:`refine`."""
        if guard:
            return self.refine_guarded(prompts, n, **options)
        from prompt_a_video.refiner.guard import GuardedRewrite

        options.pop("guard_samples", None), options.pop("checks", None)  # guard settings, unused unguarded
        samples = self._sample(_check_prompts(prompts), n, **options)
        fit = self._fit()
        out = []
        for per_prompt in samples:
            cut = [fit(s) if fit is not None else s for s in per_prompt]
            out.append([GuardedRewrite(c, False, None, (), s if c != s else None) for c, s in zip(cut, per_prompt)])
        return out

    def refine_guarded(self, prompts: list[str], n: int = 1, *, guard_samples: int = 4, checks=None,
                       temperature: float = 0.7, top_p: float = 0.95, **sampling: Any) -> list[list[Any]]:
        """Guarded rewrites with the guard's findings: per prompt, ``n``
        :class:`~prompt_a_video.refiner.guard.GuardedRewrite` (``.text``, ``.fallback``,
        ``.verdict``, ``.rejected``, ``.uncut``: the text before the budget cut it).
        Arguments as :meth:`refine`; the samples are cut to the budget before the checks
        judge them."""
        from prompt_a_video.refiner.generation import check_sampling
        from prompt_a_video.refiner.guard import guard_samples as choose

        greedy = not check_sampling(n=n, temperature=temperature, top_p=top_p, **{
            k: sampling[k] for k in ("max_new_tokens", "do_sample") if k in sampling})
        if not isinstance(guard_samples, int) or guard_samples < 1:
            raise ValueError(f"Refiner.refine: guard_samples must be an int >= 1, got {guard_samples!r}")
        batch = _check_prompts(prompts)
        draws = 1 if greedy else max(n, guard_samples)
        samples = self._sample(batch, draws, temperature=temperature, top_p=top_p, **sampling)
        checks = checks or self.default_checks()
        fit = self._fit()
        out = [choose(original, drawn, n, checks, fit) for original, drawn in zip(batch, samples)]
        return out

    def _sample(self, prompts, n: int = 1, *, temperature: float = 0.7, top_p: float = 0.95,
                max_new_tokens: int = 256, do_sample: bool | None = None, seed: int | None = 0,
                **controls: Any) -> list[str] | list[list[str]]:
        """Unguarded samples: what the model writes, asked for :attr:`language` when needed."""
        from prompt_a_video.refiner.generation import check_sampling, refine_with
        from prompt_a_video.refiner.language import LanguagePrompt

        single = isinstance(prompts, str)
        batch = _check_prompts([prompts] if single else prompts)
        # Checked before the (slow) first load.
        check_sampling(n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, do_sample=do_sample)
        if not batch:
            return []
        self.token_budget  # noqa: B018 - a bad target or tokenizer fails before the (slow) load
        model, tokenizer, backbone = self.load()
        prompting = LanguagePrompt(backbone, self.language)
        out = refine_with(model, tokenizer, prompting, batch, n, temperature=temperature, top_p=top_p,
                          max_new_tokens=max_new_tokens, do_sample=do_sample, batch_size=self.batch_size, seed=seed,
                          **controls)
        return out[0] if single else out


def _missing_message(model: str | os.PathLike) -> str:
    return (f"refiner folder not found: {model} (expected an export folder of `pav export` with refiner.json and "
            "merged/ or adapter/, one of those subfolders, an HF causal-LM folder with a chat template, an offline "
            "asset name such as 'smollm2-135m-instruct', an MLflow model URI 'models:/NAME/VERSION' or "
            "'runs:/RUN_ID/refiner', or a hub id 'org/name')")


def _locate(model: str | os.PathLike) -> Path | None:
    """The refiner's folder, or None for a hub id. Cheap: no weights are read, except for an
    MLflow model URI (``models:/NAME/VERSION``, ``runs:/RUN_ID/refiner``): its export folder
    is downloaded from the tracking store once, into the cache, and that folder is returned."""
    from prompt_a_video.assets import resolve_model
    from prompt_a_video.refiner.mlflow_model import download_refiner, is_mlflow_uri

    if is_mlflow_uri(model):
        return download_refiner(str(model))
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
