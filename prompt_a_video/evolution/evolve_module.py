"""Evolution as sharded work: each rank evolves its share of the source prompts.

:func:`evolve_batch` is the ``process`` that :func:`~prompt_a_video.scoring.distributed.run_sharded`
runs on each predict batch: it evolves the batch with an
:class:`~prompt_a_video.evolution.loop.EvolutionLoop` and returns one pool record per
prompt (plus ``error`` when it failed), which go to the rank's shard of the pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prompt_a_video.evolution.loop import EvolutionLoop

log = logging.getLogger(__name__)


def evolve_batch(loop: EvolutionLoop, progress: bool = True) -> Callable[[list[str]], list[dict]]:
    """``process(batch of source prompts) -> pool records``, with an iterations bar when ``progress``."""

    def process(batch: list[str]) -> list[dict]:
        inner = None
        if progress:
            from tqdm.auto import tqdm

            inner = tqdm(total=loop.iterations + 1, desc=f"  {len(batch)} prompt(s): iteration", unit="it",
                         leave=False)
        results = loop.evolve(batch, on_iteration=(lambda i: inner.update(1)) if inner else None)
        if inner is not None:
            inner.close()
        for result in results:
            if result.error:
                log.warning("evolve: %r failed: %s", result.record.prompt[:80], result.error)
        return [result.to_dict() for result in results]

    return process
