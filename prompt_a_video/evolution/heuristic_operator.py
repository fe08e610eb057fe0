"""`HeuristicOperator`: offline evolution without an LLM (the baseline and offline default).

A prompt is handled as clauses: the original prompt (its *core*, kept verbatim and never
dropped) followed by comma-separated extra clauses. A child is made from the top-k
earlier prompts by

- crossover (probability ``crossover_prob``, needs two earlier prompts with extras):
  the original's core plus a random share of each parent's extra clauses;
- mutation: add a phrase from a bank of :mod:`phrase_banks` (preferring aspects the
  prompt does not cover yet: a prompt that names its lighting gets no second lighting),
  swap an extra clause for another phrase of its bank, or drop one;

then pruned to ``max_words`` by dropping the lowest-priority extra clauses (clauses
inherited from better prompts rank above fresh bank phrases, which rank by bank).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from prompt_a_video.evolution.base import Operator, Scored
from prompt_a_video.evolution.operator_prompt import content_words, normalize, top_history
from prompt_a_video.evolution.phrase_banks import BANK_OF, BANKS, CUES, PRIORITY

_SPLIT = re.compile(r"\s*[,;]\s*|(?<=[.!?])\s+")
# Mutation kinds and their odds when the child has extra clauses (else it can only add).
_OPS = (("add", 0.5), ("swap", 0.3), ("drop", 0.2))
_MAX_EXTRA_MUTATIONS = 3
# Banks used by `rewrite`, in the order their phrases are appended.
_REWRITE_ORDER = ("subject", "motion", "camera", "lighting", "style", "quality")


@dataclass(frozen=True)
class _Clause:
    text: str
    priority: float  # pruning drops the lowest first
    bank: str | None = None


def split_clauses(prompt: str) -> list[str]:
    """Comma/semicolon clauses and sentences of ``prompt``, stripped, without final stops."""
    parts = (p.strip().rstrip(".!?").strip() for p in _SPLIT.split(prompt.strip()))
    return [p for p in parts if p]


def _words(text: str) -> int:
    return len(text.split())


class HeuristicOperator(Operator):
    """Phrase-level mutation and crossover of the best earlier prompts, no model needed.

    Args:
        mutation_rate: odds of each further mutation (a copied parent gets one mutation,
            a crossover child none, then one more with this probability, repeated, at most
            3 more): 0 mutates as little as possible, 1 always mutates 4 times.
        crossover_prob: probability that a child comes from crossing two earlier prompts
            (when at least two of the top-k have extra clauses) instead of copying one.
        max_words: word budget of a proposal (whitespace words; e.g. the backbone's token
            limit in words). Extra clauses are pruned to fit; the original is never cut (an
            original at or over the budget leaves no room: nothing is proposed). None = no budget.
        banks: names of the :data:`~prompt_a_video.evolution.phrase_banks.BANKS` to draw
            phrases from; None = all (subject, motion, camera, lighting, style,
            composition, quality).
        top_k: how many of the best earlier prompts are parents (better ones are picked
            more often: weight ``1 / rank``).

    Deterministic given ``seed`` (``random.Random(seed ^ sha256(original))``); ``seed=None``
    draws fresh randomness. Never returns a prompt already in ``history`` or the original;
    returns fewer than ``n`` when it cannot find more distinct ones.
    """

    def __init__(self, mutation_rate: float = 0.4, crossover_prob: float = 0.3, max_words: int | None = 60,
                 banks: list[str] | None = None, top_k: int = 5) -> None:
        if not 0.0 <= mutation_rate <= 1.0:
            raise ValueError(f"HeuristicOperator: mutation_rate must be in [0, 1], got {mutation_rate!r}")
        if not 0.0 <= crossover_prob <= 1.0:
            raise ValueError(f"HeuristicOperator: crossover_prob must be in [0, 1], got {crossover_prob!r}")
        if max_words is not None and max_words < 1:
            raise ValueError(f"HeuristicOperator: max_words must be >= 1 or None, got {max_words!r}")
        if top_k < 1:
            raise ValueError(f"HeuristicOperator: top_k must be >= 1, got {top_k!r}")
        banks = list(BANKS) if banks is None else list(banks)
        unknown = [b for b in banks if b not in BANKS]
        if unknown or not banks:
            raise ValueError(f"HeuristicOperator: banks must be a non-empty list of {sorted(BANKS)}, got {banks!r}")
        self.mutation_rate, self.crossover_prob, self.max_words = mutation_rate, crossover_prob, max_words
        self.banks, self.top_k = banks, top_k

    @property
    def fingerprint(self) -> str:
        # The banks' contents change proposals as much as the knobs do.
        digest = hashlib.sha256(repr(sorted((b, BANKS[b]) for b in self.banks)).encode()).hexdigest()[:8]
        return (f"HeuristicOperator(mutation_rate={self.mutation_rate:g}, crossover_prob={self.crossover_prob:g}, "
                f"max_words={self.max_words}, top_k={self.top_k}, banks={','.join(self.banks)}-{digest})")

    def __repr__(self) -> str:
        return self.fingerprint

    # -- public API --------------------------------------------------------------------------

    def propose(self, original: str, history: list[Scored], n: int, *, seed: int | None = None) -> list[str]:
        if not original or not original.strip():
            raise ValueError("HeuristicOperator.propose: original prompt is empty")
        rng = self._rng(original, seed)
        core = self._core(original)
        parents = self._parents(core, history)
        taken = {normalize(original)} | {normalize(h.prompt) for h in history}
        out: list[str] = []
        for _ in range(30 * max(n, 0)):  # enough tries to find n new ones when they exist
            if len(out) >= n:
                break
            child = self._child(rng, core, parents)
            key = normalize(child)
            if key not in taken:
                taken.add(key)
                out.append(child)
        return out

    def rewrite(self, original: str, seed: int = 0) -> str:
        """One enriched prompt: the original plus one phrase per uncovered aspect (subject
        detail, motion, camera, lighting, style, quality; the banks chosen at init), pruned
        to ``max_words``. Deterministic given ``seed``: the ``heuristic`` evaluation baseline."""
        if not original or not original.strip():
            raise ValueError("HeuristicOperator.rewrite: original prompt is empty")
        rng = self._rng(original, seed)
        core = self._core(original)
        clauses: list[_Clause] = []
        for bank in [b for b in _REWRITE_ORDER if b in self.banks] or self.banks:
            if not self._covered(bank, core, clauses):
                clauses.append(_Clause(rng.choice(BANKS[bank]), PRIORITY[bank], bank))
        return self._render(core, self._prune(core, clauses))

    # -- pieces ------------------------------------------------------------------------------

    @staticmethod
    def _rng(original: str, seed: int | None) -> random.Random:
        if seed is None:
            return random.Random()
        salt = int.from_bytes(hashlib.sha256(original.strip().encode()).digest()[:8], "little")
        return random.Random(int(seed) ^ salt)

    @staticmethod
    def _core(original: str) -> str:
        return re.sub(r"\s+", " ", original).strip().rstrip(".!").strip()

    def _parents(self, core: str, history: list[Scored]) -> list[tuple[list[_Clause], float]]:
        """(extra clauses, pick weight) of the top-k earlier prompts.

        An earlier prompt's clauses that repeat the core's are not extras; when it does
        not start with the core, its first clause is taken as its own wording of the core
        and skipped too (borrowing it would state the subject twice), as is any clause
        that shares half or more of its content words with the core.
        """
        core_keys = {normalize(c) for c in split_clauses(core)}
        core_words = content_words(core)
        parents = []
        for rank, item in enumerate(top_history(history, self.top_k)):
            clauses = split_clauses(item.prompt)
            if clauses and normalize(clauses[0]) not in core_keys:
                clauses = clauses[1:]
            inherited = 0.7 + 0.3 / (rank + 1)  # above any fresh bank phrase (<= 0.6)
            extras, seen = [], set()
            for text in clauses:
                key, words = normalize(text), content_words(text)
                if key in core_keys or key in seen:
                    continue
                if words and len(words & core_words) * 2 >= len(words):
                    continue
                seen.add(key)
                extras.append(_Clause(text, inherited, BANK_OF.get(key)))
            parents.append((extras, 1.0 / (rank + 1)))
        return parents or [([], 1.0)]

    def _child(self, rng: random.Random, core: str, parents: list[tuple[list[_Clause], float]]) -> str:
        crossable = [p for p in parents if p[0]]
        if len(crossable) >= 2 and rng.random() < self.crossover_prob:
            clauses, mutations = self._crossover(rng, crossable), 0
        else:
            clauses, mutations = list(self._pick(rng, parents)), 1
        while mutations < 1 + _MAX_EXTRA_MUTATIONS and rng.random() < self.mutation_rate:
            mutations += 1
        for _ in range(mutations):
            clauses = self._mutate(rng, core, clauses)
        return self._render(core, self._prune(core, clauses))

    @staticmethod
    def _pick(rng: random.Random, parents: list[tuple[list[_Clause], float]]) -> list[_Clause]:
        return rng.choices([p[0] for p in parents], weights=[p[1] for p in parents])[0]

    def _crossover(self, rng: random.Random, parents: list[tuple[list[_Clause], float]]) -> list[_Clause]:
        """Each clause of two distinct parents kept with probability 1/2, at least one of each;
        at most one clause per bank (two lighting phrases would contradict)."""
        first = rng.choices(range(len(parents)), weights=[p[1] for p in parents])[0]
        rest = [i for i in range(len(parents)) if i != first]
        second = rng.choices(rest, weights=[parents[i][1] for i in rest])[0]
        chosen: list[_Clause] = []
        for idx in (first, second):
            extras = parents[idx][0]
            kept = [c for c in extras if rng.random() < 0.5] or [rng.choice(extras)]
            chosen.extend(kept)
        out, keys, banks = [], set(), set()
        for clause in chosen:
            key = normalize(clause.text)
            if key in keys or (clause.bank is not None and clause.bank in banks):
                continue
            keys.add(key)
            banks.add(clause.bank)
            out.append(clause)
        return out

    def _covered(self, bank: str, core: str, clauses: list[_Clause]) -> bool:
        """Whether the prompt already speaks to ``bank``'s aspect (one of its clauses, or a cue word)."""
        if any(c.bank == bank for c in clauses):
            return True
        words = set(re.findall(r"[\w-]+", " ".join([core, *(c.text for c in clauses)]).lower()))
        return bool(words & CUES[bank])

    def _mutate(self, rng: random.Random, core: str, clauses: list[_Clause]) -> list[_Clause]:
        clauses = list(clauses)
        op = rng.choices([o for o, _ in _OPS], weights=[w for _, w in _OPS])[0] if clauses else "add"
        if op == "add":
            open_banks = [b for b in self.banks if not self._covered(b, core, clauses)]
            unused = [b for b in self.banks if all(c.bank != b for c in clauses)]
            pool = open_banks or unused
            if pool:
                bank = rng.choice(pool)
                clauses.append(_Clause(rng.choice(BANKS[bank]), PRIORITY[bank], bank))
                return clauses
            op = "swap"  # every bank is used: vary one instead
        i = rng.randrange(len(clauses))
        if op == "drop":
            del clauses[i]
            return clauses
        old = clauses[i]
        bank = old.bank if old.bank in self.banks else rng.choice(self.banks)
        present = {normalize(c.text) for c in clauses}
        options = [p for p in BANKS[bank] if normalize(p) not in present]
        if options:
            clauses[i] = _Clause(rng.choice(options), PRIORITY[bank], bank)
        return clauses

    def _prune(self, core: str, clauses: list[_Clause]) -> list[_Clause]:
        """Drop the lowest-priority clauses (the later one on ties) until the budget holds."""
        clauses = list(clauses)
        if self.max_words is None:
            return clauses
        while clauses and _words(self._render(core, clauses)) > self.max_words:
            worst = min(range(len(clauses)), key=lambda i: (clauses[i].priority, -i))
            del clauses[worst]
        return clauses

    @staticmethod
    def _render(core: str, clauses: list[_Clause]) -> str:
        return ", ".join([core, *(c.text for c in clauses)])
