"""The official DPO data pipeline's candidate and score files, read and re-filtered.

Prompt-A-Video (jiyt17/Prompt-A-Video) builds its DPO data in four steps, each a script
that writes one JSON file (a list, rewritten whole after every record):

1. ``booster/dpo/inference.py`` samples 5 rewrites per source prompt with the SFT model
   and writes ``prompts_candidates.json``: per source prompt ``{"index": int (its position),
   "user_prompts": the Llama-3 chat text it was sampled with, "org_prompt": the user's
   prompt, "refined_prompts": [5 strings]}``. The original is not among the candidates.
2. ``text-to-video/CogVideoX/sample_video_dpo.py`` / ``OpenSora/inference_dpo.py`` render
   ``refined_prompts[i]`` to ``{index}-{i}.mp4``.
3. Three scripts score each video against ``org_prompt`` (the ORIGINAL prompt) and write
   a copy of each candidates record with one key added; a record any of whose videos is
   missing is left out:
   ``rewards/video_score_dpo.py`` -> ``candidates_prompts_videoscore.json``, key
   ``"refined_scores"``: per candidate ``{"VQ", "TC", "DD", "TVA", "FC"}`` (VideoScore, 1-4);
   ``rewards/aes_predictor_dpo.py`` -> ``candidates_prompts_aes.json``, key
   ``"aes_scores"``: per candidate a number (LAION aesthetic predictor, about 1-10);
   ``rewards/mps_dpo.py`` -> ``candidates_prompts_mps.json``, key ``"mps_scores"``: per
   candidate a number (MPS).
4. The merge into ``prompts_candidates_scores.json`` is not in the repository; what
   ``booster/dpo/filter.py`` reads from it is: ``item["user_prompts"]``,
   ``item["refined_prompts"][i]`` and ``item["refined_scores"][i]`` with all seven keys
   ``VQ TC FC DD TVA AES MPS``.

The official names are ours (``prompt_a_video.rewards.presets``), and every score is
raw: AES and MPS are the predictors' own numbers, as ``filter.py`` weighs them itself
(``AES * 4 / 5 + MPS / 3``) and floors them raw (``AES > 5.5``, ``MPS > 8.5``), exactly
our ``pair_filtering`` preset, which ``PaperPairRule`` takes its floors from. Nothing is
converted. (The evolution logs differ: ``booster/finetuning/gpt_boost.py`` stores
``AES * 5 / 8`` and ``MPS / 4`` already weighted.)

:func:`read_paper_candidates` reads any of these files (joined by ``index`` when several
are given) into one :class:`PaperPrompt` per original prompt; :func:`pairs_from_paper_candidates`
turns them into our preference pairs with a :class:`~prompt_a_video.evolution.pair_rules.PairRule`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataFormatError, ErrorPolicy, InvalidRecord
from .jsonfile import load_json_list
from .jsonl import require_file
from .paper_chat import user_prompt_of
from .validation import check_number, check_prompt, check_scores, describe, is_count, require_key

log = logging.getLogger(__name__)

__all__ = ["PaperCandidate", "PaperPrompt", "read_paper_candidates", "pairs_from_paper_candidates"]

#: Per-candidate score lists of the official per-reward files -> our dimension.
SCORE_LISTS = {"aes_scores": "AES", "mps_scores": "MPS"}


@dataclass
class PaperCandidate:
    """One of the official refiner's rewrites of a prompt.

    Attributes:
        text: the rewrite (``refined_prompts[position]``), stripped; may be empty.
        scores: ``{dimension: raw score}`` under our names; empty for a candidates-only file.
        index: the official record's ``"index"``.
        position: its place in ``refined_prompts`` (the video ``{index}-{position}.mp4``).
        item: the record's place in the first file read (``json.load(f)[item]``).
    """

    text: str
    scores: dict[str, float]
    index: int
    position: int
    item: int


@dataclass
class PaperPrompt:
    """An original prompt and every official candidate of it (several records when the
    prompt repeats in the source list, in file order)."""

    prompt: str
    candidates: list[PaperCandidate] = field(default_factory=list)
    chat: str | None = None  # the official "user_prompts" chat text, when present


@dataclass
class _Record:
    item: int
    index: int
    prompt: str
    chat: str | None
    texts: list[str]
    scores: list[dict[str, float]]


def _parse(value: Any, item: int) -> _Record:
    if not isinstance(value, Mapping):
        raise InvalidRecord(f'expected a candidates object {{"index", "org_prompt", "refined_prompts", ...}}, '
                            f"got {describe(value)}")
    index = require_key(value, "index")
    if not is_count(index, 0):
        raise InvalidRecord(f"index: expected an int >= 0, got {describe(index)}")
    where = f"index {index}"
    try:
        return _parse_fields(value, item, index)
    except InvalidRecord as exc:
        raise InvalidRecord(f"{where}: {exc.problem}") from None


def _parse_fields(value: Mapping, item: int, index: int) -> _Record:
    chat = value.get("user_prompts")
    if chat is not None and not isinstance(chat, str):
        raise InvalidRecord(f"user_prompts: expected a string, got {describe(chat)}")
    if "org_prompt" in value or chat is None:
        prompt = check_prompt(require_key(value, "org_prompt"), "org_prompt")
        if chat is not None and prompt not in chat:
            raise InvalidRecord(f"org_prompt {describe(prompt)} is not in user_prompts, the text it was "
                                "sampled with (booster/dpo/inference.py puts it there)")
    else:  # the chat text alone: the user's prompt inside it
        from prompt_a_video.modules.backbone import PAPER_TASK_PROMPT

        prompt = check_prompt(user_prompt_of(chat), "user_prompts")
        if "<|" in chat and PAPER_TASK_PROMPT + prompt not in chat:
            raise InvalidRecord("no org_prompt, and user_prompts is not a Llama-3 chat text with the paper's "
                                "task text (booster/dpo/inference.py), so the user's prompt cannot be told apart")
    texts = require_key(value, "refined_prompts")
    if not isinstance(texts, list) or not texts:
        raise InvalidRecord(f"refined_prompts: expected a non-empty list of strings, got {describe(texts)}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidRecord(f"refined_prompts[{i}]: expected a string, got {describe(text)}")
    n = len(texts)
    scores: list[dict[str, float]] = [{} for _ in texts]
    if "refined_scores" in value:
        per = _per_candidate(value["refined_scores"], "refined_scores", n)
        for i, s in enumerate(per):
            scores[i].update(check_scores(s, f"refined_scores[{i}]"))
    for key, dim in SCORE_LISTS.items():
        if key not in value:
            continue
        for i, number in enumerate(_per_candidate(value[key], key, n)):
            number = check_number(number, f"{key}[{i}]", nullable=True)
            _put(scores[i], dim, math.nan if number is None else number, f"{key}[{i}]")
    return _Record(item, index, prompt, chat, [t.strip() for t in texts], scores)


def _per_candidate(value: Any, key: str, n: int) -> list:
    if not isinstance(value, list) or len(value) != n:
        raise InvalidRecord(f"{key}: expected a list of {n} (one per refined prompt), got {describe(value)}")
    return value


def _put(scores: dict[str, float], dim: str, value: float, where: str) -> None:
    old = scores.get(dim)
    if old is not None and not (old == value or (math.isnan(old) and math.isnan(value))):
        raise InvalidRecord(f"{where}: {dim} {value} disagrees with {dim} {old} given elsewhere for this candidate")
    scores[dim] = value


def _read(path: Path, policy: ErrorPolicy) -> dict[int, _Record]:
    require_file(path)
    items = load_json_list(path, 'candidate records {"index", "org_prompt", "refined_prompts", ...} '
                                 "(booster/dpo/inference.py, rewards/*_dpo.py)")
    records: dict[int, _Record] = {}
    for item, value in enumerate(items):
        try:
            record = _parse(value, item)
            if record.index in records:
                raise InvalidRecord(f"index {record.index} appears again (first at item {records[record.index].item})")
        except InvalidRecord as exc:
            policy.handle(DataFormatError(path, f"item {item}", exc.problem))
            continue
        records[record.index] = record
    return records


def _join(base: dict[int, _Record], path: Path, extra: dict[int, _Record], first: Path, known: set[int],
          policy: ErrorPolicy) -> None:
    """Add ``extra``'s scores to ``base``'s records of the same index; drop the others of
    ``base`` (the official scorers leave out a record whose videos are missing). ``known``:
    the indices of ``first``, the file ``base`` was read from."""
    for index, record in extra.items():
        mine = base.get(index)
        try:
            if index not in known:
                raise InvalidRecord(f"index {index}: no such record in {first}")
            if mine is None:
                continue  # left out by an earlier file already
            if (record.prompt, record.texts) != (mine.prompt, mine.texts):
                raise InvalidRecord(f"index {index}: its org_prompt or refined_prompts differ from those of "
                                    f"{first} item {mine.item}")
            merged = [dict(s) for s in mine.scores]
            for i, scores in enumerate(record.scores):
                for dim, value in scores.items():
                    _put(merged[i], dim, value, f"refined_prompts[{i}] (against {first})")
        except InvalidRecord as exc:
            policy.handle(DataFormatError(path, f"item {record.item}", exc.problem))
            base.pop(index, None)
            continue
        mine.scores = merged
    dropped = [i for i in base if i not in extra]
    for index in dropped:
        del base[index]
    if dropped:
        log.warning("%s: %d record(s) of %s have no scores there (e.g. index %d) and are left out",
                    path, len(dropped), first, dropped[0])


def read_paper_candidates(
    path: str | os.PathLike,
    *score_files: str | os.PathLike,
    errors: str = "raise",
    skipped: list[DataFormatError] | None = None,
) -> list[PaperPrompt]:
    """Read the official DPO candidates, one :class:`PaperPrompt` per original prompt.

    Args:
        path: ``prompts_candidates.json`` (no scores), the merged
            ``prompts_candidates_scores.json``, or one per-reward file.
        score_files: per-reward files (``candidates_prompts_{videoscore,aes,mps}.json``)
            whose scores are joined to ``path``'s records by ``index``; a record missing
            from one of them is left out (with a warning), as the official scorers leave
            out records whose videos are missing. Their prompts must match ``path``'s.
        errors, skipped: see ``ErrorPolicy``; a bad record is located as ``"item N"``
            (0-based, in the file named) and its problem names its ``index``.

    Returns the prompts in the order of ``path``; scores under our dimension names (the
    official ones: ``VQ TC DD TVA FC`` from ``refined_scores``, ``AES`` and ``MPS`` from
    ``refined_scores`` or ``aes_scores``/``mps_scores``), raw, as the official files hold them.
    """
    policy = ErrorPolicy(errors, skipped)
    first = Path(path)
    records = _read(first, policy)
    known = set(records)
    for other in map(Path, score_files):
        _join(records, other, _read(other, policy), first, known, policy)
    prompts: dict[str, PaperPrompt] = {}
    for record in sorted(records.values(), key=lambda r: r.item):
        entry = prompts.setdefault(record.prompt, PaperPrompt(record.prompt, chat=record.chat))
        entry.candidates += [PaperCandidate(text, scores, record.index, i, record.item)
                             for i, (text, scores) in enumerate(zip(record.texts, record.scores))]
    return list(prompts.values())


def pairs_from_paper_candidates(
    path: str | os.PathLike,
    rule=None,
    *,
    score_files: Sequence[str | os.PathLike] = (),
    preset: str = "pair_filtering",
    text_checks: bool = True,
    fluency=None,
    errors: str = "raise",
    skipped: list[DataFormatError] | None = None,
) -> list:
    """Our preference pairs (``PreferencePair``) from the official candidates and scores.

    Each candidate becomes a :class:`~prompt_a_video.evolution.pair_rules.ScoredCandidate`
    whose ``reward`` is the ``preset``'s weighted sum of its scores (``pair_filtering``:
    ``VQ + TC + FC + 1.1*DD + 1.3*TVA + 0.8*AES + MPS/3``, the aggregate of
    ``booster/dpo/filter.py``) and ``rule.pairs(original, candidates)`` picks the pairs.

    Args:
        path, score_files: as :func:`read_paper_candidates`; together they must give every
            dimension the preset weighs.
        rule: a ``PairRule``; default ``PaperPairRule`` with the preset's floors on the
            dimensions there are scores for (the official filter's seven, plus the text
            floors REP, LEAK, INT, LEX, TAG, and FLU when ``fluency`` is given).
        text_checks: add our text scores (``REP``, ``LEAK``, ``INT``, ``LEX``, ``TAG``; ``FLU`` with
            ``fluency``), computed from the texts, so a degenerate rewrite is never chosen;
            the official files have none. The paper's task text counts as an instruction
            a rewrite must not echo.
        fluency: a ``FluencyScorer`` or an LM name/folder for ``FLU``, or None (no LM).
        errors, skipped: see ``ErrorPolicy``; a prompt a candidate of which lacks a
            weighted dimension is a bad record too.
    """
    from prompt_a_video.evolution.pair_rules import PaperPairRule, ScoredCandidate
    from prompt_a_video.rewards.presets import get_preset

    policy = ErrorPolicy(errors, skipped)
    prompts = read_paper_candidates(path, *score_files, errors=errors, skipped=skipped)
    chosen_preset = get_preset(preset)
    weights, floors = chosen_preset.weights, chosen_preset.floors
    text = _text_scores(prompts, fluency) if text_checks else {}
    built: list[tuple[str, list[ScoredCandidate]]] = []
    for entry in prompts:
        candidates = []
        for c in entry.candidates:
            scores = {**text.get((entry.prompt, c.text), {}), **c.scores}
            missing = sorted(d for d in weights if d not in scores)
            if missing:
                where = ", ".join(str(f) for f in (path, *score_files))
                policy.handle(DataFormatError(path, f"item {c.item}", (
                    f"index {c.index}, refined_prompts[{c.position}]: no {'/'.join(missing)} score, which the "
                    f"{preset} preset weighs (read from {where}; give the merged prompts_candidates_scores.json "
                    "or every per-reward file)")))
                candidates = None
                break
            reward = chosen_preset.weighted_sum(scores)
            candidates.append(ScoredCandidate(c.text, scores, reward))
        if candidates is not None:
            built.append((entry.prompt, candidates))
    if not built:
        return []
    dimensions = tuple(sorted(set.intersection(*(set(c.scores) for _, cs in built for c in cs))))
    usable = {d: f for d, f in floors.items() if d in dimensions}
    for _, candidates in built:
        for c in candidates:
            c.passes_floors = all(c.scores[d] > f for d, f in usable.items())
    if rule is None:
        rule = PaperPairRule(floors=usable)
        unused = sorted(set(floors) - set(usable))
        if unused:
            log.info("pairs from %s: no scores for the %s floor(s) %s; not applied", path, preset, unused)
    rule.check_dimensions(dimensions)
    return [pair for prompt, candidates in built for pair in rule.pairs(prompt, candidates)]


def _text_scores(prompts: list[PaperPrompt], fluency) -> dict[tuple[str, str], dict[str, float]]:
    """``{(original, text): {REP, LEAK, INT, LEX, TAG[, FLU]}}``; NaN for an empty text (never used)."""
    from prompt_a_video.modules.backbone import PAPER_TASK_PROMPT
    from prompt_a_video.rewards.text.checks import TextChecks
    from prompt_a_video.rewards.text.leakage import default_instructions

    pairs = list(dict.fromkeys((p.prompt, c.text) for p in prompts for c in p.candidates if c.text))
    checks = TextChecks(floors={}, fluency=fluency, instructions=default_instructions() + [PAPER_TASK_PROMPT])
    verdicts = checks([o for o, _ in pairs], [t for _, t in pairs]) if pairs else []
    out = {key: dict(v.scores) for key, v in zip(pairs, verdicts)}
    dims = next(iter(out.values())).keys() if out else ("REP", "LEAK", "INT", "LEX", "TAG")
    for p in prompts:
        for c in p.candidates:
            out.setdefault((p.prompt, c.text), dict.fromkeys(dims, math.nan))
    return out
