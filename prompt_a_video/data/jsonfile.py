"""Whole-document JSON files (the paper's released data): located errors, item by item.

The paper ships its data as one JSON list per file. Such a file can only be parsed
whole, so a syntax error or a bad byte fails the whole file (even under
``errors="skip"``, as there is no record to skip to); the error still names the line.
Problems inside one item are per record and follow the error policy, located as
``"item N"`` (0-based index into the list).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import DataFormatError, ErrorPolicy, InvalidRecord
from .jsonl import decode_line
from .validation import describe

__all__ = ["load_json_document", "load_json_list", "iter_json_list"]


def load_json_document(path: Path) -> Any:
    """Parse a whole JSON file; bad UTF-8 or bad JSON → ``DataFormatError`` with its line."""
    data = path.read_bytes()
    offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[offset:].decode("utf-8")
    except UnicodeDecodeError as exc:
        # Re-decode the offending line alone to report the line number and column.
        pos = offset + exc.start
        lineno = data.count(b"\n", 0, pos) + 1
        line_start = data.rfind(b"\n", 0, pos) + 1
        line_end = data.find(b"\n", pos)
        raw = data[line_start:] if line_end < 0 else data[line_start:line_end]
        decode_line(path, lineno, raw, line_start)  # raises with column and offset
        raise  # pragma: no cover - decode_line always raises here
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, exc.lineno, f"not valid JSON: {exc.msg} at column {exc.colno}") from None


def load_json_list(path: Path, expected: str) -> list:
    """A JSON file whose top level must be a list; ``expected`` describes its items."""
    value = load_json_document(path)
    if not isinstance(value, list):
        raise DataFormatError(path, 1, f"expected a JSON list of {expected}, got {describe(value)}")
    return value


def iter_json_list(
    path: Path, items: list, parse: Callable[[Any], Any], policy: ErrorPolicy
) -> Iterator[tuple[str, Any]]:
    """Yield ``("item N", parse(item))``; ``InvalidRecord`` goes through the policy."""
    for index, item in enumerate(items):
        location = f"item {index}"
        try:
            record = parse(item)
        except InvalidRecord as exc:
            policy.handle(DataFormatError(path, location, exc.problem))
            continue
        yield location, record
