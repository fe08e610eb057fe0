"""The token budget of a refiner's output: what its target's text encoder reads.

A video model's text encoder reads a fixed number of prompt tokens (226 for CogVideoX's
T5, 77 for CLIP: :data:`~prompt_a_video.generators.targets.TARGETS`) and silently drops
the rest, often mid-word. Prompt enhancers that write past it waste the detail they add
at the end and leave a broken last phrase. The refiner instead cuts its rewrite where a
reader would, before the limit:

1. at the end of the last whole sentence that fits (``.``, ``!``, ``?``, ``…``, also
   ``。！？``; a closing quote or bracket stays with its sentence);
2. else (the first sentence alone is over budget) at the last clause boundary that fits:
   a comma, a semicolon, or a dash (``;`` ``,`` ``–`` ``—`` ``--``, or `` - `` between
   spaces; a hyphen inside a word such as ``golden-haired`` is not one); the
   punctuation is dropped, not the words before it;
3. else (even the first clause is over budget) after the last whole word that fits
   (a CJK character counts as a word: those scripts put no spaces between words).

The text is never cut mid-word and never emptied: when not even the first word fits (a
budget of a token or two), the first word is returned, over budget, marked ``"first
word"``. Text that fits is returned unchanged. Tokens are counted by a function given
by the caller (:func:`~prompt_a_video.generators.targets.token_counter`: exact with the
target's tokenizer, special tokens included, or an estimate), and each candidate is
counted as a whole: subword tokenizers are not additive over pieces. Candidates are
searched by bisection, assuming a longer prefix never has fewer tokens (true of every
tokenizer at word boundaries); whatever is returned was counted and fits.

:func:`fit_to_budget` is the pure function; :class:`Budget` holds a target's limit and
counter and :func:`resolve_budget` makes one from a target name, a tokenizer folder or
an export's ``refiner.json``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Budget", "Fit", "check_target", "ends_a_sentence", "fit", "fit_to_budget", "resolve_budget",
           "target_language"]

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# A sentence ends at . ! ? … followed by a space or the end (so "3.5" and "e.g.x" do not end
# one), or at a CJK full stop, with any closing quotes or brackets right after it.
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s|$)"
                           r"|[\u3002\uff01\uff1f]+[\"'\u201d\u2019\u300d\u300f\uff09]*")
# Clause boundaries: the cut is made before the mark.
_CLAUSE_MARK = re.compile(r"[,;\uff0c\uff1b\u3001\u2013\u2014]|\s-+\s|--")
_WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
# Stripped from the end of a clause or word cut: the mark itself and what opens a phrase.
_TRAILING = " \t\r\n,;:\uff0c\uff1b\u3001\uff1a-\u2013\u2014([{\u201c\u2018\u300c\u300e\uff08"


@dataclass(frozen=True)
class Fit:
    """A text fitted to a budget.

    Attributes:
        text: the text, cut or not.
        tokens: its length in the counter's tokens.
        cut: None (it fitted as it was), ``"sentence"``, ``"clause"``, ``"word"``, or
            ``"first word"`` (not even one word fits: the first word, over budget).
        original_tokens: the length of the text before the cut.
    """

    text: str
    tokens: int
    cut: str | None
    original_tokens: int


def _cleaned(prefix: str, strip: str | None) -> str:
    return prefix.rstrip() if strip is None else prefix.rstrip(strip)


def _longest_fitting(text: str, ends: list[int], count: Callable[[str], int], limit: int,
                     strip: str | None) -> tuple[str, int] | None:
    """The longest distinct non-empty prefix ``text[:end]`` (cleaned) that fits, and its
    tokens, found by bisection; None when the shortest does not fit."""
    candidates = list(dict.fromkeys(c for c in (_cleaned(text[:end], strip) for end in sorted(ends)) if c))
    best: tuple[str, int] | None = None
    lo, hi = 0, len(candidates) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        tokens = count(candidates[mid])
        if tokens <= limit:
            best, lo = (candidates[mid], tokens), mid + 1
        else:
            hi = mid - 1
    return best


def ends_a_sentence(text: str) -> bool:
    """Whether ``text`` ends at a sentence end (the first of the cut rules above)."""
    return any(m.end() == len(text) for m in _SENTENCE_END.finditer(text))


def fit(text: str, count_tokens: Callable[[str], int], limit: int) -> Fit:
    """``text`` within ``limit`` tokens of ``count_tokens``, cut as the module doc says."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"token limit must be an int >= 1, got {limit!r}")
    tokens = count_tokens(text)
    if tokens <= limit or not text.strip():
        return Fit(text, tokens, None, tokens)
    levels = (
        ("sentence", [m.end() for m in _SENTENCE_END.finditer(text)], None),
        ("clause", [m.start() for m in _CLAUSE_MARK.finditer(text)], _TRAILING),
        ("word", [m.end() for m in _WORD.finditer(text)], _TRAILING),
    )
    for name, ends, strip in levels:
        found = _longest_fitting(text, ends, count_tokens, limit, strip)
        if found is not None:
            return Fit(found[0], found[1], name, tokens)
    first = _WORD.search(text)
    word = (first.group(0).rstrip(_TRAILING) or first.group(0)) if first else text.strip()
    return Fit(word, count_tokens(word), "first word", tokens)


