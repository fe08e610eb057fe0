"""`pav pairs`: sample rewrites from the SFT refiner, render and score them, keep DPO pairs.

::

    pav pairs -c experiments/pairs/synthetic.yaml --refiner runs/sft/export/merged --out runs/pairs/pairs.jsonl

The work is :func:`prompt_a_video.evolution.pairs.sample_pairs`'s; this prints its summary.
"""

from __future__ import annotations

from prompt_a_video.commands.runner import command
from prompt_a_video.evolution.pairs import sample_pairs


def _report(summary: dict) -> None:
    if summary:  # {} on ranks other than 0
        print(f"pairs: {summary['pairs']:.0f} pairs from {summary['prompts']:.0f} prompts "
              f"({summary['prompts_zero_pairs']:.0f} with none), median margin {summary['margin_median']:.4g} "
              f"-> {summary['out']}")


pairs = command(sample_pairs, _report, output="out")
