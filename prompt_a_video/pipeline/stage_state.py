"""Which pipeline stages are done, for which config: ``WORKDIR/<stage>/stage.json``.

A stage's *key* is a hash of everything that decides its output: its own settings, the
components it uses (their fingerprints) and the keys of the stages it reads from. So a
stage whose key is recorded as ``done`` is skipped; one recorded as ``running`` (a crash)
or ``interrupted`` (stopped by SIGTERM/SIGINT) with the same key is resumed (its own outputs resume record by record); one recorded with another
key is moved aside to ``<stage>.stale-<n>`` (nothing is deleted) and run afresh, and so
is everything downstream, because their keys include this one.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATE_FILE = "stage.json"


def stage_key(payload: Any) -> str:
    """A short stable hash of a JSON-able payload (dict keys sorted, non-JSON values by str)."""
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def file_digest(path: str | os.PathLike) -> str:
    """Content hash of a file a stage reads (a fit YAML): editing it changes the stage's key."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class StageState:
    """The state file of one stage folder.

    Args:
        folder: ``WORKDIR/<stage>``.
        key: the stage's key for the current config.
    """

    def __init__(self, folder: str | os.PathLike, key: str) -> None:
        self.folder = Path(folder)
        self.key = key

    @property
    def path(self) -> Path:
        return self.folder / STATE_FILE

    def read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{self.path}: not valid JSON ({exc}); move the folder away to rerun the stage") from exc

    @property
    def done(self) -> bool:
        state = self.read()
        return bool(state) and state.get("key") == self.key and state.get("status") == "done"

    def outputs(self) -> dict[str, Any]:
        return dict((self.read() or {}).get("outputs") or {})

    def begin(self) -> None:
        """Mark the stage running; move a folder left by another config aside first."""
        state = self.read()
        if state is not None and state.get("key") != self.key:
            stale = self._stale_name()
            log.warning("%s was made with another config (key %s, now %s): moved to %s", self.folder,
                        state.get("key"), self.key, stale)
            print(f"pipeline: {self.folder.name}: config changed, old output moved to {stale}", flush=True)
            os.replace(self.folder, stale)
        elif state is None and self.folder.is_dir() and any(self.folder.iterdir()):
            stale = self._stale_name()
            log.warning("%s holds files but no %s: moved to %s", self.folder, STATE_FILE, stale)
            os.replace(self.folder, stale)
        self.folder.mkdir(parents=True, exist_ok=True)
        started = (state or {}).get("started") if state and state.get("key") == self.key else None
        self._write({"key": self.key, "status": "running", "started": started or _now(), "outputs": {}})

    def interrupt(self, signal_name: str, checkpoint: str | None = None) -> None:
        """Record that a signal stopped the stage; it stays resumable (same key, not done)."""
        state = self.read() or {}
        self._write({**state, "key": self.key, "status": "interrupted", "stopped_by": signal_name,
                     "stopped": _now(), "checkpoint": checkpoint})

    def finish(self, outputs: dict[str, Any]) -> None:
        """Mark the stage done, with the size of every file of its outputs (:meth:`damage`)."""
        state = self.read() or {}
        self._write({**state, "key": self.key, "status": "done", "finished": _now(), "outputs": outputs,
                     "files": output_files(outputs)})

    def damage(self) -> str | None:
        """What is missing or cut short among the files the stage finished with, or None:
        a done stage whose outputs were deleted or truncated since must run again."""
        state = self.read() or {}
        recorded = state.get("files")
        if recorded is None:  # a stage.json from before sizes were recorded: the paths at least
            recorded = {path: None for path in _paths(state.get("outputs") or {})}
        for path, size in recorded.items():
            if not os.path.exists(path):
                return f"{path} is missing"
            if size is not None and os.path.getsize(path) != size:
                return f"{path} has {os.path.getsize(path)} bytes, not the {size} it was finished with"
        return None

    def _stale_name(self) -> Path:
        n = 1
        while (candidate := self.folder.with_name(f"{self.folder.name}.stale-{n}")).exists():
            n += 1
        return candidate

    def _write(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_name(STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def output_files(outputs: Any) -> dict[str, int]:
    """Every file under the paths named in a stage's outputs (folders walked), with its size."""
    files: dict[str, int] = {}
    for path in _paths(outputs):
        root = Path(path)
        if not root.exists():
            continue
        found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        files.update({str(p): p.stat().st_size for p in found})
    return files


def _paths(value: Any) -> list[str]:
    """The strings in a stage's outputs that are absolute paths (the stages hand each other those)."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths(v)]
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in _paths(v)]
    return [value] if isinstance(value, str) and os.path.isabs(value) else []


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")
