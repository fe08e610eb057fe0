"""The reward-guided evolution loop (DESIGN.md, stage 1) over a batch of source prompts.

Per source prompt: render and score the original (iteration 0); then, for iterations
``1..K``: show the operator the original and the top-k scored prompts so far (best
first), take up to ``N`` proposals, drop any prompt already rendered for this source,
render the rest with the fixed seed(s), score them against the ORIGINAL prompt, keep
them all. The prompts of a batch advance together; each iteration renders and scores
the candidates of a source in batched calls (of every source at once with
``batch_across_prompts``).

Ranking (history and ``best``): a candidate with ``passes_floors == 1`` ranks above any
that fails a floor, then higher ``reward`` first, then the earlier candidate (stable, so
ties go to the original and to earlier iterations). Candidates whose reward is NaN
(failed to score) are kept in the record but never ranked. ``best`` is the top-ranked
candidate if it passes the floors; when that top is the original prompt itself, ``best``
is None unless ``keep_original_as_best`` (an SFT pair that copies its input teaches the
refiner to do nothing; so, by default, a source whose rewrites never beat the original
gives no SFT example).

Failures are isolated per source prompt and recorded, never raised: the operator
raising, the generator raising for one of the source's prompts (after a failed batch
call, every prompt is re-rendered alone so only the culprit's source fails), or the
original prompt failing to score. The source then stops evolving; its record keeps the
candidates scored so far, ``best = None`` and an ``error`` text. A candidate (not the
original) that fails to score is not an error: it stays in the record with NaN reward.

Determinism: the operator's seed at each iteration is :func:`derive_seed` of
(``operator_seed``, source prompt, iteration), a video depends only on (prompt, seed)
(the Generator contract), and a source's candidates are scored in calls of their own, so
a source's record does not depend on which other prompts share its batch, process or
run: resumed and distributed runs give the same records, byte for byte.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prompt_a_video.data import Candidate, PoolRecord
from prompt_a_video.data.prompts import check_seeds
from prompt_a_video.data.validation import is_count
from prompt_a_video.evolution.base import Operator, Scored
from prompt_a_video.generators.base import Generator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.scoring import FLOORS_KEY, REWARD_KEY, Item, ScoringEngine, ScoringSettings, SeedMean
from prompt_a_video.scoring.items import average_over_seeds

log = logging.getLogger(__name__)


def derive_seed(base: int, prompt: str, iteration: int) -> int:
    """A 31-bit seed from (base seed, source prompt, iteration), stable across runs and
    machines (sha256, not Python's salted ``hash``)."""
    digest = hashlib.sha256(f"{int(base)}\x1f{prompt}\x1f{int(iteration)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _normal(prompt: str) -> str:
    """The form two prompts are compared in: whitespace runs collapsed."""
    return " ".join(prompt.split())


def passes(candidate: Candidate) -> bool:
    """Whether a candidate cleared the floors (a reward without floors: always)."""
    return candidate.scores.get(FLOORS_KEY, 1.0) == 1.0


def scored(candidate: Candidate) -> bool:
    return candidate.reward is not None and not math.isnan(candidate.reward)


def ranked(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The scored candidates, best first: passing floors, then reward, then earliest."""
    order = [c for c in candidates if scored(c)]
    return sorted(order, key=lambda c: (not passes(c), -c.reward))  # sorted is stable


@dataclass
class EvolutionResult:
    """The outcome for one source prompt: its pool record, and why it failed (or None)."""

    record: PoolRecord
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """DESIGN.md's pool record, plus ``"error"`` when the source failed."""
        out = self.record.to_dict()
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class _Source:
    original: str
    candidates: list[Candidate] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    score_failures: dict[str, str] = field(default_factory=dict)  # prompt -> why it scored NaN
    error: str | None = None

    def fail(self, reason: str) -> None:
        if self.error is None:  # the first cause is the one worth reading
            self.error = reason


class EvolutionLoop:
    """Evolves source prompts with a generator, a reward and an operator (see the module doc).

    Args:
        generator: the text-to-video backbone the prompts are evolved for.
        reward: the reward set; must provide ``reward`` (the aggregate it ranks by, e.g.
            a ``CompositeReward``); its ``passes_floors`` is used when present.
        operator: proposes new prompts from the original and the scored top-k.
        iterations: K, the rounds of proposals after the original (>= 1).
        proposals_per_iteration: N, prompts asked of the operator per round (>= 1).
        top_k: how many of the best scored prompts the operator is shown (>= 1).
        seeds: render seeds, distinct ints >= 0; with several, each candidate is rendered
            once per seed and its scores and reward are the means over seeds
            (``passes_floors``: the minimum, i.e. it must pass with every seed). Default ``[0]``.
        operator_seed: base of the operator's per-(prompt, iteration) seeds.
        keep_original_as_best: let the original be ``best`` when no rewrite beats it.
        render_batch_size: most videos per ``generate``/``score`` call (None: all the
            candidates of a group in one call per seed).
        batch_across_prompts: render and score the candidates of every source of the
            batch together (fewer, larger calls: faster on a GPU). Off by default: then
            each source's candidates get their own calls, so no number in a record can
            depend on which other prompts shared the batch, process or run. Rewards are
            not promised to be batch-invariant (the MiniLM prompt fidelity differs in
            the last float bit with the batch's padding), and a resumed or distributed
            run regroups the prompts; turn it on for rewards known to be batch-invariant,
            or when bit-identical resumes do not matter.
        use_cache: render and score through the render-and-score cache (off by default
            here; `pav evolve` turns it on).
        cache_root: the cache folder (default ``$PAV_CACHE_DIR/render-cache``).
    """

    def __init__(
        self,
        generator: Generator,
        reward: Reward,
        operator: Operator,
        iterations: int = 4,
        proposals_per_iteration: int = 4,
        top_k: int = 4,
        seeds: list[int] | None = None,
        operator_seed: int = 0,
        keep_original_as_best: bool = False,
        render_batch_size: int | None = None,
        batch_across_prompts: bool = False,
        use_cache: bool = False,
        cache_root: str | None = None,
    ) -> None:
        for name, value in (("iterations", iterations), ("proposals_per_iteration", proposals_per_iteration),
                            ("top_k", top_k)):
            if not is_count(value, 1):
                raise ValueError(f"EvolutionLoop.{name} must be an int >= 1, got {value!r}")
        if render_batch_size is not None and not is_count(render_batch_size, 1):
            raise ValueError(f"EvolutionLoop.render_batch_size must be an int >= 1, or null for all at once, "
                             f"got {render_batch_size!r}")
        seeds = check_seeds(seeds, "EvolutionLoop.seeds")
        if REWARD_KEY not in tuple(reward.dimensions):
            raise ValueError(f"EvolutionLoop.reward: {type(reward).__name__} provides {list(reward.dimensions)}, "
                             f"but evolution ranks by an aggregate {REWARD_KEY!r}: use a CompositeReward")
        self.generator, self.reward, self.operator = generator, reward, operator
        # The engine owns the cache, the batching and the failure isolation.
        self.engine = ScoringEngine(generator, reward, ScoringSettings(render_batch_size, use_cache, cache_root))
        self.iterations, self.proposals_per_iteration, self.top_k = iterations, proposals_per_iteration, top_k
        self.seeds = seeds
        self.operator_seed = int(operator_seed)
        self.keep_original_as_best = keep_original_as_best
        self.render_batch_size = render_batch_size
        self.batch_across_prompts = batch_across_prompts

    # --- the loop -----------------------------------------------------------------
    def evolve(self, prompts: Sequence[str],
               on_iteration: Callable[[int], None] | None = None) -> list[EvolutionResult]:
        """Evolve each source prompt; one result per prompt, in order.

        ``on_iteration(i)`` is called after iteration ``i`` (0 = the originals) is scored.
        Prompts are expected distinct (the caller dedupes its prompt set).
        """
        sources = [_Source(p) for p in prompts]
        self._render_and_score([(s, s.original) for s in sources], 0)
        for s in sources:
            if s.error is None and not (s.candidates and scored(s.candidates[0])):
                s.fail(f"the original prompt failed to score: {s.score_failures.get(s.original, 'NaN reward')}")
        if on_iteration:
            on_iteration(0)
        for iteration in range(1, self.iterations + 1):
            requests = []
            for s in sources:
                if s.error is None:
                    requests += [(s, p) for p in self._propose(s, iteration)]
            self._render_and_score(requests, iteration)
            if on_iteration:
                on_iteration(iteration)
        backbone = self.generator.fingerprint
        return [EvolutionResult(PoolRecord(s.original, backbone, s.candidates, None if s.error else self._best(s)),
                                s.error) for s in sources]

    def history(self, candidates: Sequence[Candidate]) -> list[Scored]:
        """The top-k scored candidates, best first, as the operator sees them (per-dimension
        scores without the ``passes_floors`` flag, which the ranking already applied)."""
        return [Scored(c.prompt, {d: v for d, v in c.scores.items() if d != FLOORS_KEY}, float(c.reward),
                       c.iteration or 0) for c in ranked(candidates)[: self.top_k]]

    def _best(self, s: _Source) -> Candidate | None:
        top = next(iter(ranked(s.candidates)), None)
        if top is None or not passes(top):
            return None
        if _normal(top.prompt) == _normal(s.original) and not self.keep_original_as_best:
            return None
        return top

    def _propose(self, s: _Source, iteration: int) -> list[str]:
        """The operator's new prompts for a source, unseen ones only; records operator errors."""
        seed = derive_seed(self.operator_seed, s.original, iteration)
        try:
            proposals = self.operator.propose(s.original, self.history(s.candidates), self.proposals_per_iteration,
                                              seed=seed)
            if isinstance(proposals, str):
                raise TypeError(f"propose must return a list of strings, got a string: {proposals!r:.200}")
            proposals = list(proposals)
            if not all(isinstance(p, str) for p in proposals):
                raise TypeError(f"propose must return a list of strings, got {proposals!r:.200}")
        except Exception as err:  # an API or model failure ends this source only
            s.fail(f"operator {type(self.operator).__name__} failed at iteration {iteration}: "
                   f"{type(err).__name__}: {err}")
            return []
        fresh = []
        for p in proposals:
            p = p.strip()
            if p and _normal(p) not in s.seen and len(fresh) < self.proposals_per_iteration:
                s.seen.add(_normal(p))
                fresh.append(p)
        if len(fresh) < len(proposals):
            log.debug("evolve %r iteration %d: %d of %d proposals were empty, repeated or beyond N",
                      s.original[:60], iteration, len(proposals) - len(fresh), len(proposals))
        return fresh

    # --- rendering and scoring, through the engine ------------------------------------
    def _render_and_score(self, requests: list[tuple[_Source, str]], iteration: int) -> None:
        """Render each (source, prompt) with every seed, score it against its source's
        original, append the candidates (means over seeds) to their sources.

        Calls are grouped per source (all its candidates of this iteration together) or,
        with ``batch_across_prompts``, over every source of the batch at once.
        """
        if self.batch_across_prompts:
            self._render_and_score_group(requests, iteration)
            return
        groups: dict[int, list[tuple[_Source, str]]] = {}
        for s, p in requests:
            groups.setdefault(id(s), []).append((s, p))
        for group in groups.values():
            self._render_and_score_group(group, iteration)

    def _render_and_score_group(self, requests: list[tuple[_Source, str]], iteration: int) -> None:
        """One engine call for the group: each distinct text rendered once per seed (in
        chunks of ``render_batch_size``), scored against each requesting source's original.
        A render failure ends its source; a score failure leaves a NaN candidate."""
        requests = [(s, p) for s, p in requests if s.error is None]
        if not requests:
            return
        for s, prompt in requests:
            s.seen.add(_normal(prompt))
        items = [Item(p, s.original, seed, key=str(i)) for seed in self.seeds for i, (s, p) in enumerate(requests)]
        results = self.engine.score(items)
        for scored in results:
            s, prompt = requests[int(scored.item.key)]
            if scored.render_failed:
                s.fail(f"the generator failed at iteration {iteration} on {prompt!r:.120} (seed {scored.item.seed}): "
                       f"{scored.failure.removeprefix('render: ')}")
            elif scored.failed:
                s.score_failures.setdefault(prompt, scored.failure.removeprefix("score: "))
        for mean in average_over_seeds(results):
            s, prompt = requests[int(mean.key)]
            if s.error is None:
                s.candidates.append(self._candidate(prompt, iteration, mean))

    @staticmethod
    def _candidate(prompt: str, iteration: int, mean: SeedMean) -> Candidate:
        scores = dict(mean.scores)
        if mean.passes_floors is not None:  # must pass with every seed
            scores[FLOORS_KEY] = float(mean.passes_floors)
        return Candidate(prompt, iteration, scores, mean.reward)
