"""`pav refine`: rewrite prompts with a trained refiner and print them.

::

    pav refine --model runs/sft/export --prompt "a dog running on the beach"
    pav refine --model runs/sft/export --prompts my_prompts.txt --n 3 --json true
    cat my_prompts.txt | pav refine --model runs/sft/export --target cogvideox
    pav refine --model runs/sft/export --prompt "ein Hund am Strand" --show
    pav refine --model runs/sft/export --prompts my_prompts.txt --interactive

Output on stdout, nothing else: one refined prompt a line, in input order (a rewrite's
own line breaks become spaces, so line i answers prompt i); with ``--n`` above 1, a block
of n lines per prompt, blocks separated by one blank line. ``--json true`` prints one JSON
object a line instead: ``{"prompt": ..., "refined": [...]}`` with the rewrites exactly as
the model wrote them (cut to the budget). Rewrites are cut to the target's token budget
(``--budget false``: not cut, and a warning on stderr for each one past the limit), in
the target's language (``--language``). ``--show`` and ``--interactive``
(:mod:`~prompt_a_video.commands.refine_review`) print each rewrite, its tokens and the
guard's verdict on stderr first. Loading and generation are
:class:`prompt_a_video.refiner.Refiner`'s.
"""

from __future__ import annotations

import sys
from typing import Callable

from prompt_a_video.data.validation import is_count
from prompt_a_video.generators.targets import ESTIMATE_TOKENS_PER_WORD

__all__ = ["refine", "gather_prompts"]