def fit_to_budget(text: str, count_tokens: Callable[[str], int], limit: int) -> str:
    """``text`` cut to at most ``limit`` tokens at a sentence, else a clause, else a word
    boundary; unchanged when it fits (see the module doc)."""
    return fit(text, count_tokens, limit).text


@dataclass(frozen=True)
class Budget:
    """A target's token budget: its limit and how to count a prompt in its tokens.

    Attributes:
        limit: tokens the text encoder reads.
        count: ``count(text) -> tokens``.
        exact: whether ``count`` is the encoder's own tokenizer (else an estimate).
        label: how messages name the limit ("the 226-token limit of cogvideox").
        target: the target family (a key of ``all_targets()``), None for a folder.
    """

    limit: int
    count: Callable[[str], int]
    exact: bool
    label: str
    target: str | None = None

    def fit(self, text: str) -> Fit:
        return fit(text, self.count, self.limit)

    def describe(self, tokens: int) -> str:
        """``"41/226 tokens"``, or ``"about 41/226 tokens (estimated)"`` when not exact."""
        from prompt_a_video.generators.targets import ESTIMATE_TOKENS_PER_WORD

        if self.exact:
            return f"{tokens}/{self.limit} tokens"
        return f"about {tokens}/{self.limit} tokens (estimate: {ESTIMATE_TOKENS_PER_WORD} per word)"


def _folder(target: str | os.PathLike) -> Path | None:
    """``target`` as an existing folder (an asset name resolved), or None."""
    from prompt_a_video.assets import resolve_model

    try:
        path = Path(resolve_model(target)).expanduser()
    except FileNotFoundError:  # an asset name that is not installed: not a folder
        return None
    return path if path.is_dir() else None


def check_target(target: str | os.PathLike | None) -> None:
    """Refuse a ``target`` that is neither a known family nor a folder. Cheap: no tokenizer
    is loaded, nothing heavy is imported."""
    from prompt_a_video.generators.targets import all_targets

    if target is None:
        return
    if not isinstance(target, (str, os.PathLike)) or not str(target).strip():
        raise TypeError(f"target must be a target name or a tokenizer folder, got {target!r}")
    targets = all_targets()
    if str(target) not in targets and _folder(target) is None:
        raise ValueError(f"unknown target {str(target)!r}: expected one of {', '.join(targets)}, or a tokenizer "
                         "folder (a Hugging Face tokenizer, or a diffusers pipeline folder with tokenizer/)")


def target_language(target: str | os.PathLike | None, settings: dict[str, Any] | None) -> str | None:
    """The language of ``target`` (a family name), else of the target recorded in the
    export's ``refiner.json`` (a name, or ``{"name", "language"?}``); None when neither says."""
    from prompt_a_video.generators.targets import all_targets

    targets = all_targets()
    if target is not None:
        return targets[str(target)].language if str(target) in targets else None
    recorded = (settings or {}).get("target")
    if isinstance(recorded, dict):
        if isinstance(recorded.get("language"), str):
            return recorded["language"]
        recorded = recorded.get("name")
    return targets[recorded].language if isinstance(recorded, str) and recorded in targets else None


def resolve_budget(target: str | os.PathLike | None = None, token_limit: int | None = None,
                   target_tokenizer: str | os.PathLike | None = None,
                   settings: dict[str, Any] | None = None) -> Budget | None:
    """The budget to keep, or None when there is no target.

    Args:
        target: a family (``cogvideox``: its limit, counted with ``target_tokenizer`` or
            estimated), or a tokenizer folder (an HF tokenizer, or a diffusers pipeline
            folder: its ``tokenizer/``), which counts exactly and gives the limit its
            ``model_max_length`` records (226 in CogVideoX's).
        token_limit: this many tokens instead of the target's limit.
        target_tokenizer: count with this tokenizer folder (for a family target).
        settings: the export's ``refiner.json``, whose ``"target"`` is used when
            ``target`` and ``token_limit`` are None.

    The limit's precedence is :func:`~prompt_a_video.generators.targets.resolve_limit`'s.
    """
    from prompt_a_video.generators.targets import all_targets, hf_tokenizer, resolve_limit, token_counter

    check_target(target)
    if target is not None and str(target) not in all_targets():  # a tokenizer folder
        if token_limit is not None:
            resolve_limit(None, token_limit, None)  # checks it
        tokenizer = hf_tokenizer(str(target), option="--target")
        limit = token_limit if token_limit is not None else getattr(tokenizer, "model_max_length", None)
        if not isinstance(limit, int) or not 0 < limit < 1_000_000:  # transformers' "no limit" is 1e30
            raise ValueError(f"target {target}: its tokenizer records no token limit (model_max_length "
                             f"{limit!r}); give token_limit N")
        count = (lambda text: len(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"]))
        return Budget(limit, count, True, f"the {limit}-token limit of the tokenizer {target}")
    limit, family, label = resolve_limit(None if target is None else str(target), token_limit, settings)
    if limit is None:
        return None
    count, exact = token_counter(family, None if target_tokenizer is None else str(target_tokenizer))
    return Budget(limit, count, exact, label, family)
