"""Build experiments/data/seed_pairs.jsonl: reward-ranked preference pairs for the CPU DPO run.

    .venv/bin/python experiments/data/make_seed_pairs.py

Until `pav pairs` (sampling from the SFT refiner) exists, the CPU DPO experiment trains on
pairs built from the 32 hand-written seed pairs: per source prompt, four candidates (the
original prompt, the hand-written rewrite, and the rewrite cut after its first and its
second clause) are rendered with the synthetic backbone (`long-cinematic`, seed 0) and
scored by the offline composite reward against the ORIGINAL prompt. Candidates are
ranked by the aggregate; the best is paired with every candidate whose aggregate is lower
by more than `--margin`. The rewards decide which text is chosen, not this script.
Needs the `all-minilm-l6-v2` asset (`pav assets install --names all-minilm-l6-v2`).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent


def candidates(original: str, rewrite: str) -> list[str]:
    clauses = [c.strip() for c in rewrite.replace(";", ",").split(",") if c.strip()]
    cut = [", ".join(clauses[:k]) + "." for k in (1, 2) if k < len(clauses)]
    unique: list[str] = []
    for text in [original, rewrite, *cut]:
        if text not in unique:
            unique.append(text)
    return unique


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-pairs", default=str(HERE / "seed_sft_pairs.json"))
    parser.add_argument("--out", default=str(HERE / "seed_pairs.jsonl"))
    parser.add_argument("--margin", type=float, default=0.05, help="minimum aggregate gap chosen - rejected")
    args = parser.parse_args()

    from prompt_a_video.data import JsonlWriter, PreferencePair, iter_pool, sft_pairs
    from prompt_a_video.generators.synthetic import SyntheticGenerator
    from prompt_a_video.rewards.composite import CompositeReward

    generator = SyntheticGenerator(preset="long-cinematic")
    reward = CompositeReward.offline()
    out = Path(args.out)
    out.unlink(missing_ok=True)
    n_pairs = 0
    with JsonlWriter(out) as writer:
        for original, rewrite in sft_pairs(iter_pool(args.seed_pairs)):
            texts = candidates(original, rewrite)
            scores = reward.score(generator.generate(texts, seed=0), [original] * len(texts))
            ranked = sorted(
                ((float(scores["reward"][i]), scores.item(i), text) for i, text in enumerate(texts)
                 if not math.isnan(float(scores["reward"][i]))),
                key=lambda r: r[0], reverse=True)
            if not ranked:
                continue
            best_reward, best_scores, best_text = ranked[0]
            for other_reward, other_scores, other_text in ranked[1:]:
                if best_reward - other_reward > args.margin:
                    writer.write(PreferencePair(original, best_text, other_text, best_reward, other_reward,
                                                _dims(best_scores), _dims(other_scores)))
                    n_pairs += 1
    print(f"{n_pairs} pairs -> {out}")


def _dims(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in scores.items() if k not in ("reward", "passes_floors")}


if __name__ == "__main__":
    main()
