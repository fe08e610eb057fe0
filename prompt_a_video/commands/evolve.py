"""`pav evolve`: reward-guided prompt evolution over a prompt set -> an evolved pool.

::

    pav evolve -c experiments/evolve/synthetic.yaml --prompts prompts.txt --out runs/evolve/pool.jsonl
    pav evolve -c ... --trainer.devices 2 --trainer.strategy ddp     # 2 processes, same pool

The work is :func:`prompt_a_video.evolution.run.evolve_prompts`'s; this prints its summary.
"""

from __future__ import annotations

from prompt_a_video.commands.runner import command
from prompt_a_video.evolution.run import evolve_prompts


def _report(summary: dict) -> None:
    if summary:  # {} on ranks other than 0
        print(f"evolve: {summary['n_prompts']:.0f} prompts, {summary['n_with_best']:.0f} with a best, "
              f"{summary['n_failed']:.0f} failed, mean gain {summary['mean_gain']:.4f} "
              f"({summary['duplicates_dropped']:.0f} duplicate records dropped) -> {summary['pool']}")


evolve = command(evolve_prompts, _report, output="out")
