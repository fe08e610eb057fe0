"""Prompt sets: the inputs of evolution, pair building, refinement and evaluation.

A prompt set is a ``.txt`` file (one prompt a line; blank lines and lines whose first
non-space character is ``#`` are skipped: :func:`read_prompt_lines`, the rule of prompts
piped to ``pav refine`` too), a ``.jsonl`` file (a ``"prompt"`` key per record, other
keys kept as metadata), or a named set:

- VBench's 946 prompts (``vbench``, or ``vbench:scene,color`` for some dimensions), read
  from the offline asset; the out-of-domain evaluation set, never a training source;
- the project's own source prompts, shipped in the package (``pav:evolution``,
  ``pav:dpo``, ``pav:eval``: disjoint splits for evolution/SFT, DPO pairs and in-domain
  evaluation; see :mod:`prompt_a_video.data.prompt_sets` and DESIGN.md, "Prompt splits");
- ``pav:wild``, shipped too: held-out real-looking user prompts, evaluation only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataFormatError, ErrorPolicy, InvalidRecord
from .jsonfile import iter_json_list, load_json_list
from .jsonl import require_file, decode_line, iter_jsonl
from .validation import check_prompt, describe, is_count, require_key

__all__ = ["PromptItem", "load_prompts", "read_prompt_lines", "write_prompts_txt", "check_limit", "check_seeds",
           "VBENCH_FILE", "COMMENT", "parse_set_name"]

#: The file inside the ``vbench`` asset folder.
VBENCH_FILE = "VBench_full_info.json"
#: A line of a line file whose first non-space character is this is a comment.
COMMENT = "#"
_NAMED_SETS = ("vbench", "pav")
_LINE_RULE = f"blank lines and lines starting with {COMMENT!r} are skipped"


@dataclass
class PromptItem:
    """One prompt of a set, with where it came from (for messages) and its metadata.

    Attributes:
        prompt: the prompt, stripped of surrounding whitespace.
        meta: the record's other keys (``.jsonl``), or VBench's ``dimensions`` list and
            ``auxiliary_info``.
        source: the file it was read from.
        line: its 1-based line, or ``"item N"`` in a JSON list file.
    """

    prompt: str
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    line: int | str = 0

    def to_dict(self) -> dict[str, Any]:
        """The ``.jsonl`` prompt-set record: ``{"prompt": ..., **meta}``."""
        return {"prompt": self.prompt, **{k: v for k, v in self.meta.items() if k != "prompt"}}


def parse_set_name(source: str) -> tuple[str, list[str]] | None:
    """``"vbench:scene,color"`` → ``("vbench", ["scene", "color"])``, ``"pav:dpo"`` → ``("pav", ["dpo"])``;
    None if not a named set."""
    name, sep, rest = source.partition(":")
    if name not in _NAMED_SETS:
        return None
    dims = [d.strip() for d in rest.split(",") if d.strip()]
    if sep and not dims:
        raise ValueError(f"{source!r}: no dimension after ':' (write e.g. '{name}:scene,color')")
    return name, dims


def check_limit(limit: Any, field: str = "limit") -> int | None:
    """``limit``, if it is a number of prompts to keep: an int >= 1, or None for all.

    ``field`` names the setting in the message, as the user writes it (``limit``,
    ``evaluation.limit``).
    """
    if limit is not None and not is_count(limit, 1):
        raise ValueError(f"{field} must be an int >= 1, or null for all the prompts; got {describe(limit)}")
    return limit


def check_seeds(seeds: Any, field: str = "seeds") -> list[int]:
    """Render seeds as a list: a non-empty list of distinct ints >= 0; None means ``[0]``.

    ``field`` names the setting in the message (``seeds``, ``evaluation.seeds``).
    """
    if seeds is None:
        return [0]
    if (not isinstance(seeds, (list, tuple)) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        shown = repr(list(seeds)) if isinstance(seeds, (list, tuple)) else describe(seeds)
        raise ValueError(f"{field} must be a non-empty list of distinct ints >= 0 (e.g. [0, 1]); "
                         f"got {shown if len(shown) <= 60 else shown[:57] + '...'}")
    repeated = next((s for i, s in enumerate(seeds) if s in seeds[:i]), None)
    if repeated is not None:
        raise ValueError(f"{field} must be a non-empty list of distinct ints >= 0; seed {repeated} is listed twice")
    return list(seeds)


def load_prompts(
    source: str | os.PathLike,
    *,
    dimensions: list[str] | None = None,
    limit: int | None = None,
    errors: str = "raise",
    skipped: list[DataFormatError] | None = None,
) -> list[PromptItem]:
    """Load a prompt set: a ``.txt`` or ``.jsonl`` file, ``vbench[:dim,...]`` or ``pav:<name>``.

    A string naming a set (``"vbench"``) is the set even if a file of that name exists;
    pass a ``Path`` to mean the file. ``dimensions`` filters VBench (a prompt is kept if
    any of its dimensions is listed; combined with the ``vbench:`` list by union).
    ``limit``: only the first ``limit`` prompts (an int >= 1, see :func:`check_limit`;
    None: all). A set without a single prompt is a ``ValueError`` naming it.
    ``errors``/``skipped``: see ``ErrorPolicy``.
    """
    check_limit(limit)
    found: list[DataFormatError] = [] if skipped is None else skipped
    before = len(found)
    items = _load(source, dimensions, ErrorPolicy(errors, found))
    if not items:
        dropped = len(found) - before
        why = f"; {dropped} malformed record(s) skipped" if dropped else \
            f" ({_LINE_RULE} in a .txt file)" if str(source).lower().endswith(".txt") else ""
        raise ValueError(f"{source}: no prompt in this prompt set{why}")
    return items if limit is None else items[:limit]


def _load(source: str | os.PathLike, dimensions: list[str] | None, policy: ErrorPolicy) -> list[PromptItem]:
    named = parse_set_name(source) if isinstance(source, str) else None
    if named is not None:
        name, dims = named
        if name == "pav":
            if dimensions:
                raise ValueError(f"dimensions= filters only the named set 'vbench', not {source!r}")
            return _load_shipped(source, dims, policy)
        return _load_vbench(sorted(set(dims) | set(dimensions or ())) or None, policy)
    if dimensions:
        raise ValueError(f"dimensions= filters only the named set 'vbench', not the file {source}")
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".jsonl"):
        raise ValueError(
            f"{path}: not a prompt set; expected a .txt file (one prompt a line), a .jsonl "
            f"file with a 'prompt' key, or a named set: 'vbench', 'vbench:DIM,...' or 'pav:NAME'"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: prompt file not found (expected a .txt or .jsonl prompt set, "
            f"or a named set such as 'vbench')"
        )
    if suffix == ".txt":
        return _load_txt(path, policy)
    return _load_jsonl(path, policy)


def _load_txt(path: Path, policy: ErrorPolicy) -> list[PromptItem]:
    def lines() -> Iterator[tuple[int, str]]:
        offset = 0
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, start=1):
                start, offset = offset, offset + len(raw)
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw, start = raw[3:], start + 3
                try:
                    yield lineno, decode_line(path, lineno, raw, start)
                except DataFormatError as err:
                    policy.handle(err)

    return _prompt_lines(lines(), path, policy)


def read_prompt_lines(text: str, source: str = "<stdin>", *, errors: str = "raise",
                      skipped: list[DataFormatError] | None = None) -> list[PromptItem]:
    """The prompts of a line file's text (what ``pav refine`` reads on stdin), by the rule
    of ``.txt`` prompt sets: one prompt a line, surrounding whitespace stripped; blank
    lines and lines whose first non-space character is ``#`` (comments) are skipped.
    Problems are named ``source:line``. May be empty."""
    text = text[1:] if text.startswith("\ufeff") else text
    return _prompt_lines(enumerate(text.split("\n"), start=1), source, ErrorPolicy(errors, skipped))


def _prompt_lines(lines: Iterable[tuple[int, str]], source: str | os.PathLike,
                  policy: ErrorPolicy) -> list[PromptItem]:
    """The one rule of every line file: blank lines and ``#`` comment lines are skipped,
    every other line is a prompt (checked as a reader checks any prompt)."""
    items: list[PromptItem] = []
    for lineno, text in lines:
        stripped = text.strip()
        if not stripped or stripped.startswith(COMMENT):
            continue
        try:
            prompt = check_prompt(stripped, field=None)
        except InvalidRecord as exc:
            policy.handle(DataFormatError(source, lineno, exc.problem))
            continue
        items.append(PromptItem(prompt, {}, str(source), lineno))
    return items


def _parse_prompt_record(record: dict) -> tuple[str, dict]:
    prompt = check_prompt(require_key(record, "prompt"), "prompt")
    return prompt, {k: v for k, v in record.items() if k != "prompt"}


def _load_jsonl(path: Path, policy: ErrorPolicy) -> list[PromptItem]:
    records = iter_jsonl(path, parse=_parse_prompt_record, errors=policy.errors, skipped=policy.skipped)
    return [PromptItem(prompt, meta, str(path), lineno) for lineno, (prompt, meta) in records]


def _parse_vbench_item(item: Any) -> tuple[str, dict]:
    if not isinstance(item, dict):
        raise InvalidRecord(f"expected an object with 'prompt_en' and 'dimension', got {describe(item)}")
    prompt = check_prompt(require_key(item, "prompt_en"), "prompt_en")
    dims = require_key(item, "dimension")
    if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
        raise InvalidRecord(f"dimension: expected a list of strings, got {describe(dims)}")
    meta: dict[str, Any] = {"dimensions": list(dims)}
    if "auxiliary_info" in item:
        meta["auxiliary_info"] = item["auxiliary_info"]
    return prompt, meta


def _load_vbench(dimensions: list[str] | None, policy: ErrorPolicy) -> list[PromptItem]:
    # Imported here: the assets module is only needed for named sets.
    from prompt_a_video.assets import require_asset

    path = Path(require_asset("vbench")) / VBENCH_FILE
    require_file(path)
    raw = load_json_list(path, "objects with 'prompt_en' and 'dimension'")
    items = [
        PromptItem(prompt, meta, str(path), loc)
        for loc, (prompt, meta) in iter_json_list(path, raw, _parse_vbench_item, policy)
    ]
    if not dimensions:
        return items
    valid = sorted({d for item in items for d in item.meta["dimensions"]})
    unknown = [d for d in dimensions if d not in valid]
    if unknown:
        raise ValueError(
            f"unknown VBench dimension(s) {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}"
        )
    wanted = set(dimensions)
    return [item for item in items if wanted.intersection(item.meta["dimensions"])]


def _load_shipped(source: str, splits: list[str], policy: ErrorPolicy) -> list[PromptItem]:
    """``pav:<name>``: one of the prompt files shipped in ``prompt_a_video.data.prompt_sets``
    (a split, or the held-out ``wild`` set)."""
    from importlib.resources import as_file, files

    from prompt_a_video.data.prompt_sets import HELD_OUT, NAMES, SPLITS

    if len(splits) != 1 or splits[0] not in NAMES:
        raise ValueError(f"{source!r}: name one of the project's prompt sets: "
                         f"{', '.join('pav:' + s for s in SPLITS)} (splits), "
                         f"{', '.join('pav:' + s for s in HELD_OUT)} (held out, evaluation only)")
    with as_file(files("prompt_a_video.data.prompt_sets") / f"{splits[0]}.txt") as path:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the shipped prompt file is missing (a broken install? the package "
                                    "data of prompt_a_video.data.prompt_sets was not installed)")
        return _load_txt(Path(path), policy)


def write_prompts_txt(path: str | os.PathLike, prompts: Iterable[str | PromptItem]) -> int:
    """Write a ``.txt`` prompt set (one prompt a line, UTF-8); returns the count.

    Each prompt is checked like a reader would, must fit on one line and must not start
    with ``#`` (the reader would skip it as a comment). The file is written whole (a
    prompt set is small and written once, not appended to).
    """
    path = Path(path)
    lines = []
    for i, p in enumerate(prompts):
        text = p.prompt if isinstance(p, PromptItem) else p
        try:
            text = check_prompt(text, field=None)
        except InvalidRecord as exc:
            raise ValueError(f"prompt {i}: {exc}") from None
        if "\n" in text or "\r" in text:
            raise ValueError(f"prompt {i}: contains a line break; use a .jsonl prompt set instead")
        if text.startswith(COMMENT):
            raise ValueError(f"prompt {i}: starts with {COMMENT!r}, which a .txt prompt set reads as a comment; "
                             "use a .jsonl prompt set instead")
        lines.append(text + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8", newline="\n")
    return len(lines)
