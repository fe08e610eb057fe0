"""Device and dtype settings of the real-model rewards, checked when the YAML is parsed.

Rewards take ``device``/``dtype`` as plain strings (what a YAML holds); they are validated
in ``__init__`` (cheap, no weights) and turned into torch objects only when the model is
loaded.
"""

from __future__ import annotations

import torch

DTYPES = ("float32", "bfloat16", "float16")

# Image processors run on PIL: the reward checkpoints were trained with PIL/NumPy resizing,
# and transformers documents that backend as the one with exact numerical parity (its
# default, torchvision when installed, resizes slightly differently).
PIXELS_BACKEND = "pil"


def check_dtype(owner: str, dtype: str) -> str:
    """``dtype`` if it is one of :data:`DTYPES`, else ValueError naming ``owner.dtype``."""
    if dtype not in DTYPES:
        raise ValueError(f"{owner}.dtype must be one of {DTYPES}, got {dtype!r}")
    return dtype


def torch_dtype(dtype: str) -> torch.dtype:
    return getattr(torch, dtype)


def resolve_device(device: str | None) -> torch.device:
    """``device``, or this process's GPU when there is one (``cuda:<current device>``: the
    rank's own under DDP, never GPU 0 for all) and ``cpu`` otherwise."""
    if device is None:
        return torch.device(f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_positive(owner: str, field: str, value: int) -> int:
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"{owner}.{field} must be a positive integer, got {value!r}")
    return value


class LazyLoaded:
    """Mixin for rewards: ``_load()`` runs ``_build()`` once, on first use, and keeps the result.

    A failed build is remembered and re-raised: ``Reward.score`` retries a failing batch
    item by item, and a broken checkpoint must not be read once per item. Build a new
    reward to try again.
    """

    _built = None
    _build_error: Exception | None = None

    def _build(self):
        raise NotImplementedError

    def _load(self):
        if self._build_error is not None:
            raise self._build_error
        if self._built is None:
            try:
                self._built = self._build()
            except Exception as err:
                self._build_error = err
                raise
        return self._built
