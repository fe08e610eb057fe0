"""The refiner's guard: never hand a user a rewrite that degenerates or loses their intent.

For each prompt, the refiner draws several samples; the guard checks each with
:class:`~prompt_a_video.rewards.text.checks.TextChecks` (repetition, leaked
instructions, the user's content kept; fluency too when given an LM) and keeps the ones
that pass, best first (most of the user's content kept, then least repetition, then
most fluent; ties in sample order). When fewer than ``n`` pass, the rest of the answer
is the ORIGINAL prompt, marked ``fallback`` with the reasons the samples failed: a
user's own prompt is a safe answer, a degenerate rewrite is not.
"""

from __future__ import annotations

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
    """

    text: str
    fallback: bool
    verdict: TextVerdict | None = None
    rejected: tuple[str, ...] = field(default=())


def guard_samples(original: str, samples: list[str], n: int, checks: TextChecks) -> list[GuardedRewrite]:
    """``n`` answers for ``original`` from its ``samples``: passing ones best first, then the original."""
    distinct = list(dict.fromkeys(s.strip() for s in samples))
    verdicts = checks([original] * len(distinct), distinct)
    passing = sorted((i for i, v in enumerate(verdicts) if v.passes), key=lambda i: verdicts[i].rank_key(),
                     reverse=True)
    failed = [i for i, v in enumerate(verdicts) if not v.passes]
    rejected = tuple(f"{distinct[i][:80]!r}: {'; '.join(verdicts[i].reasons)}" for i in failed)
    out = [GuardedRewrite(distinct[i], False, verdicts[i], rejected) for i in passing[:n]]
    if len(out) < n:
        best_failed = max(failed, key=lambda i: verdicts[i].rank_key()) if failed else None
        verdict = verdicts[best_failed] if best_failed is not None else None
        out += [GuardedRewrite(original, True, verdict, rejected)] * (n - len(out))
    return out
