"""Text quality of a refiner's samples under several answer-only repetition settings.

    .venv/bin/python scripts/sampling_probe.py --refiner runs/quickstart/sft/refiner \
        --prompts pav:eval vbench pav:wild --limit 24 --samples 2

For each setting (``repetition_penalty``/``no_repeat_ngram_size`` over the ANSWER's tokens,
modules/answer_penalties.py), samples the refiner UNGUARDED at the given temperature and
prints, per setting, the share of degenerate rewrites, of rewrites that keep the user's
content, of leaked ones, and the mean length in words, as the evaluation computes them
(rewards/text/checks.py, fluency under the smollm2 asset when installed). This is how the
defaults in refiner/generation.py (``DEFAULT_SAMPLING``) were chosen (docs/results.md).
"""

from __future__ import annotations

import argparse
import json

# name: (repetition_penalty, no_repeat_ngram_size, max_word_uses, single_line, max_tag_run, max_list_items),
# all over the answer only
SETTINGS = {
    "none": (1.0, 0, 0, False, 0, 0),
    "no-repeat-3": (1.0, 3, 0, False, 0, 0),
    "penalty-1.2": (1.2, 0, 0, False, 0, 0),
    "word-cap-1+no-repeat-3": (1.0, 3, 1, False, 0, 0),
    "word-cap-1+no-repeat-3+single-line": (1.0, 3, 1, True, 0, 0),
    "penalty-1.2+single-line": (1.2, 0, 0, True, 0, 0),
    "word-cap-1+no-repeat-3+single-line+tag-run-6": (1.0, 3, 1, True, 6, 0),
    "word-cap-1+no-repeat-3+single-line+tag-run-5": (1.0, 3, 1, True, 5, 0),
    "word-cap-1+no-repeat-3+single-line+tag-run-4": (1.0, 3, 1, True, 4, 0),
    "word-cap-1+no-repeat-3+single-line+tag-run-6+items-8": (1.0, 3, 1, True, 6, 8),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refiner", required=True, help="export folder of a trained refiner")
    parser.add_argument("--prompts", nargs="+", default=["pav:eval"], help="prompt sets (files or names)")
    parser.add_argument("--limit", type=int, default=24, help="prompts per set (spread over the set)")
    parser.add_argument("--samples", type=int, default=2, help="samples per prompt")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max_new_tokens", type=int, default=80)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    parser.add_argument("--dump", action="store_true", help="with --json: every rewrite of every setting, to read")
    args = parser.parse_args()

    from prompt_a_video import assets
    from prompt_a_video.data import load_prompts
    from prompt_a_video.refiner import Refiner
    from prompt_a_video.rewards.text.checks import TextChecks
    from prompt_a_video.rewards.text.tag_list import tag_run

    prompts = []
    for name in args.prompts:
        items = [p.prompt for p in load_prompts(name)]
        step = max(1, len(items) // args.limit)
        prompts += items[::step][: args.limit]
    checks = TextChecks(fluency="smollm2-135m-instruct" if assets.is_installed("smollm2-135m-instruct") else None)
    refiner = Refiner(args.refiner, batch_size=24)
    rows = []
    for name in args.settings:
        penalty, ngram, cap, single, tags, items = SETTINGS[name]
        out = refiner.refine(prompts, args.samples, guard=False, temperature=args.temperature,
                             max_new_tokens=args.max_new_tokens, repetition_penalty=penalty,
                             no_repeat_ngram_size=ngram, max_word_uses=cap, single_line=single, max_tag_run=tags,
                             max_list_items=items, seed=0)
        originals = [p for p, samples in zip(prompts, out) for _ in samples]
        rewrites = [s for samples in out for s in samples]
        verdicts = checks(originals, rewrites)
        n = len(verdicts)
        rows.append({"setting": name, "repetition_penalty": penalty, "no_repeat_ngram_size": ngram, "max_word_uses": cap, "single_line": single, "max_tag_run": tags, "max_list_items": items, "n": n,
                     "degenerate": sum(v.degenerate for v in verdicts) / n,
                     "intent_kept": sum(v.intent_kept for v in verdicts) / n,
                     "leaked": sum(v.leaked for v in verdicts) / n,
                     "passes": sum(v.passes for v in verdicts) / n,
                     "words": sum(len(r.split()) for r in rewrites) / n,
                     "tag_run": sum(tag_run(o, r) for o, r in zip(originals, rewrites)) / n,
                     "example": rewrites[0], "rewrites": rewrites if args.dump else None})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"refiner {args.refiner}; {len(prompts)} prompts x {args.samples} samples ({', '.join(args.prompts)}), "
          f"temperature {args.temperature}, fluency {'on' if checks.fluency else 'off'}")
    print("| setting | degenerate | intent kept | leaked | passes all | words | longest tag run |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['setting']} | {r['degenerate']:.1%} | {r['intent_kept']:.1%} | {r['leaked']:.1%} | "
              f"{r['passes']:.1%} | {r['words']:.1f} | {r['tag_run']:.1f} |")


if __name__ == "__main__":
    main()
