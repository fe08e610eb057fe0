"""THE render-and-score engine (DESIGN.md "Scoring engine"): items in, scored records out.

- :mod:`~.items`: :class:`Item` (text, original, seed, key), :class:`Scored`, seed means;
- :mod:`~.isolation`: the retry policy (out of memory: halves; other errors: item by item);
- :mod:`~.engine`: :class:`ScoringEngine`: cache, batching, floors, MP4s;
- :mod:`~.shards` and :mod:`~.distributed`: work over Lightning ranks, per-rank shards
  merged in input order, exact resume after a kill.

Imports stay light here: the engine pulls torch through the cache wrappers only when made.
"""

from prompt_a_video.scoring.engine import ScoringEngine, ScoringSettings
from prompt_a_video.scoring.items import (FLOORS_KEY, REWARD_KEY, Item, Scored, SeedMean, average_over_seeds,
                                          video_filename)

__all__ = ["Item", "Scored", "SeedMean", "ScoringEngine", "ScoringSettings", "average_over_seeds",
           "video_filename", "REWARD_KEY", "FLOORS_KEY"]
