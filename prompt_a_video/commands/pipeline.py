"""`pav pipeline`: the whole method from one YAML, stage by stage, in a work directory.

::

    pav pipeline -c experiments/quickstart.yaml --workdir runs/quickstart

The work is :func:`prompt_a_video.pipeline.run.run_pipeline`'s (it prints each stage as
it goes, and the reports at the end).
"""

from __future__ import annotations

from prompt_a_video.commands.runner import command
from prompt_a_video.pipeline.run import run_pipeline

pipeline = command(run_pipeline, lambda results: None, output="workdir")
