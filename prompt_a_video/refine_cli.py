"""`pav refine`: rewrite prompts with a trained refiner and print them.

::

    pav refine --model runs/sft/export --prompt "a dog running on the beach"
    pav refine --model runs/sft/export --prompts my_prompts.txt --n 3 --json true
    cat my_prompts.txt | pav refine --model runs/sft/export --target cogvideox

Output on stdout, nothing else: one refined prompt a line, in input order (a rewrite's
own line breaks become spaces, so line i answers prompt i); with ``--n`` above 1, a block
of n lines per prompt, blocks separated by one blank line. ``--json true`` prints one JSON
object a line instead: ``{"prompt": ..., "refined": [...]}`` with the rewrites exactly as
the model wrote them. Warnings (a rewrite longer than the video model's text encoder
reads) go to stderr. Loading and generation are :class:`prompt_a_video.refiner.Refiner`'s.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["refine", "TARGETS", "Target", "gather_prompts", "resolve_limit", "token_counter"]

ESTIMATE_TOKENS_PER_WORD = 1.3  # T5/CLIP-style subword tokenizers on English prompts


@dataclass(frozen=True)
class Target:
    """A video (or image) model family: how many prompt tokens its text encoder reads."""

    token_limit: int
    encoder: str  # what tokenizes the prompt, for messages


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


def _targets() -> dict[str, Target]:
    from prompt_a_video.generators.synthetic import PRESETS

    synthetic = {f"{_SYNTHETIC}{name}": Target(p.token_limit, "the synthetic lexicon") for name, p in PRESETS.items()}
    return {**TARGETS, **synthetic}


def resolve_limit(target: str | None, token_limit: int | None,
                  settings: dict[str, Any] | None) -> tuple[int | None, str | None, str]:
    """``(limit, target name, label)``: the token limit to check, the target family (for
    the tokenizer), and how messages name the limit. ``token_limit`` wins over ``target``;
    with neither, the export's ``refiner.json`` ``"target"`` (a family name, or
    ``{"name", "prompt_token_limit"}``) decides; else no limit."""
    targets = _targets()
    if target is not None and target not in targets:
        raise SystemExit(f"pav refine: unknown --target {target!r}; choose one of: {', '.join(targets)} "
                         "(or give --token_limit N)")
    if token_limit is not None:
        if token_limit < 1:
            raise SystemExit(f"pav refine: --token_limit must be >= 1, got {token_limit}")
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
        print(f"pav refine: refiner.json names the target {recorded!r}, which is not one of {', '.join(targets)} "
              "and has no prompt_token_limit: no length check", file=sys.stderr)
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


def _hf_counter(folder: str) -> Callable[[str], int]:
    from prompt_a_video.assets import resolve_model

    path = Path(resolve_model(folder)).expanduser()
    if not path.is_dir():
        raise SystemExit(f"pav refine: --target_tokenizer {folder}: folder not found (expected a Hugging Face "
                         "tokenizer folder, or a diffusers pipeline folder with tokenizer/)")
    if (path / "tokenizer").is_dir() and not (path / "tokenizer_config.json").is_file():
        path = path / "tokenizer"  # a pipeline folder: its (first) text encoder's tokenizer
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"pav refine: --target_tokenizer {path}: not a tokenizer folder ({exc})") from exc
    # verbose=False: no "sequence longer than the model's maximum" warning; we say it better.
    return lambda text: len(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])


def _stdin_prompts() -> list[str]:
    try:
        text = sys.stdin.read()
    except OSError as exc:
        raise SystemExit(f"pav refine: cannot read prompts from stdin ({exc})") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except ValueError:  # closed
        return True


def gather_prompts(prompt: str | list[str] | None, prompts: str | None) -> list[str]:
    """The prompts to refine, in order: ``--prompt`` values (``-`` reads stdin), then the
    ``--prompts`` set; with neither, stdin when it is not a terminal. None is an error."""
    given = [] if prompt is None else [prompt] if isinstance(prompt, str) else list(prompt)
    texts: list[str] = []
    for value in given:
        texts.extend(_stdin_prompts() if value == "-" else [value])
    if prompts is not None:
        from prompt_a_video.data import load_prompts

        try:
            texts.extend(item.prompt for item in load_prompts(prompts))
        except (OSError, ValueError) as exc:  # missing file, wrong suffix, file:line problems
            raise SystemExit(f"pav refine: --prompts {prompts}: {exc}") from exc
    if not given and prompts is None and not _stdin_is_terminal():
        texts.extend(_stdin_prompts())
    texts = [t.strip() for t in texts]
    if not any(texts):
        raise SystemExit("pav refine: no prompt given: pass --prompt TEXT (several: --prompt+ A --prompt+ B), "
                         "--prompts FILE (.txt one a line, or .jsonl), or pipe prompts on stdin, one a line")
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        raise SystemExit(f"pav refine: prompt {empty[0] + 1} is empty")
    return texts


def _one_line(text: str) -> str:
    return " ".join(text.split())


def refine(
    model: str,
    prompt: str | list[str] | None = None,
    prompts: str | None = None,
    n: int = 1,
    temperature: float = 0.7,
    top_p: float = 0.95,
    max_new_tokens: int = 256,
    seed: int | None = 0,
    json: bool = False,
    target: str | None = None,
    token_limit: int | None = None,
    target_tokenizer: str | None = None,
    use: str = "auto",
    dtype: str | None = None,
    device: str | None = None,
    batch_size: int = 8,
    guard: bool = True,
    guard_samples: int = 4,
) -> list[list[str]]:
    """Rewrite prompts with a trained refiner (export folder) and print the refined prompts.

    Plain output: one refined prompt a line, in input order; with n > 1, n lines per
    prompt and a blank line between prompts. --json: one JSON object a line,
    {"prompt": ..., "refined": [...]}. A rewrite longer than the target's token limit
    gives a warning on stderr.

    Args:
        model: the refiner: an export folder of `pav export` (or its merged/ or adapter/),
            an HF chat model folder, an offline asset name (smollm2-135m-instruct: the
            untrained base model) or a hub id.
        prompt: a prompt to refine; '-' reads prompts from stdin, one a line. Several:
            --prompt+ A --prompt+ B, or --prompt '["A", "B"]'.
        prompts: a prompt set: a .txt file (one prompt a line), a .jsonl file with a
            "prompt" key, or a named set (pav:eval). Added after --prompt. With neither
            option, prompts are read from stdin when it is not a terminal.
        n: refined prompts per input prompt (n > 1 needs temperature > 0).
        temperature: sampling temperature; 0 decodes greedily (one answer, the most likely).
        top_p: nucleus sampling mass, in (0, 1].
        max_new_tokens: longest rewrite, in refiner tokens.
        seed: sampling seed: the same command prints the same rewrites. null: unseeded.
        json: print JSON Lines instead of plain text.
        target: the video model family whose token limit to check: cogvideox (226), wan
            (512), ltx (128), hunyuan (256), animatediff, sd, sdxl (77), or a synthetic
            preset (synthetic:long-cinematic, synthetic:short-strict). Default: the
            target recorded in the export's refiner.json, else no check.
        token_limit: check this many tokens instead (overrides the target's limit).
        target_tokenizer: the video model's tokenizer folder (or its diffusers pipeline
            folder) to count tokens exactly; otherwise they are estimated (1.3 per word).
        use: the part of an export folder to run: auto (merged/, else adapter/), merged, adapter.
        dtype: float32 / bfloat16 / float16; default: as trained.
        device: cpu, cuda, cuda:1...; default: cpu.
        batch_size: prompts per generation call.
        guard: return only rewrites that pass the text checks (no repeated words, no
            echoed instructions, the prompt's content words kept): the best of
            guard_samples samples, or the original prompt, with a note on stderr, when
            none passes. --guard false prints what the model writes.
        guard_samples: samples drawn per prompt for the guard to choose from (>= n).

    Returns:
        per input prompt, its refined prompts.
    """
    import json as _json

    from prompt_a_video.refiner import Refiner

    if n < 1:
        raise SystemExit(f"pav refine: --n must be >= 1, got {n}")
    if n > 1 and temperature <= 0:
        raise SystemExit(f"pav refine: --n {n} needs sampling: give --temperature above 0 (greedy decoding, "
                         "temperature 0, gives one answer)")
    texts = gather_prompts(prompt, prompts)
    try:
        refiner = Refiner(model, use=use, dtype=dtype, device=device, batch_size=batch_size)
        limit, family, label = resolve_limit(target, token_limit, refiner.settings)
        count, exact = token_counter(family, target_tokenizer) if limit is not None else (None, False)
        refiner.load()
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise SystemExit(f"pav refine: {exc}") from exc
    if guard_samples < 1:
        raise SystemExit(f"pav refine: --guard_samples must be >= 1, got {guard_samples}")
    sampling = dict(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
    if guard:
        answers = refiner.refine_guarded(texts, n, guard_samples=guard_samples, **sampling)
        refined = [[a.text for a in per_prompt] for per_prompt in answers]
        _note_fallbacks(texts, answers)
    else:
        refined = refiner.refine(texts, n, guard=False, **sampling)

    for i, (original, rewrites) in enumerate(zip(texts, refined)):
        if json:
            print(_json.dumps({"prompt": original, "refined": rewrites}, ensure_ascii=False))
            continue
        if n > 1 and i > 0:
            print()
        for text in rewrites:
            print(_one_line(text))
    sys.stdout.flush()
    if limit is not None:
        _warn_long(texts, refined, limit, count, exact, label)
    return refined


def _note_fallbacks(texts: list[str], answers: list[list]) -> None:
    for i, (original, per_prompt) in enumerate(zip(texts, answers)):
        fallbacks = sum(a.fallback for a in per_prompt)
        if fallbacks:
            short = original if len(original) <= 50 else original[:47] + "..."
            why = per_prompt[-1].rejected[0] if per_prompt[-1].rejected else "no sample"
            print(f"pav refine: guard: prompt {i + 1} ({short!r}): {fallbacks} of {len(per_prompt)} answers are the "
                  f"original prompt, no other sample passed the text checks (e.g. {why}); --guard false shows "
                  "what the model wrote", file=sys.stderr)


def _warn_long(texts: list[str], refined: list[list[str]], limit: int, count: Callable[[str], int], exact: bool,
               label: str) -> None:
    for i, (original, rewrites) in enumerate(zip(texts, refined)):
        for j, text in enumerate(rewrites):
            tokens = count(text)
            if tokens <= limit:
                continue
            which = f"refined prompt {j + 1} of {len(rewrites)}" if len(rewrites) > 1 else "the refined prompt"
            size = f"{tokens} tokens" if exact else \
                f"about {tokens} tokens (estimate: {ESTIMATE_TOKENS_PER_WORD} per word)"
            short = original if len(original) <= 50 else original[:47] + "..."
            print(f"pav refine: warning: {which} of prompt {i + 1} ({short!r}) is {size}, over {label}; "
                  "the text encoder ignores the rest", file=sys.stderr)


# `pav refine --model DIR "a dog running"` and `-n 3` (see stage_runner.run_function_stage).
refine.positional = "prompt"
refine.short_options = {"-n": "--n"}
