"""`pav refine --show` and `--interactive`: see each rewrite before a render spends minutes on it.

``--show`` prints, on stderr, each rewrite with its length against the target's token
budget (and whether and where the budget cut it) and the guard's verdict, before the
final output goes to stdout (which stays the clean output a script reads).

``--interactive`` shows the same for one prompt at a time and asks, on the terminal::

    [a]ccept / [e]dit / [r]esample / [o]riginal / [q]uit?

- ``a`` (or Enter): keep the rewrite shown;
- ``e``: type a replacement (kept as typed: the budget is the user's to break, and the
  block shown next says so), then choose again;
- ``r``: draw a new rewrite with the next seed (``--seed`` + 1, + 2...; unseeded stays
  unseeded), guarded as the first; greedy decoding (temperature 0) has one answer only;
- ``o``: keep the original prompt;
- ``q``: stop; the prompts answered so far are printed, the rest are not.

Answers are read from stdin when it is a terminal, else from ``/dev/tty`` (prompts piped
in on stdin); with neither the command refuses ``--interactive`` before loading anything.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

__all__ = ["describe", "review", "show", "terminal_input"]

MENU = "[a]ccept / [e]dit / [r]esample / [o]riginal / [q]uit? "
TTY = "/dev/tty"  # the controlling terminal, asked when stdin carries the prompts
_CUTS = {"sentence": "cut at a sentence end", "clause": "cut at a clause boundary", "word": "cut after a word",
         "first word": "not even one word fits: the first word"}


def _err(text: str = "") -> None:
    print(text, file=sys.stderr, flush=True)


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _tokens_line(answer: Any, budget: Any, cutting: bool) -> str:
    """Its length against the budget, and what the budget did to it."""
    if budget is None:
        return "no token budget (no --target, and refiner.json records none)"
    tokens = budget.count(answer.text)
    line = budget.describe(tokens)
    if answer.uncut is not None:
        fitted = budget.fit(answer.uncut)
        whose = "the prompt" if answer.fallback else "the model's rewrite"
        line += f", {_CUTS.get(fitted.cut, 'cut')} ({whose} was {fitted.original_tokens} tokens)"
    elif tokens > budget.limit:
        line += ", over the budget: the text encoder drops the rest" + ("" if cutting else " (--budget false)")
    return line


def _verdict_line(answer: Any, guarded: bool) -> str:
    """The guard's verdict on the answer, in one line."""
    v = answer.verdict
    if answer.fallback:
        why = answer.rejected[0] if answer.rejected else "no sample"
        return f"guard: no sample passed, the original prompt is given back (e.g. {why})"
    if v is None:
        return "guard: off (--guard false)" if not guarded else "guard: not checked"
    scores = ", ".join(f"{k} {s:.2f}" for k, s in v.scores.items())
    said = "passes" if v.passes else "fails: " + "; ".join(v.reasons)
    notes = "".join(f"; {note}" for note in v.notes)
    prefix = "guard" if guarded else "guard: off, the checks would say"
    return f"{prefix}: {said} ({scores}){notes}"


def describe(original: str, answer: Any, budget: Any, *, guarded: bool, cutting: bool, label: str = "") -> list[str]:
    """The lines ``--show`` prints for one rewrite (``label``: "[2/3] " when n > 1)."""
    return [f"  {label}{' '.join(answer.text.split())}",
            f"    {_tokens_line(answer, budget, cutting)}",
            f"    {_verdict_line(answer, guarded)}"]


def show(texts: list[str], answers: list[list[Any]], budget: Any, *, guarded: bool, cutting: bool,
         checks: Any = None) -> None:
    """``--show``: every rewrite, its tokens and the guard's verdict, on stderr. Unguarded
    answers are judged by ``checks`` for the reader's information (nothing is held back)."""
    for i, (original, per_prompt) in enumerate(zip(texts, answers)):
        _err(f"pav refine: prompt {i + 1} of {len(texts)}: {_short(original)!r}")
        for j, answer in enumerate(per_prompt):
            if answer.verdict is None and not answer.fallback and checks is not None:
                answer = replace(answer, verdict=checks.check(original, answer.text))
            label = f"[{j + 1}/{len(per_prompt)}] " if len(per_prompt) > 1 else ""
            for line in describe(original, answer, budget, guarded=guarded, cutting=cutting, label=label):
                _err(line)


