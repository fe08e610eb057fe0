"""`pav render`: render a prompt set with one backbone, score it with one reward set.

::

    pav render -c experiments/render/synthetic.yaml --prompts prompts.txt --out out/render
    pav render -c ... --trainer.devices 2 --trainer.strategy ddp     # two processes, same records

The work is :func:`prompt_a_video.scoring.prompt_set.render_prompt_set`'s; this prints its summary.
"""

from __future__ import annotations

from prompt_a_video.commands.runner import command
from prompt_a_video.scoring.prompt_set import render_prompt_set


def _report(summary: dict) -> None:
    if summary:  # {} on ranks other than 0
        print(f"render: {summary.get('n', 0):.0f} videos, mean reward {summary.get('reward', float('nan')):.4f}, "
              f"{summary.get('failed', 0):.0f} failed -> {summary['scores']}")


render = command(render_prompt_set, _report, output="out")
