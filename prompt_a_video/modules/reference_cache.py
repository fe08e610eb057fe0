"""Reference log-probs cached on disk, so later epochs (and reruns) skip the reference pass.

The reference model is frozen, so ``log π_ref(answer | prompt)`` of a pair never changes
as long as everything that shapes it is the same. The key of a pair is a hash of:

- the reference model's identity: model path or hub id, the stat (name, size, mtime) of its
  weight files when it is a local folder, the dtype, and the content of any adapter merged
  into it (a retrained SFT adapter at the same path gets new keys);
- how the text becomes tokens: the chat template, system prompt, user template, max_length;
- the pair's texts (prompt, chosen, rejected).

Storage: one sqlite file ``<folder>/reference-logps.sqlite`` with a row per key (WAL mode, so
DDP ranks can write into it at once). Entries of other settings sit side by side in the
same file and never collide; delete the file to reclaim space.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

FILENAME = "reference-logps.sqlite"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
_SQL_CHUNK = 500  # keys per SELECT; sqlite's default limit of bound variables is 999+


def _sha256_files(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def model_identity(model: str, dtype: str, adapter: str | None = None) -> dict[str, Any]:
    """What makes a (model, dtype, merged adapter) produce the log-probs it does.

    Base weights are identified by file stats, not content: hashing 16 GB per run would cost
    minutes, while a changed file changes its size or mtime. Adapters are small (MBs) and
    often retrained in place, so their content is hashed.
    """
    identity: dict[str, Any] = {"model": model, "dtype": dtype}
    folder = Path(model)
    if folder.is_dir():
        identity["model"] = str(folder.resolve())
        identity["files"] = sorted(
            (p.name, p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES or p.name == "config.json"
        )
    if adapter is not None:
        adapter_dir = Path(adapter)
        files = [p for p in adapter_dir.iterdir() if p.suffix in _WEIGHT_SUFFIXES or p.name == "adapter_config.json"]
        identity["adapter"] = {"path": str(adapter_dir.resolve()), "sha256": _sha256_files(files)}
    return identity


def fingerprint(settings: Mapping[str, Any]) -> str:
    """sha256 of the settings (JSON, sorted keys): the part of every key shared by a run."""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ReferenceLogpsCache:
    """``(chosen, rejected)`` reference log-probs per pair, in a sqlite file.

    Args:
        folder: where ``reference-logps.sqlite`` lives (created on first write).
        settings: everything besides the texts that shapes the log-probs (see the module
            docstring); hashed into every key.
    """

    def __init__(self, folder: str | os.PathLike, settings: Mapping[str, Any]) -> None:
        self.path = Path(folder) / FILENAME
        self.fingerprint = fingerprint(settings)
        self.hits = 0
        self.misses = 0

    def key(self, prompt: str, chosen: str, rejected: str) -> str:
        text = json.dumps([self.fingerprint, prompt, chosen, rejected], ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: nothing unpicklable is held by the LightningModule, and
        # each DDP rank or process opens its own.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS logps (key TEXT PRIMARY KEY, chosen REAL NOT NULL, "
                     "rejected REAL NOT NULL)")
        return conn

    def get_many(self, keys: list[str]) -> dict[str, tuple[float, float]]:
        """The stored ``(chosen, rejected)`` of those keys that are in the cache."""
        if not self.path.is_file():
            self.misses += len(keys)
            return {}
        found: dict[str, tuple[float, float]] = {}
        with closing(self._connect()) as conn:
            for start in range(0, len(keys), _SQL_CHUNK):
                chunk = keys[start:start + _SQL_CHUNK]
                marks = ",".join("?" * len(chunk))
                for key, chosen, rejected in conn.execute(
                        f"SELECT key, chosen, rejected FROM logps WHERE key IN ({marks})", chunk):
                    found[key] = (chosen, rejected)
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return found

    def put_many(self, rows: Mapping[str, tuple[float, float]]) -> None:
        """Store ``{key: (chosen, rejected)}``; an existing key is overwritten (same value)."""
        if not rows:
            return
        with closing(self._connect()) as conn, conn:
            conn.executemany("INSERT OR REPLACE INTO logps (key, chosen, rejected) VALUES (?, ?, ?)",
                             [(k, float(c), float(r)) for k, (c, r) in rows.items()])

    def __len__(self) -> int:
        if not self.path.is_file():
            return 0
        with closing(self._connect()) as conn:
            return conn.execute("SELECT COUNT(*) FROM logps").fetchone()[0]
