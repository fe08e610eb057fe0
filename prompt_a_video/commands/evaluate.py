"""`pav evaluate`: compare prompt rewrite methods on prompt sets, rendered and scored alike.

::

    pav evaluate -c experiments/quickstart.yaml --workdir runs/quickstart --out runs/quickstart/eval-again
    pav evaluate -c experiments/quickstart.yaml --workdir runs/quickstart --prompts my.txt --out out/mine
    pav evaluate -c experiments/quickstart.yaml --refiner mine=path/to/export --prompts my.txt --out out/mine

The config is a pipeline YAML, so a pipeline's refiners are re-evaluated exactly as the
pipeline evaluated them, on any prompt file: its ``generator``, ``reward`` and
``evaluation`` sections are used, and the command accepts (and ignores) the pipeline's
other sections so that the same file parses. The work is
:func:`prompt_a_video.evaluation.run.evaluate_refiners`'s.
"""

from __future__ import annotations

from typing import Any

from prompt_a_video.evaluation.run import evaluate_refiners
from prompt_a_video.evaluation.settings import EvaluationSettings
from prompt_a_video.generators.base import Generator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.scoring.distributed import TrainerOptions
from prompt_a_video.tracking import StageRun


def evaluate(
    generator: Generator,
    reward: Reward,
    out: str,
    workdir: str | None = None,
    prompts: str | None = None,
    refiner: list[str] | None = None,
    evaluation: EvaluationSettings | None = None,
    experiment: str = "evaluate",
    tracking_uri: str | None = None,
    trainer: TrainerOptions = TrainerOptions(),  # never mutated; jsonargparse gives --trainer.* options
    operator: dict | None = None,
    source_prompts: str | None = None,
    evolve: dict | None = None,
    sft: dict | None = None,
    pairs: dict | None = None,
    dpo: dict | None = None,
    dpo_rounds: int | None = None,
    grpo: dict | None = None,
    alignment: str = "dpo",
    record: StageRun | None = None,
) -> dict[str, dict[str, Any]]:
    """Compare rewrite methods (original, heuristic, zero-shot, sft, dpo, your refiners).

    Every method's prompts are rendered with the same seeds and scored against the
    original prompts; writes per set rewrites.jsonl, scores.jsonl, videos/, metrics.json,
    table.md, dimensions.png and report.html.

    Args:
        generator: the backbone, by class_path (a pipeline YAML's).
        reward: the reward set, by class_path (a pipeline YAML's).
        out: output folder (one subfolder per prompt set, or the folder itself with --prompts).
        workdir: a `pav pipeline` work directory whose sft/dpo refiners are evaluated; each
            refiner the YAML trains must be finished there.
        prompts: evaluate this prompt set (a .txt/.jsonl file or a named set) instead of
            the sets in evaluation.prompt_sets (all its prompts: no limit).
        refiner: more refiners as NAME=DIR (repeatable, or a list).
        evaluation: the evaluation settings (a pipeline YAML's ``evaluation:`` section).
        experiment: MLflow experiment name.
        tracking_uri: MLflow store (default sqlite:///mlruns.db here, or $MLFLOW_TRACKING_URI).
        trainer: processes and devices (``--trainer.devices 2 --trainer.strategy ddp``): the
            LLM rewriting and the rendering are split over the ranks.
        operator: (a pipeline YAML's section; not used here)
        source_prompts: (a pipeline YAML's section; not used here)
        evolve: (a pipeline YAML's section; not used here)
        sft: (a pipeline YAML's section; not used here)
        pairs: (a pipeline YAML's section; not used here)
        dpo: (a pipeline YAML's section; not used here)
        dpo_rounds: (a pipeline YAML's section; not used here)
        grpo: (a pipeline YAML's section; not used here)
        alignment: (a pipeline YAML's setting: which of dpo and grpo its --workdir must hold)
    """
    from prompt_a_video.output_lock import output_lock

    with output_lock(out, "--out"):  # a second evaluate on the same folder is refused
        return evaluate_refiners(generator, reward, out, workdir=workdir, prompts=prompts, refiner=refiner,
                                 evaluation=evaluation, experiment=experiment, tracking_uri=tracking_uri,
                                 trainer=trainer, record=record, expected=trained_by_the_yaml(sft, dpo, dpo_rounds, grpo, alignment))


def trained_by_the_yaml(sft: dict | None, dpo: dict | None, dpo_rounds: int | None, grpo: dict | None = None,
                        alignment: str = "dpo") -> tuple[str, ...]:
    """The refiners a pipeline YAML trains, which its --workdir must hold: ``sft``;
    ``dpo`` when it has a DPO section and rounds and its alignment is ``dpo`` or
    ``dpo+grpo``; ``grpo`` when the alignment has it and a GRPO section. A YAML with none
    (an evaluation-only config) expects none."""
    from prompt_a_video.pipeline.run import alignment_stages

    runs_dpo, runs_grpo = alignment_stages(alignment, dpo, dpo_rounds, grpo)
    return (("sft",) if sft else ()) + (("dpo",) if runs_dpo else ()) + (("grpo",) if runs_grpo else ())


evaluate.repeatable = ("--refiner",)  # `--refiner a=DIR --refiner b=DIR` (commands/runner.py)
