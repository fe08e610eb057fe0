"""Judge an evaluation's rewrites again with today's text checks, without rendering.

    .venv/bin/python scripts/recheck_text.py runs/cpu-full/evaluate/in-domain/rewrites.jsonl [--fluency]

An evaluation's ``metrics.json`` holds the text-check rates of the floors it ran with;
when the checks change (a new floor, such as ``LEX``), this prints what they say of the
same rewrites: per method, the degenerate, intent-kept, leaked and passing shares, and how
many rewrites hold a coined word (``LEX``) with the most frequent coinages. Fluency is
skipped unless ``--fluency`` (the smollm2-135m-instruct asset), as in the refiner's guard.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rewrites", type=Path, nargs="+", help="an evaluation's rewrites.jsonl")
    parser.add_argument("--fluency", action="store_true", help="score FLU with the smollm2-135m-instruct asset")
    args = parser.parse_args()

    from prompt_a_video.evaluation.text_checks import check_rates, default_text_checks, rewrite_verdicts
    from prompt_a_video.rewards.text import coined_words

    checks = default_text_checks() if args.fluency else default_text_checks(None)
    print("| rewrites | method | degenerate | intent kept | leaked | passes | with a coined word | coinages |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.rewrites:
        try:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, json.JSONDecodeError) as exc:
            parser.exit(1, f"error: {path}: {exc}\n")
        rates = check_rates(rows, rewrite_verdicts(rows, checks))
        for method, r in rates.items():
            mine = [row for row in rows if row.get("method") == method and row["text"].strip() != row["prompt"].strip()]
            coined = [coined_words(row["prompt"], row["text"]) for row in mine]
            common = ", ".join(w for w, _ in Counter(w for c in coined for w in c).most_common(4))
            print(f"| {path.parent.name} | {method} | {r['degenerate_rate']:.1%} | {r['intent_kept_rate']:.1%} | "
                  f"{r['leakage_rate']:.1%} | {r['text_pass_rate']:.1%} | {sum(bool(c) for c in coined)} of "
                  f"{sum(1 for row in rows if row.get('method') == method)} | {common} |")


if __name__ == "__main__":
    main()