def terminal_input() -> Callable[[str], str]:
    """``ask(question) -> answer line`` on the user's terminal: stdin when it is one, else
    ``/dev/tty``. Questions go to stderr (or the tty), never stdout. EOF raises EOFError.

    Raises:
        SystemExit: there is no terminal to ask on (a one-line user error).
    """
    try:
        stdin_tty = sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        stdin_tty = False
    if stdin_tty:
        def ask(question: str) -> str:
            sys.stderr.write(question)
            sys.stderr.flush()
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            return line.rstrip("\n")
        return ask
    try:
        tty = open(TTY, "r+", encoding="utf-8")  # noqa: SIM115 - kept open for the whole review
    except OSError:
        raise SystemExit(f"pav refine: --interactive needs a terminal to ask on: stdin is not one and {TTY} "
                         "cannot be opened (run it in a terminal, or use --show to see the rewrites without "
                         "being asked)") from None

    def ask_tty(question: str) -> str:
        tty.write(question)
        tty.flush()
        line = tty.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")
    return ask_tty


def review(texts: list[str], answers: list[list[Any]], *, ask: Callable[[str], str],
           resample: Callable[[str, int | None], Any], check: Callable[[str, str], Any] | None,
           budget: Any, guarded: bool, cutting: bool, seed: int | None, greedy: bool) -> tuple[list[str], bool]:
    """``--interactive``: ask about each prompt's rewrite (see the module doc).

    Args:
        texts: the prompts.
        answers: per prompt, a list whose first item is the rewrite shown first (a
            :class:`~prompt_a_video.refiner.guard.GuardedRewrite`).
        ask: reads the user's answer to a question (:func:`terminal_input`).
        resample: ``(prompt, seed) -> GuardedRewrite``: a new rewrite drawn with ``seed``.
        check: ``(original, text) -> TextVerdict`` for a text shown without a verdict (an
            edit, an unguarded sample): shown for information, never enforced; None: not judged.
        budget: the target's :class:`~prompt_a_video.refiner.budget.Budget`, or None.
        guarded, cutting: whether the guard and the budget cut are on (for the messages).
        seed: the seed the first rewrites were drawn with; resample k uses ``seed + k``.
        greedy: greedy decoding: every resample would be the same, so none is drawn.

    Returns:
        the chosen prompt for each prompt answered, in order, and whether the user quit
        (then fewer than ``len(texts)``).
    """
    chosen: list[str] = []
    for i, (original, per_prompt) in enumerate(zip(texts, answers)):
        current = per_prompt[0]
        draws = 0
        _err(f"pav refine: prompt {i + 1} of {len(texts)}: {_short(original)!r}")
        while True:
            if current.verdict is None and not current.fallback and check is not None:
                current = replace(current, verdict=check(original, current.text))
            for line in describe(original, current, budget, guarded=guarded, cutting=cutting):
                _err(line)
            try:
                choice = ask(MENU).strip().lower()
            except (EOFError, KeyboardInterrupt):
                choice = "q"
            if choice in ("", "a", "accept"):
                chosen.append(current.text)
                break
            if choice in ("o", "original"):
                chosen.append(original)
                break
            if choice in ("q", "quit"):
                _err(f"pav refine: quit at prompt {i + 1} of {len(texts)}: printing the {len(chosen)} answered")
                return chosen, True
            if choice in ("e", "edit"):
                try:
                    typed = ask("new prompt (Enter keeps the one shown): ").strip()
                except (EOFError, KeyboardInterrupt):
                    typed = ""
                if typed:
                    current = replace(current, text=typed, fallback=False, verdict=None, rejected=(), uncut=None)
                continue
            if choice in ("r", "resample"):
                if greedy:
                    _err("    greedy decoding (temperature 0) has one answer: give --temperature > 0 to resample")
                    continue
                draws += 1
                new = resample(original, None if seed is None else seed + draws)
                if new.text == current.text:
                    _err(f"    sample {draws + 1} is the same rewrite")
                current = new
                continue
            _err(f"    answer a, e, r, o or q, not {choice!r}")
    return chosen, False
