"""Length of rewrites in the TARGET video model's text-encoder tokens (``length_tokens``).

A video model reads only the first ``prompt_token_limit`` tokens of a prompt (226 T5
tokens for CogVideoX, 77 CLIP tokens for SD), so a rewrite's length in *those* tokens is
what says whether the model sees all of it. :func:`token_counter_for` picks the counter
from the generator, exact when a tokenizer is at hand, else an estimate:

- the synthetic backbone: its own lexicon's tokens (exact; ``refine_cli.token_counter``);
- a diffusers generator: the pipeline's (first) tokenizer, special tokens included, as
  the text encoder reads them (exact): from the loaded pipeline, else from the model's
  ``tokenizer/`` folder (a local folder, or a hub id already in the local HF cache: no
  download is attempted);
- anything else, or no tokenizer found: ``ceil(1.3 x words)``
  (``refine_cli.ESTIMATE_TOKENS_PER_WORD``), close for T5 and CLIP on English.

``TokenCounter.info()`` is what ``metrics.json`` records as ``token_count``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


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
    from prompt_a_video.refine_cli import ESTIMATE_TOKENS_PER_WORD, token_counter

    count, _ = token_counter(None, None)
    return TokenCounter(count, False, f"estimate: ceil({ESTIMATE_TOKENS_PER_WORD} x words)", token_limit)


def _inner(generator: Any) -> Any:
    """The backbone inside render-cache wrappers (``CachedGenerator.generator``)."""
    from prompt_a_video.cache.cached_generator import CachedGenerator

    while isinstance(generator, CachedGenerator):
        generator = generator.generator
    return generator


def _hf_count(tokenizer: Any) -> Callable[[str], int]:
    # As refine_cli's exact counter: special tokens included, no over-length warning.
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
        from prompt_a_video.refine_cli import token_counter

        preset = inner.preset.name
        count, exact = token_counter(f"synthetic:{preset}", None)
        return TokenCounter(count, exact, f"synthetic lexicon (synthetic:{preset})", limit)
    if hasattr(inner, "load") and hasattr(inner, "model"):
        tokenizer = _pipeline_tokenizer(inner)
        if tokenizer is not None:
            return TokenCounter(_hf_count(tokenizer), True, f"{type(tokenizer).__name__} of {inner.model}", limit)
    return estimate_counter(limit)
