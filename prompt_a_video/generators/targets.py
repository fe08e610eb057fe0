"""The targets: what each video (or image) model family's text encoder reads, and how to count it.

One table for every part that needs a prompt's budget: `pav refine`'s length check, the
evaluation's ``length_tokens``, the refiner's target. :data:`TARGETS` holds the families
of docs/backbones.md; the synthetic presets are added by :func:`all_targets` (their limits
live in ``generators/synthetic/presets.py`` and their tokenizer is exact and cheap).

Counting a prompt in a target's tokens (:func:`token_counter`, :func:`token_counter_for`):

- the synthetic backbone: its own lexicon's tokens (exact);
- a tokenizer folder, or a diffusers generator: the pipeline's (first) tokenizer, special
  tokens included, as the text encoder reads them (exact): from the loaded pipeline, else
  from the model's ``tokenizer/`` folder (a local folder, or a hub id already in the local
  HF cache: no download is attempted);
- anything else: ``ceil(1.3 x words)``, close for T5 and CLIP on English.

``TokenCounter.info()`` is what ``metrics.json`` records as ``token_count``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["TARGETS", "Target", "TokenCounter", "all_targets", "estimate_counter", "hf_tokenizer", "resolve_limit",
           "token_counter", "token_counter_for", "ESTIMATE_TOKENS_PER_WORD"]

ESTIMATE_TOKENS_PER_WORD = 1.3  # T5/CLIP-style subword tokenizers on English prompts


@dataclass(frozen=True)
class Target:
    """A video (or image) model family: how many prompt tokens its text encoder reads, and
    the language the refiner writes its prompts in by default.

    ``language`` is English for every family: the paper's backbones (Open-Sora, CogVideoX)
    and LTX, HunyuanVideo, AnimateDiff and Stable Diffusion were trained on English
    captions. Wan's umT5 reads Chinese and English alike, and Wan's own prompt extender
    writes either (its ``--prompt_extend_target_lang``, Chinese by default); ours stays
    English, the language the project's refiners are trained in (evolved pools, system
    prompt), so a Wan refiner's rewrites are judged in the language it was taught. Ask
    for Chinese with ``Refiner(..., language="zh")`` / ``pav refine --language zh``.
    """

    token_limit: int
    encoder: str  # what tokenizes the prompt, for messages
    language: str = "en"  # ISO 639-1 code (rewards/language.py: LANGUAGES)


# The families of docs/backbones.md (token limits from the tables in diffusers_video.py and
# diffusers_image.py). The synthetic presets are added by _targets(): their limits live in
# generators/synthetic/presets.py and their tokenizer is exact and cheap.
TARGETS: dict[str, Target] = {
    "cogvideox": Target(226, "T5"),
    "wan": Target(512, "umT5"),
    "ltx": Target(128, "T5"),
    "hunyuan": Target(256, "Llama (LLaVA)"),
    "animatediff": Target(77, "CLIP"),
    "sd": Target(77, "CLIP"),
    "sdxl": Target(77, "CLIP"),
}
_SYNTHETIC = "synthetic:"


def all_targets() -> dict[str, Target]:
    """The families of :data:`TARGETS` and ``synthetic:<preset>`` for every synthetic preset."""
    from prompt_a_video.generators.synthetic import PRESETS

    synthetic = {f"{_SYNTHETIC}{name}": Target(p.token_limit, "the synthetic lexicon") for name, p in PRESETS.items()}
    return {**TARGETS, **synthetic}


def resolve_limit(target: str | None, token_limit: int | None,
                  settings: dict[str, Any] | None) -> tuple[int | None, str | None, str]:
    """``(limit, target name, label)``: the token limit to check, the target family (for
    the tokenizer), and how messages name the limit. ``token_limit`` wins over ``target``;
    with neither, the export's ``refiner.json`` ``"target"`` (a family name, or
    ``{"name", "prompt_token_limit"}``) decides; else no limit."""
    targets = all_targets()
    if target is not None and target not in targets:
        raise ValueError(f"unknown --target {target!r}; choose one of: {', '.join(targets)} "
                         "(or give --token_limit N)")
    if token_limit is not None:
        if token_limit < 1:
            raise ValueError(f"--token_limit must be >= 1, got {token_limit}")
        return token_limit, target, f"the {token_limit}-token limit" + (f" of {target}" if target else "")
    if target is not None:
        return targets[target].token_limit, target, f"the {targets[target].token_limit}-token limit of {target}"
    recorded = (settings or {}).get("target")
    if isinstance(recorded, str) and recorded in targets:
        limit = targets[recorded].token_limit
        return limit, recorded, f"the {limit}-token limit of {recorded} (refiner.json)"
    if isinstance(recorded, dict) and isinstance(recorded.get("prompt_token_limit"), int):
        name = recorded.get("name")
        limit = recorded["prompt_token_limit"]
        family = name if name in targets else None
        return limit, family, f"the {limit}-token limit of {name or 'its target'} (refiner.json)"
    if recorded is not None:
        log.warning("refiner.json names the target %r, which is not one of %s and has no prompt_token_limit: "
                    "no length check", recorded, ", ".join(targets))
    return None, None, ""


def token_counter(target: str | None, target_tokenizer: str | None) -> tuple[Callable[[str], int], bool]:
    """``(count, exact)``: a function giving a prompt's length in the video model's tokens.

    Exact with ``target_tokenizer`` (any HF tokenizer folder, or a diffusers pipeline
    folder: its ``tokenizer/``; special tokens counted, as the text encoder reads them)
    and for the synthetic presets (their own lexicon); otherwise an estimate of
    ``ceil(1.3 x words)`` (words split on whitespace), close for T5 and CLIP on English.
    """
    if target_tokenizer is not None:
        return _hf_counter(target_tokenizer), True
    if target is not None and target.startswith(_SYNTHETIC):
        from prompt_a_video.generators.synthetic import tokenize

        return (lambda text: len(tokenize(text))), True
    return (lambda text: math.ceil(ESTIMATE_TOKENS_PER_WORD * len(text.split()))), False


def hf_tokenizer(folder: str, option: str = "--target_tokenizer") -> Any:
    """The tokenizer of an HF tokenizer folder, or of a diffusers pipeline folder (its
    first text encoder's ``tokenizer/``); errors name ``option``, the setting it came from."""
    from prompt_a_video.assets import resolve_model

    path = Path(resolve_model(folder)).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{option} {folder}: folder not found (expected a Hugging Face "
                                "tokenizer folder, or a diffusers pipeline folder with tokenizer/)")
    if (path / "tokenizer").is_dir() and not (path / "tokenizer_config.json").is_file():
        path = path / "tokenizer"  # a pipeline folder: its (first) text encoder's tokenizer
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{option} {path}: not a tokenizer folder ({exc})") from exc


def _hf_counter(folder: str) -> Callable[[str], int]:
    tokenizer = hf_tokenizer(folder)
    # verbose=False: no "sequence longer than the model's maximum" warning; we say it better.
    return lambda text: len(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])



