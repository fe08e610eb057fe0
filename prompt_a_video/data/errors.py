"""Errors of the data readers, and the error policy that every reader shares.

A data file is usually produced by one stage and read by a later one, hours apart. When
it is broken the user needs to find the broken spot with an editor, so every reader error
names the file, the location (a 1-based line number, or ``"item N"`` inside a JSON list)
and what was wrong.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

__all__ = [
    "DataFormatError",
    "DataFormatWarning",
    "ErrorPolicy",
    "InvalidRecord",
    "ERROR_MODES",
]

#: The values of the ``errors=`` keyword that every reader accepts.
ERROR_MODES = ("raise", "skip")


class DataFormatError(ValueError):
    """A record (or a whole file) that a reader could not accept.

    ``str(err)`` is ``"{path}:{line}: {problem}"``, the form editors and terminals turn
    into a link to the spot.

    Attributes:
        path: the file, as a ``Path``.
        line: 1-based line number (int), or a location string such as ``"item 12"``
            (0-based index into a JSON list, so ``json.load(f)[12]`` is the record).
        problem: what was wrong, without the location.
    """

    def __init__(self, path: str | os.PathLike, line: int | str, problem: str):
        self.path = Path(path)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.path}:{line}: {problem}")

    def __reduce__(self):
        # The default pickling calls cls(message); keep the three fields instead, so the
        # error survives being sent between processes (DataLoader workers, DDP ranks).
        return (type(self), (self.path, self.line, self.problem))


class InvalidRecord(ValueError):
    """A record that does not fit its format, raised before its location is known.

    The ``from_dict`` parsers raise it with the problem text alone (e.g.
    ``candidates[3].scores.TVA: expected a number, got "high"``); the reader that called
    them adds the path and line and turns it into a ``DataFormatError``.
    """

    @property
    def problem(self) -> str:
        return str(self)


class DataFormatWarning(UserWarning):
    """Emitted for each record that a reader skipped under ``errors="skip"``."""


class ErrorPolicy:
    """What a reader does with a bad record: raise it, or warn, count it and go on.

    Args:
        errors: ``"raise"`` (the default of every reader: a broken file stops the run) or
            ``"skip"`` (drop the record, emit a ``DataFormatWarning`` with the error text,
            and append the error to ``skipped`` when a list is given, so the caller can
            count what was lost).
        skipped: a list to collect the skipped errors in, or None.
    """

    def __init__(self, errors: str = "raise", skipped: list[DataFormatError] | None = None):
        if errors not in ERROR_MODES:
            raise ValueError(f"errors={errors!r}: expected one of {', '.join(map(repr, ERROR_MODES))}")
        if skipped is not None and not isinstance(skipped, list):
            raise TypeError(f"skipped= must be a list or None, got {type(skipped).__name__}")
        self.errors = errors
        self.skipped = skipped

    def handle(self, err: DataFormatError) -> None:
        """Raise ``err`` or record it as skipped; returns only when the record is dropped."""
        if self.errors == "raise":
            raise err
        warnings.warn(str(err), DataFormatWarning, stacklevel=3)
        if self.skipped is not None:
            self.skipped.append(err)
