"""Write our pairs.jsonl from the official Prompt-A-Video DPO candidates and their scores.

The paper's DPO pipeline (jiyt17/Prompt-A-Video, booster/dpo/) samples 5 rewrites per
prompt (prompts_candidates.json), renders and scores them (rewards/*_dpo.py) and filters
pairs with booster/dpo/filter.py. This re-filters those candidates with our PaperPairRule
(the same aggregate, floors, margin 1.4 and 130-word limit, plus our text floors REP, LEAK, LEX, TAG,
INT, and FLU with --fluency) and writes DESIGN.md's preference pairs, one a line::

    python scripts/paper_candidates_to_pairs.py --candidates prompts_candidates_scores.json --out pairs.jsonl
    python scripts/paper_candidates_to_pairs.py --candidates prompts_candidates.json \\
        --scores candidates_prompts_videoscore.json candidates_prompts_aes.json candidates_prompts_mps.json \\
        --out pairs.jsonl
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", required=True, type=Path, metavar="FILE",
                        help="the merged prompts_candidates_scores.json, or prompts_candidates.json with --scores")
    parser.add_argument("--scores", nargs="*", default=[], type=Path, metavar="FILE",
                        help="per-reward score files of rewards/*_dpo.py, joined to --candidates by index "
                             "(a record missing from one is left out)")
    parser.add_argument("--out", required=True, type=Path, metavar="pairs.jsonl", help="the pairs file to write")
    parser.add_argument("--margin", type=float, default=1.4, help="minimum aggregate gap, exclusive (default 1.4)")
    parser.add_argument("--max-chosen-words", type=int, default=130, help="longest chosen text (default 130)")
    parser.add_argument("--no-text-checks", action="store_true",
                        help="no REP/LEAK/INT/LEX/TAG text floors: the official filter's floors only")
    parser.add_argument("--fluency", metavar="LM", help="an LM asset name or folder for the FLU floor (default: none)")
    parser.add_argument("--skip-bad-records", action="store_true", help="warn and skip bad records instead of stopping")
    args = parser.parse_args(argv)
    if args.out.suffix != ".jsonl":
        parser.error(f"--out {args.out}: expected a .jsonl file")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    from prompt_a_video.data import DataFormatError, JsonlWriter
    from prompt_a_video.data.paper_candidates import pairs_from_paper_candidates
    from prompt_a_video.evolution.pair_rules import PaperPairRule
    from prompt_a_video.rewards.presets import get_preset
    from prompt_a_video.rewards.text import TEXT_FLOORS

    floors = dict(get_preset("pair_filtering").floors)
    drop = set(TEXT_FLOORS) if args.no_text_checks else set() if args.fluency else {"FLU"}
    rule = PaperPairRule(margin=args.margin, max_chosen_words=args.max_chosen_words,
                         floors={d: f for d, f in floors.items() if d not in drop})
    skipped: list[DataFormatError] = []
    try:
        pairs = pairs_from_paper_candidates(args.candidates, rule, score_files=args.scores,
                                            text_checks=not args.no_text_checks, fluency=args.fluency,
                                            errors="skip" if args.skip_bad_records else "raise", skipped=skipped)
    except (DataFormatError, FileNotFoundError, ValueError) as exc:
        parser.exit(1, f"error: {exc}\n")
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.unlink(missing_ok=True)  # a killed run's leftover: the writer would append to it
    with JsonlWriter(tmp) as writer:
        writer.write_many(pairs)
    os.replace(tmp, args.out)
    print(f"{len(pairs)} pairs of {len({p.prompt for p in pairs})} prompts -> {args.out} ({rule.description}"
          + (f"; {len(skipped)} bad records skipped" if skipped else "") + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
