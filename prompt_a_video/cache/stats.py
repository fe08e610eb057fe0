"""What the render cache did (hit/miss counters) and what it holds (usage), plus byte sizes.

Standard library only: ``pav cache info`` imports this without torch.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(|b|[kmgt]i?)b?\s*$", re.IGNORECASE)


def parse_bytes(value: int | str | None) -> int | None:
    """A byte count from an int or a text such as ``"20GB"``, ``"500 MB"``, ``"1.5GiB"``.

    Decimal units (kB, MB, GB, TB = powers of 1000) and binary ones (KiB... = powers of
    1024). ``None`` (and the texts ``"none"``/``"unbounded"``) stay ``None``: no bound.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"a byte size must be an int or a text like '20GB', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a byte size must be >= 0, got {value}")
        return value
    text = str(value)
    if text.strip().lower() in ("none", "null", "unbounded"):
        return None
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"cannot read {text!r} as a byte size; expected e.g. 20000000000, '20GB', '512MiB'")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def format_bytes(n: int | None) -> str:
    """``1234567`` -> ``"1.23 MB"`` (decimal units); ``None`` -> ``"unbounded"``."""
    if n is None:
        return "unbounded"
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= factor:
            return f"{n / factor:.2f} {unit}"
    return f"{n} B"


@dataclass
class CacheStats:
    """Counters of one process since the cache object was made (for logging).

    A duplicate key within one batch is looked up once; ``corrupt`` counts entries that
    could not be read and were removed; ``evicted_*`` count videos this process evicted.
    """

    video_hits: int = 0
    video_misses: int = 0
    score_hits: int = 0
    score_misses: int = 0
    corrupt: int = 0
    evicted_videos: int = 0
    evicted_bytes: int = 0

    def as_dict(self, prefix: str = "cache/") -> dict[str, float]:
        """Counters (and hit rates in [0, 1] where defined) as flat metric names."""
        out: dict[str, float] = {f"{prefix}{k}": float(v) for k, v in asdict(self).items()}
        for kind in ("video", "score"):
            hits, misses = getattr(self, f"{kind}_hits"), getattr(self, f"{kind}_misses")
            if hits + misses:
                out[f"{prefix}{kind}_hit_rate"] = hits / (hits + misses)
        return out


@dataclass(frozen=True)
class CacheUsage:
    """What a cache root holds on disk: entries and bytes per kind, and stray temp files."""

    videos: int
    video_bytes: int
    scores: int
    score_bytes: int
    temp_files: int
    temp_bytes: int


@dataclass(frozen=True)
class EvictionReport:
    """What one eviction pass removed, and the video bytes it left."""

    removed: int
    removed_bytes: int
    video_bytes_left: int