def _stdin_prompts() -> list[str]:
    """Prompts piped in, one a line, by the rule of ``.txt`` prompt files: blank lines and
    lines whose first non-space character is ``#`` are skipped."""
    from prompt_a_video.data.prompts import read_prompt_lines

    try:
        text = sys.stdin.read()
    except OSError as exc:
        raise SystemExit(f"pav refine: cannot read prompts from stdin ({exc})") from exc
    return [item.prompt for item in read_prompt_lines(text, "<stdin>")]


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
    format: str | None = None,
    budget: bool = True,
    language: str | None = None,
    show: bool = False,
    interactive: bool = False,
) -> list[list[str]]:
    """Rewrite prompts with a trained refiner (export folder) and print the refined prompts.

    Plain output: one refined prompt a line, in input order; with n > 1, n lines per
    prompt and a blank line between prompts. --json: one JSON object a line,
    {"prompt": ..., "refined": [...]}. Rewrites are cut to the target's token budget at a
    sentence, clause or word boundary; with --budget false, a rewrite longer than the
    limit gives a warning on stderr instead.

    Args:
        model: the refiner: an export folder of `pav export` (or its merged/ or adapter/),
            an HF chat model folder, an offline asset name (smollm2-135m-instruct: the
            untrained base model) or a hub id.
        prompt: a prompt to refine; '-' reads prompts from stdin, one a line (blank lines
            and lines starting with '#' are skipped). Several: --prompt+ A --prompt+ B, or
            --prompt '["A", "B"]'.
        prompts: a prompt set: a .txt file (one prompt a line; blank lines and lines
            starting with '#' are skipped), a .jsonl file with a "prompt" key, or a named
            set (pav:eval). Added after --prompt. With neither option, prompts are read
            from stdin when it is not a terminal, by the .txt file's rule.
        n: refined prompts per input prompt, >= 1 (n > 1 needs temperature > 0).
        temperature: sampling temperature, >= 0; 0 decodes greedily (one answer, the most likely).
        top_p: nucleus sampling mass, in (0, 1].
        max_new_tokens: longest rewrite, in refiner tokens (>= 1).
        seed: sampling seed: the same command prints the same rewrites. null: unseeded.
        json: print JSON Lines instead of plain text.
        target: the video model the rewrites are for, whose token budget they are cut to:
            cogvideox (226), wan (512), ltx (128), hunyuan (256), animatediff, sd, sdxl (77),
            a synthetic preset (synthetic:long-cinematic, synthetic:short-strict), or its
            tokenizer folder (an HF tokenizer, or a diffusers pipeline folder: exact
            counts, the limit its model_max_length records). Default: the target recorded
            in the export's refiner.json, else no budget.
        token_limit: a budget of this many tokens instead (overrides the target's limit).
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
        format: the prompt format of a folder without refiner.json: default, or paper
            (the paper's: no system turn, its task text, "New prompt:"), to run a refiner
            the paper's authors released as it was trained. An export's refiner.json
            decides otherwise.
        budget: cut each rewrite to the target's token budget: after the last whole
            sentence that fits, else clause (comma, semicolon, dash), else word; the guard
            judges the cut text. false: print rewrites as written, warn past the limit.
        language: the language of the rewrites (en, zh, de, fr, es, ja...); default: the
            target's (English for every family). A prompt in another language is refined
            into it; the guard rejects a rewrite in another language.
        show: print each rewrite on stderr first, with its tokens against the budget and
            the guard's verdict (stdout stays the clean output).
        interactive: for each prompt, show the rewrite and ask on the terminal: [a]ccept,
            [e]dit, [r]esample (the next seed), [o]riginal or [q]uit. Needs a terminal
            (stdin, or /dev/tty when prompts are piped in) and --n 1.

    Returns:
        per input prompt, its refined prompts (with --interactive, the chosen one; only
        the prompts answered before [q]uit).
    """
    import json as _json

    from prompt_a_video.refiner import Refiner
    from prompt_a_video.refiner.generation import check_sampling

    # Every setting is checked before the model loads (a ValueError: one line, exit 2).
    check_sampling(n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    if not is_count(guard_samples, 1):
        raise ValueError(f"guard_samples must be an int >= 1, got {guard_samples!r}")
    if interactive and n != 1:
        raise ValueError(f"--interactive reviews one rewrite per prompt: give --n 1, not --n {n}")
    ask = None
    if interactive:  # before anything loads: no terminal, no review
        from prompt_a_video.commands.refine_review import terminal_input

        ask = terminal_input()
    texts = gather_prompts(prompt, prompts)
    try:
        refiner = Refiner(model, use=use, dtype=dtype, device=device, batch_size=batch_size, prompt_format=format,
                          target=target, token_limit=token_limit, target_tokenizer=target_tokenizer, budget=budget,
                          language=language)
        limits = refiner.token_budget
        refiner.load()
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise SystemExit(f"pav refine: {exc}") from exc
    sampling = dict(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
    if guard:
        answers = refiner.refine_guarded(texts, n, guard_samples=guard_samples, **sampling)
        _note_fallbacks(texts, answers)
    else:
        answers = refiner.refine_detailed(texts, n, guard=False, **sampling)
    refined = [[a.text for a in per_prompt] for per_prompt in answers]
    if show or interactive:
        from prompt_a_video.commands import refine_review

        cutting = budget and limits is not None
        if show and not interactive:  # the review shows each rewrite itself
            refine_review.show(texts, answers, limits, guarded=guard, cutting=cutting,
                               checks=None if guard else refiner.default_checks())
        if interactive:
            def resample(original: str, new_seed: int | None):
                again = {**sampling, "seed": new_seed}
                drawn = refiner.refine_guarded([original], 1, guard_samples=guard_samples, **again) if guard \
                    else refiner.refine_detailed([original], 1, guard=False, **again)
                return drawn[0][0]

            greedy = not check_sampling(n=1, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
            chosen, _ = refine_review.review(texts, answers, ask=ask, resample=resample,
                                             check=refiner.default_checks().check, budget=limits, guarded=guard,
                                             cutting=cutting, seed=seed, greedy=greedy)
            texts, refined = texts[:len(chosen)], [[text] for text in chosen]

    for i, (original, rewrites) in enumerate(zip(texts, refined)):
        if json:
            print(_json.dumps({"prompt": original, "refined": rewrites}, ensure_ascii=False))
            continue
        if n > 1 and i > 0:
            print()
        for text in rewrites:
            print(_one_line(text))
    sys.stdout.flush()
    if limits is not None:
        _warn_long(texts, refined, limits.limit, limits.count, limits.exact, limits.label)
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


# `pav refine --model DIR "a dog running"` and `-n 3` (see commands/runner.py).
refine.positional = "prompt"
refine.short_options = {"-n": "--n"}
