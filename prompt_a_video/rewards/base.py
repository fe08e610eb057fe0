"""The `Reward` interface, with per-item failure isolation built in.

``score(videos, prompts)`` returns :class:`Scores`: a ``dict[str, Tensor[B]]`` (one entry
per dimension the reward provides, higher is better) that also carries ``failures``:
``{item index: reason}``. A failed item has NaN in every dimension; the batch and the
run go on. ``prompts`` are always the ORIGINAL user prompts: alignment is judged against
what the user asked for, not against the refined text that was rendered.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from prompt_a_video.video import Video


class Scores(dict):
    """``{dimension: float Tensor[B]}`` plus ``failures: {index: reason}``."""

    def __init__(self, *args, failures: dict[int, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.failures: dict[int, str] = dict(failures or {})

    def item(self, i: int) -> dict[str, float]:
        """The scores of one item as plain floats."""
        return {dim: float(values[i]) for dim, values in self.items()}


class Reward(ABC):
    """A reward model scoring videos on one or more named dimensions.

    Subclasses implement :meth:`score_batch` (may raise; may return NaN) and set
    ``dimensions``; :meth:`score` adds ``torch.inference_mode()``, shape checks, and
    isolation: when the batch call raises, items are scored one by one so that only the
    culprit fails; NaN/inf results mark the item failed with the dimension named.
    """

    dimensions: tuple[str, ...] = ()

    @property
    @abstractmethod
    def fingerprint(self) -> str: ...

    @abstractmethod
    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]: ...

    def score(self, videos: list[Video], prompts: list[str]) -> Scores:
        if len(videos) != len(prompts):
            raise ValueError(f"{type(self).__name__}.score: {len(videos)} videos but {len(prompts)} prompts")
        n = len(videos)
        if n == 0:
            return Scores({d: torch.empty(0) for d in self.dimensions})
        with torch.inference_mode():
            try:
                raw = self._checked(self.score_batch(videos, prompts), n)
                failures: dict[int, str] = {}
            except Exception:  # isolate: find which items fail
                raw, failures = self._one_by_one(videos, prompts)
        # Tensors made under inference_mode cannot be edited outside it: hand out normal ones.
        raw = {dim: values.clone() for dim, values in raw.items()}
        for dim, values in raw.items():
            for i in range(n):
                if i not in failures and not math.isfinite(float(values[i])):
                    failures[i] = f"{type(self).__name__}: non-finite {dim} ({float(values[i])})"
        for i in failures:
            for values in raw.values():
                values[i] = float("nan")
        return Scores(raw, failures=failures)

    def _checked(self, raw: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
        missing = set(self.dimensions) - set(raw)
        if missing:
            raise RuntimeError(f"{type(self).__name__} did not return dimensions {sorted(missing)}")
        out = {}
        for dim, values in raw.items():
            values = torch.as_tensor(values, dtype=torch.float32).detach().cpu().reshape(-1).clone()
            if values.numel() != n:
                raise RuntimeError(f"{type(self).__name__} returned {values.numel()} {dim} scores for {n} videos")
            out[dim] = values
        return out

    def _one_by_one(self, videos, prompts) -> tuple[dict[str, torch.Tensor], dict[int, str]]:
        out = {dim: torch.full((len(videos),), float("nan")) for dim in self.dimensions}
        failures = {}
        for i, (video, prompt) in enumerate(zip(videos, prompts)):
            try:
                for dim, values in self._checked(self.score_batch([video], [prompt]), 1).items():
                    out.setdefault(dim, torch.full((len(videos),), float("nan")))[i] = values[0]
            except Exception as err:  # the reason travels with the item
                failures[i] = f"{type(self).__name__}: {type(err).__name__}: {err}"
        return out, failures
