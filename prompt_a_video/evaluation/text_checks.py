"""The text checks of an evaluation: which rewrites degenerate, lose the intent or leak.

Every rewrite of every method (each sample of each prompt, the rewrites the text metrics
read) goes through :class:`~prompt_a_video.rewards.text.checks.TextChecks` against its
original prompt, with the floors of ``TEXT_FLOORS``:

- **degenerate**: ``REP <= 0.75`` (repeated words or phrases), ``LEX <= 0.5`` (a coined
  word: "lifetacular"), ``TAG <= 0.5`` (a tag dump: 8+ short comma items in a row),
  ``FLU <= -8.5`` (only when a fluency LM is used), or an empty rewrite;
- **leaked**: ``LEAK <= 0.8`` (echoed instructions, chat markup, assistant talk);
- **intent kept**: ``INT > 0.7`` (the original's content words are still there);
- **passes**: neither degenerate nor leaked, and the intent kept.

A rewrite identical to its original prompt (every ``original`` sample; a refiner that
returns the prompt unchanged) always passes, unchecked: it is what the user wrote.

Per method, ``degenerate_rate``, ``intent_kept_rate``, ``leakage_rate`` and
``text_pass_rate`` are shares of its rewrites. The verdicts also gate the win rate
(``statistics.compute_metrics``): a prompt counts as a win (or half of one, a tie) for a
method only when every sample it wrote for that prompt passes.

Fluency uses the ``smollm2-135m-instruct`` offline asset when it is installed
(:func:`default_text_checks`); without it fluency is skipped, and ``metrics.json`` says
which (``text_checks.fluency_model``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prompt_a_video.rewards.text.checks import TextChecks, TextVerdict

log = logging.getLogger(__name__)

FLUENCY_MODEL = "smollm2-135m-instruct"

# The verdict of a rewrite that is the original prompt itself.
UNCHANGED = TextVerdict(scores={}, degenerate=False, leaked=False, intent_kept=True)

Key = tuple[str, str, Any]  # (method, prompt, sample)
_TEXT_KEYS = ("method", "prompt", "text")


def default_text_checks(fluency_model: str | None = FLUENCY_MODEL) -> TextChecks:
    """``TextChecks`` with ``TEXT_FLOORS``, fluency scored by ``fluency_model`` when it is
    at hand: an offline asset name when installed, a local causal-LM folder when it
    exists; otherwise (or with None) fluency is skipped."""
    fluency = None
    if fluency_model:
        from prompt_a_video.assets import ASSETS, is_installed
        from prompt_a_video.rewards.text.fluency import FluencyScorer

        present = is_installed(fluency_model) if fluency_model in ASSETS else Path(fluency_model).expanduser().is_dir()
        if present:
            fluency = FluencyScorer(fluency_model)
        else:
            log.warning("evaluate: fluency model %s is not installed (`pav assets install %s`): the text checks "
                        "skip fluency", fluency_model, fluency_model)
    return TextChecks(fluency=fluency)


def checks_info(checks: TextChecks) -> dict[str, Any]:
    """What ``metrics.json`` records as ``text_checks``: the floors and the fluency LM (None: skipped)."""
    fluency = checks.fluency
    model = None if fluency is None else getattr(fluency, "model", type(fluency).__name__)
    return {"floors": {k: float(v) for k, v in checks.floors.items()}, "fluency_model": model}


def _key(entry: Mapping[str, Any]) -> Key:
    return entry["method"], entry["prompt"], entry.get("sample", 0)


def rewrite_verdicts(entries: Iterable[Mapping[str, Any]], checks: TextChecks) -> dict[Key, TextVerdict]:
    """``{(method, prompt, sample): verdict}`` of each entry's ``text`` against its ``prompt``.

    The first entry of a key counts (a resumed run may repeat one); entries without a
    string ``text``/``prompt`` are skipped. Each distinct (prompt, text) is checked once,
    in one batched call (the fluency LM runs once over all of them).
    """
    texts: dict[Key, tuple[str, str]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not all(isinstance(entry.get(k), str) for k in _TEXT_KEYS):
            continue
        texts.setdefault(_key(entry), (entry["prompt"], entry["text"]))
    pairs = list(dict.fromkeys(pair for pair in texts.values() if pair[1].strip() != pair[0].strip()))
    found = dict(zip(pairs, checks([p for p, _ in pairs], [t for _, t in pairs]))) if pairs else {}
    return {key: found.get(pair, UNCHANGED) for key, pair in texts.items()}


def check_rates(rewrites: Sequence[Mapping[str, Any]],
                verdicts: Mapping[Key, TextVerdict]) -> dict[str, dict[str, float | None]]:
    """Per method: ``{"degenerate_rate", "intent_kept_rate", "leakage_rate", "text_pass_rate"}``,
    shares of its rewrites (unique by (method, prompt, sample)) that have a verdict."""
    by_method: dict[str, list[TextVerdict]] = {}
    seen: set[Key] = set()
    for r in rewrites:
        key = _key(r)
        if key in seen or key not in verdicts:
            continue
        seen.add(key)
        by_method.setdefault(r["method"], []).append(verdicts[key])
    return {method: {
        "degenerate_rate": sum(v.degenerate for v in vs) / len(vs),
        "intent_kept_rate": sum(v.intent_kept for v in vs) / len(vs),
        "leakage_rate": sum(v.leaked for v in vs) / len(vs),
        "text_pass_rate": sum(v.passes for v in vs) / len(vs),
    } for method, vs in by_method.items()}


def failing_prompts(verdicts: Mapping[Key, TextVerdict], method: str) -> set[str]:
    """Prompts for which at least one of ``method``'s samples fails the checks."""
    return {prompt for (m, prompt, _), v in verdicts.items() if m == method and not v.passes}


EMPTY_RATES: dict[str, None] = {"degenerate_rate": None, "intent_kept_rate": None, "leakage_rate": None,
                                "text_pass_rate": None}
