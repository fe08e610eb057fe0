"""The `Generator` interface: prompts in, videos out, deterministic per (prompt, seed)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from prompt_a_video.video import Video


class Generator(ABC):
    """A text-to-video (or text-to-image, ``T == 1``) backbone.

    Contract:
    - ``generate(prompts, seed)`` returns one :class:`Video` per prompt, in order; the
      video of a prompt depends only on (prompt, seed, configuration), never on the other
      prompts of the batch, so results can be cached and batches regrouped freely.
      Each video's ``meta["prompt"]`` is the prompt it was rendered from (prompt-fidelity
      rewards compare it with the original).
    - ``fingerprint`` is a stable string naming everything that changes the output
      (model id, revision, sampling settings); the render cache keys on it.
    - ``prompt_token_limit`` is how many prompt tokens the text encoder reads (None when
      unbounded); words past it are ignored by the model, and `pav refine` warns about them.
    """

    prompt_token_limit: int | None = None

    @property
    @abstractmethod
    def fingerprint(self) -> str: ...

    @abstractmethod
    def generate(self, prompts: list[str], seed: int) -> list[Video]: ...
