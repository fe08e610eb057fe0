"""JSON Lines: a located line reader, a crash-safe appending writer, resume keys.

Every stage writes its output one record a line and flushes after each, so a run that is
killed loses at most the record in flight, and a rerun resumes by skipping the keys that
are already in the file (``existing_keys``). The one damage a kill can do is a last line
cut off mid-record; the reader names it as such, and the writer repairs it before it
appends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import DataFormatError, DataFormatWarning, ErrorPolicy, InvalidRecord
from .validation import describe

__all__ = ["iter_jsonl", "JsonlWriter", "existing_keys", "to_jsonable"]

_BOM = b"\xef\xbb\xbf"
_TRUNCATED = "truncated last line (a run killed mid-write?)"


def require_file(path: Path) -> None:
    # Checked when the reader is called, not when it is first iterated, so a wrong
    # path fails where the user passed it.
    if not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "not found"
        raise FileNotFoundError(f"{path}: {what}")


def decode_line(path: Path, lineno: int, raw: bytes, file_offset: int) -> str:
    """UTF-8 text of one line, or a ``DataFormatError`` naming the bad byte's column.

    Decoding line by line (rather than opening the file in text mode) is what lets the
    error say which line holds the bad byte.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = raw[exc.start]
        raise DataFormatError(
            path, lineno,
            f"not valid UTF-8: byte 0x{byte:02x} at column {exc.start + 1} "
            f"(file offset {file_offset + exc.start})",
        ) from None


def _scan(path: Path) -> Iterator[tuple[int, Any, bool]]:
    """Yield ``(line, object_or_error, is_cut_off_last_line)`` for each non-blank line."""
    offset = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            start, offset = offset, offset + len(raw)
            # Only the very last line can lack its newline; if it also fails to parse it
            # is most likely a record whose write was interrupted.
            partial = not raw.endswith(b"\n")
            if lineno == 1 and raw.startswith(_BOM):
                raw, start = raw[len(_BOM):], start + len(_BOM)
            try:
                text = decode_line(path, lineno, raw, start)
            except DataFormatError as err:
                if partial and _ends_mid_character(raw):
                    err = DataFormatError(path, lineno, f"{_TRUNCATED}: ends inside a UTF-8 character")
                yield lineno, err, partial
                continue
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                problem = f"not valid JSON: {exc.msg} at column {exc.colno}"
                if partial:
                    problem = f"{_TRUNCATED}: {problem}"
                yield lineno, DataFormatError(path, lineno, problem), partial
                continue
            if not isinstance(value, dict):
                err = DataFormatError(path, lineno, f"expected a JSON object, got {describe(value)}")
                yield lineno, err, partial
                continue
            yield lineno, value, partial


def _ends_mid_character(raw: bytes) -> bool:
    """True if the bytes are valid UTF-8 except for a character cut off at the end."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data" and exc.end == len(raw)
    return False


def iter_jsonl(
    path: str | os.PathLike,
    *,
    parse: Callable[[dict], Any] | None = None,
    errors: str = "raise",
    skipped: list[DataFormatError] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, record)`` for each JSON object line of a JSONL file.

    Blank lines are skipped. A line that is not UTF-8, not JSON, or not a JSON object is
    a ``DataFormatError`` with its line number. ``parse`` (e.g. ``PoolRecord.from_dict``)
    turns each object into the record yielded; the ``InvalidRecord`` it raises becomes a
    ``DataFormatError`` at that line. ``errors``/``skipped``: see ``ErrorPolicy``.
    """
    policy = ErrorPolicy(errors, skipped)
    path = Path(path)
    require_file(path)
    return _iter_jsonl(path, parse, policy)


def _iter_jsonl(path: Path, parse, policy: ErrorPolicy) -> Iterator[tuple[int, Any]]:
    for lineno, value, _partial in _scan(path):
        if isinstance(value, DataFormatError):
            policy.handle(value)
            continue
        if parse is not None:
            try:
                value = parse(value)
            except InvalidRecord as exc:
                policy.handle(DataFormatError(path, lineno, exc.problem))
                continue
        yield lineno, value


def existing_keys(path: str | os.PathLike, key: str = "prompt") -> set[str]:
    """The ``key`` values of the records already in a JSONL output file, for resume.

    A missing file gives an empty set; a cut-off last line (a killed run) is ignored,
    since ``JsonlWriter`` removes it before appending. Any other damage raises: a rerun
    should not silently append to a file that is broken in the middle.
    """
    path = Path(path)
    if not path.exists():
        return set()
    keys = set()
    for lineno, value, partial in _scan(path):
        if isinstance(value, DataFormatError):
            if partial:
                continue
            raise value
        if key not in value:
            raise DataFormatError(path, lineno, f"missing key {key!r}, needed to resume")
        keys.add(value[key])
    return keys


def to_jsonable(record: Any) -> dict:
    """A record as a JSON object: ``to_dict()`` if it has one, else a dataclass or mapping."""
    if hasattr(record, "to_dict"):
        return record.to_dict()
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    if isinstance(record, Mapping):
        return dict(record)
    raise TypeError(f"cannot write a {type(record).__name__} as a JSON line: expected a dict or a dataclass")


def _repair_tail(path: Path) -> None:
    """Make an existing file end with a newline before records are appended to it.

    A last line without a newline is either a hand-written file's last record (valid
    JSON: just terminate it) or a record cut off by a kill (remove it, with a warning),
    so that the next appended record starts on its own line.
    """
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        # Find the start of the last line, reading backwards in blocks.
        start, block = size, 1 << 16
        while start > 0:
            lo = max(0, start - block)
            f.seek(lo)
            chunk = f.read(start - lo)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                start = lo + cut + 1
                break
            start = lo
        f.seek(start)
        tail = f.read()
        try:
            complete = isinstance(json.loads(tail.decode("utf-8").lstrip("\ufeff")), dict)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
            complete = False
        if complete:
            f.seek(size)
            f.write(b"\n")
            return
        f.seek(0)
        lineno = f.read(start).count(b"\n") + 1
        f.truncate(start)
    warnings.warn(
        f"{path}:{lineno}: removed a {_TRUNCATED} of {len(tail)} bytes before appending",
        DataFormatWarning, stacklevel=3,
    )


class JsonlWriter:
    """Append records to a JSONL file, one line each, flushed as soon as written.

    Records are dicts, dataclasses, or objects with ``to_dict()`` (``PoolRecord``,
    ``PreferencePair``, ``PromptItem``). Text is UTF-8 with non-ASCII kept as is; NaN is
    written as the bare ``NaN`` token, as Python's ``json`` does (our readers accept it).
    Parent folders are created. One writer per file: it is not safe for several
    processes (DDP ranks) to append to the same file; give each its own.

    Args:
        path: the file; appended to if it exists (after ``_repair_tail``).
        fsync: also ``os.fsync`` after each record, to survive a machine crash and not
            only a killed process; slower.
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = False):
        self.path = Path(path)
        self.fsync = fsync
        self.count = 0  # records written by this writer
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            _repair_tail(self.path)
        self._file = open(self.path, "ab")

    def write(self, record: Any) -> None:
        """Append one record and flush it to the OS."""
        if self._file.closed:
            raise ValueError(f"{self.path}: writer is closed")
        # Serialise fully before writing, so a record that fails to serialise leaves
        # nothing half-written behind.
        line = json.dumps(to_jsonable(record), ensure_ascii=False).encode("utf-8") + b"\n"
        self._file.write(line)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self.count += 1

    def write_many(self, records: Iterable[Any]) -> None:
        for record in records:
            self.write(record)

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JsonlWriter({str(self.path)!r}, count={self.count})"