@dataclass(frozen=True)
class TokenCounter:
    """``count(text) -> tokens``, whether it is exact, and what it counts with."""

    count: Callable[[str], int]
    exact: bool
    tokenizer: str
    token_limit: int | None = None

    def info(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer, "exact": self.exact, "token_limit": self.token_limit}


def estimate_counter(token_limit: int | None = None) -> TokenCounter:
    """The words-based estimate of ``pav refine`` (no tokenizer needed)."""
    count, _ = token_counter(None, None)
    return TokenCounter(count, False, f"estimate: ceil({ESTIMATE_TOKENS_PER_WORD} x words)", token_limit)


def _inner(generator: Any) -> Any:
    """The backbone inside render-cache wrappers (``CachedGenerator.generator``)."""
    from prompt_a_video.cache.cached_generator import CachedGenerator

    while isinstance(generator, CachedGenerator):
        generator = generator.generator
    return generator


def _hf_count(tokenizer: Any) -> Callable[[str], int]:
    # As _hf_counter: special tokens included, no over-length warning.
    return lambda text: len(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])


def _pipeline_tokenizer(generator: Any) -> Any | None:
    """The (first) tokenizer of a diffusers generator's pipeline, without downloading or
    loading weights; None when there is none at hand."""
    if getattr(generator, "is_loaded", False):
        tokenizer = getattr(generator.load(), "tokenizer", None)
        if tokenizer is not None:
            return tokenizer
    model = getattr(generator, "model", None)
    if not isinstance(model, str):
        return None
    try:
        from transformers import AutoTokenizer

        path = Path(model).expanduser()
        if path.is_dir():
            folder = path / "tokenizer" if (path / "tokenizer").is_dir() else path
            return AutoTokenizer.from_pretrained(folder)
        return AutoTokenizer.from_pretrained(model, subfolder="tokenizer", local_files_only=True,
                                             revision=getattr(generator, "revision", None))
    except Exception as exc:  # noqa: BLE001 - no tokenizer at hand: the estimate is the honest fallback
        log.info("length_tokens: no tokenizer for %s (%s): estimating", model, exc)
        return None


def token_counter_for(generator: Any) -> TokenCounter:
    """The most exact token counter available for ``generator`` (see the module doc)."""
    inner = _inner(generator)
    limit = getattr(generator, "prompt_token_limit", None)
    limit = limit if isinstance(limit, int) else None
    from prompt_a_video.generators.synthetic import SyntheticGenerator

    if isinstance(inner, SyntheticGenerator):
        preset = inner.preset.name
        count, exact = token_counter(f"synthetic:{preset}", None)
        return TokenCounter(count, exact, f"synthetic lexicon (synthetic:{preset})", limit)
    if hasattr(inner, "load") and hasattr(inner, "model"):
        tokenizer = _pipeline_tokenizer(inner)
        if tokenizer is not None:
            return TokenCounter(_hf_count(tokenizer), True, f"{type(tokenizer).__name__} of {inner.model}", limit)
    return estimate_counter(limit)
