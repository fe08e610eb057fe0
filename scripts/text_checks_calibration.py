"""Where the text floors sit: REP, LEAK, INT, FLU, LEX and TAG on real refiners' rewrites.

    .venv/bin/python scripts/text_checks_calibration.py ../shared/data/vbench_prompt_refinements.jsonl --rows 300

Reads a JSON Lines file of ``{"prompt": str, "refinements": {name: str}}`` (the shared
VBench refinements: GPT-4o, Wan2.1's extender, HunyuanVideo's rewriter) and prints, per
refiner and for the originals, the min / 1% / 5% / 50% / 95% quantiles (lower order
statistic) of each measure, and how many rewrites fall at or under each floor
(``TEXT_FLOORS``), then each refiner's coined words (``LEX``: how many rewrites hold
one, and which words) and its lists (``TAG``: how many rewrites have each longest run
of short comma items and each most comma items in one sentence, and how many fail the
floor). FLU uses the smollm2-135m-instruct asset (`pav assets install`);
``--no-fluency`` skips it.
The table in docs/rewards.md ("Calibration") is this script's output.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

QUANTILES = (0.0, 0.01, 0.05, 0.5, 0.95)


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    return " / ".join(f"{ordered[int(q * (len(ordered) - 1))]:.3g}" for q in QUANTILES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="JSON Lines with prompt and refinements")
    parser.add_argument("--rows", type=int, default=300, help="first N rows")
    parser.add_argument("--no-fluency", action="store_true", help="skip FLU (no LM loaded)")
    args = parser.parse_args()

    from prompt_a_video.rewards.text import (
        TEXT_FLOORS, FluencyScorer, coined_words, intent_score, leakage_score, list_shape, repetition_score,
    )
    from prompt_a_video.rewards.text.tag_list import score_of as tag_score_of

    with open(args.file, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()][: args.rows]
    fluency = None if args.no_fluency else FluencyScorer()
    names = list(rows[0]["refinements"])
    print(f"{len(rows)} rows of {args.file}; floors {TEXT_FLOORS}")
    print("| texts | REP | LEAK | INT | FLU | at/under floor: REP, LEAK, INT, FLU |")
    print("|---|---|---|---|---|---|")
    coined: dict[str, list[list[str]]] = {}
    shapes: dict[str, list[tuple[int, int]]] = {}
    for name in [*names, "original"]:
        pairs = [(r["prompt"], r["prompt"] if name == "original" else r["refinements"][name]) for r in rows]
        scores = {"REP": [repetition_score(t) for _, t in pairs],
                  "LEAK": [leakage_score(t, o) for o, t in pairs],
                  "INT": [intent_score(o, t) for o, t in pairs],
                  "FLU": fluency([t for _, t in pairs]).tolist() if fluency else [float("nan")] * len(pairs)}
        under = ", ".join(str(sum(v <= TEXT_FLOORS[d] for v in scores[d])) for d in ("REP", "LEAK", "INT", "FLU"))
        print(f"| {name} | " + " | ".join(quantiles(scores[d]) for d in ("REP", "LEAK", "INT", "FLU")) +
              f" | {under} |")
        coined[name] = [words for words in (coined_words(o, t) for o, t in pairs) if words]
        shapes[name] = [list_shape(o, t) for o, t in pairs]
    print("\n| texts | rewrites with a coined word (LEX <= 0.5) | the words |")
    print("|---|---|---|")
    for name, found in coined.items():
        listed = ", ".join(w for words in found for w in words)
        print(f"| {name} | {len(found)} of {len(rows)} | {listed} |")
    print(f"\n| texts | longest tag run: rewrites | most items in a sentence: rewrites | "
          f"at/under the TAG floor ({TEXT_FLOORS['TAG']:g}) |")
    print("|---|---|---|---|")
    for name, found in shapes.items():
        runs = sorted(Counter(run for run, _ in found).items())
        items = sorted(Counter(n for _, n in found).items())
        failing = sum(tag_score_of(run, n) <= TEXT_FLOORS["TAG"] for run, n in found)
        print(f"| {name} | {', '.join(f'{k}: {n}' for k, n in runs)} | {', '.join(f'{k}: {n}' for k, n in items)} | "
              f"{failing} of {len(rows)} |")


if __name__ == "__main__":
    main()
