"""What a method does to the text: fidelity to the original, diversity, length.

All three are computed from the rewrites alone (no video needed):

- **fidelity**: mean cosine similarity between the original prompt and each of the
  method's rewrites (every sample of every prompt). It guards against reward hacking: a
  refiner that drifts away from what the user asked for scores low. ``original`` gets
  1.0 because its text is the prompt; that comes out of the computation, not a special case.
- **diversity**: per prompt, the mean pairwise cosine *distance* (1 - cosine) among the
  method's samples of that prompt, then the mean over prompts. A prompt with a single
  sample contributes 0, and so do identical samples (a deterministic method, or
  ``original``, whose samples are all the prompt itself).
- **length**: mean words (whitespace-separated) and characters per rewrite, and, with a
  ``count_tokens`` callable, mean tokens of the target video model's text encoder
  (``length_tokens``; :mod:`prompt_a_video.generators.targets` picks the counter).

Embeddings come from an ``embed(texts) -> [N, D]`` callable (in the project: the
all-MiniLM-L6-v2 sentence encoder of ``PromptFidelityReward.embed``). Every distinct text
is embedded once, in one call; rows are re-normalised, so a slightly unnormalised
encoder still gives cosines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def _as_matrix(embedded: Any, n: int) -> np.ndarray:
    if hasattr(embedded, "detach"):  # a torch tensor, without importing torch here
        embedded = embedded.detach().float().cpu().numpy()
    matrix = np.asarray(embedded, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != n:
        raise ValueError(f"embed: expected an array [N={n}, D] of sentence embeddings, got shape {list(matrix.shape)}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("embed: returned an all-zero embedding; cosine similarity is undefined for it")
    return matrix / norms


def _unique_rewrites(rewrites: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rewrites with (method, prompt, sample) unique (the first kept: a resumed run may repeat one)."""
    seen: dict[tuple, dict[str, Any]] = {}
    for i, r in enumerate(rewrites):
        for key, kind in (("method", str), ("prompt", str), ("text", str)):
            if not isinstance(r.get(key) if isinstance(r, Mapping) else None, kind):
                raise ValueError(f"rewrites[{i}]: expected {key!r} to be a string, got {r!r:.200}")
        seen.setdefault((r["method"], r["prompt"], r.get("sample", 0)), dict(r))
    return list(seen.values())


def diversity(vectors: np.ndarray) -> float:
    """Mean pairwise ``1 - cosine`` among the rows of unit vectors ``[S, D]`` (0 when S < 2)."""
    s = len(vectors)
    if s < 2:
        return 0.0
    cos = vectors @ vectors.T
    upper = np.triu_indices(s, k=1)
    # Identical unit vectors give 1 - cos = ±1e-16 in floating point: report them as 0.
    return float(np.round(np.mean(np.clip(1.0 - cos[upper], 0.0, 2.0)), 12))


def text_metrics(rewrites: Sequence[Mapping[str, Any]],
                 embed: Callable[[list[str]], Any] | None = None,
                 count_tokens: Callable[[str], int] | None = None) -> dict[str, dict[str, float | None]]:
    """Per method: ``{"fidelity", "diversity", "length_words", "length_chars", "length_tokens"}``.

    Args:
        rewrites: dicts ``{"method", "prompt", "sample", "text"}``.
        embed: ``texts -> [N, D]`` sentence embeddings (tensor or array); None gives
            ``fidelity`` and ``diversity`` None (the lengths are still computed).
        count_tokens: ``text -> tokens`` of the target's text encoder; None gives
            ``length_tokens`` None.

    Methods appear in order of first appearance.
    """
    entries = _unique_rewrites(rewrites)
    by_method: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_method.setdefault(entry["method"], []).append(entry)

    vectors: dict[str, np.ndarray] = {}
    if embed is not None and entries:
        texts = list(dict.fromkeys([e["prompt"] for e in entries] + [e["text"] for e in entries]))
        matrix = _as_matrix(embed(texts), len(texts))
        vectors = dict(zip(texts, matrix))

    out: dict[str, dict[str, float | None]] = {}
    for method, items in by_method.items():
        result: dict[str, float | None] = {
            "fidelity": None,
            "diversity": None,
            "length_words": float(np.mean([len(e["text"].split()) for e in items])),
            "length_chars": float(np.mean([len(e["text"]) for e in items])),
            "length_tokens": None if count_tokens is None else float(np.mean([count_tokens(e["text"]) for e in items])),
        }
        if vectors:
            result["fidelity"] = float(np.mean([vectors[e["prompt"]] @ vectors[e["text"]] for e in items]))
            samples: dict[str, list[dict[str, Any]]] = {}
            for e in items:
                samples.setdefault(e["prompt"], []).append(e)
            result["diversity"] = float(np.mean([
                diversity(np.stack([vectors[e["text"]] for e in group])) for group in samples.values()
            ]))
        out[method] = result
    return out
