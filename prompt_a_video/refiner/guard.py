"""The refiner's guard: never hand a user a rewrite that degenerates or loses their intent.

For each prompt, the refiner draws several samples; the guard checks each with
:class:`~prompt_a_video.rewards.text.checks.TextChecks` (repetition, leaked
instructions, the user's content kept; fluency too when given an LM) and keeps the ones
that pass, best first (most of the user's content kept, then least repetition, then
most fluent; ties in sample order). When fewer than ``n`` pass, the rest of the answer
is the ORIGINAL prompt, marked ``fallback`` with the reasons the samples failed: a
user's own prompt is a safe answer, a degenerate rewrite is not.

With a token budget (``fit``: :meth:`~prompt_a_video.refiner.budget.Budget.fit`) the
guard judges each sample as the user would get it, cut to the budget: a cut that drops
the user's content fails like any other sample, and two samples that cut to the same
text are one candidate. The original given back is cut to the budget too (the text
encoder would otherwise drop its end mid-word). With checks that ask for a language, a
sample in another language fails (``TextChecks(language=...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prompt_a_video.rewards.text.checks import TextChecks, TextVerdict


@dataclass(frozen=True)
class GuardedRewrite:
    """One answer of the guarded refiner.

    Attributes:
        text: the rewrite, or the original prompt when ``fallback``.
        fallback: no (further) sample passed the checks; ``text`` is the original prompt.
        verdict: the checks' verdict on ``text`` (for a fallback: on the best failed sample).
        rejected: why the samples that were not returned failed, one line each.
        uncut: the text before the budget cut it (None: not cut).
    """

    text: str
    fallback: bool
    verdict: TextVerdict | None = None
    rejected: tuple[str, ...] = field(default=())
    uncut: str | None = None


def guard_samples(original: str, samples: list[str], n: int, checks: TextChecks,
                  fit: Callable[[str], str] | None = None) -> list[GuardedRewrite]:
    """``n`` answers for ``original`` from its ``samples``: passing ones best first, then the
    original; with ``fit`` (text -> text within the budget), samples and the original are
    checked and returned as ``fit`` cuts them."""
    uncut: dict[str, str] = {}
    distinct: list[str] = []
    for sample in samples:
        text = sample.strip()
        cut = fit(text).strip() if fit is not None else text
        if cut not in uncut:
            uncut[cut] = text
            distinct.append(cut)
    verdicts = checks([original] * len(distinct), distinct)
    passing = sorted((i for i, v in enumerate(verdicts) if v.passes), key=lambda i: verdicts[i].rank_key(),
                     reverse=True)
    failed = [i for i, v in enumerate(verdicts) if not v.passes]
    rejected = tuple(f"{distinct[i][:80]!r}: {'; '.join(verdicts[i].reasons)}" for i in failed)
    out = [GuardedRewrite(distinct[i], False, verdicts[i], rejected, _changed(uncut[distinct[i]], distinct[i]))
           for i in passing[:n]]
    if len(out) < n:
        best_failed = max(failed, key=lambda i: verdicts[i].rank_key()) if failed else None
        verdict = verdicts[best_failed] if best_failed is not None else None
        given = fit(original).strip() if fit is not None else original
        out += [GuardedRewrite(given, True, verdict, rejected, _changed(original, given))] * (n - len(out))
    return out


def _changed(before: str, after: str) -> str | None:
    return before if before != after else None
