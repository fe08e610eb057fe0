"""Evaluations of rewrite methods over prompt sets (`pav evaluate`, the pipeline's last stage).

:func:`run_evaluations` evaluates every prompt set of the settings (the pipeline calls it);
:func:`evaluate_refiners` adds what a stand-alone evaluation needs: the refiners a
pipeline work directory finished, ``NAME=DIR`` refiners, an MLflow run of its own.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from prompt_a_video.evaluation.settings import EvaluationSettings
from prompt_a_video.generators.base import Generator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.scoring.distributed import TrainerOptions
from prompt_a_video.tracking import StageRun

log = logging.getLogger(__name__)


def pipeline_refiners(workdir: str | Path | None, expected: tuple[str, ...] = ()) -> dict[str, str]:
    """The refiners a pipeline finished in ``workdir``: ``sft``, ``dpo`` (one round) or
    ``dpo-r1``, ``dpo-r2``... (several), and ``grpo``, name -> export folder.

    Args:
        workdir: a `pav pipeline` work directory (None: no refiners).
        expected: the trained methods its YAML makes (``sft``, ``dpo``: any round, ``grpo``); one
            without a finished stage is an error, not a quieter comparison.
    """
    if workdir is None:
        return {}
    root = Path(workdir)
    if not root.is_dir():
        raise FileNotFoundError(f"--workdir {root}: not found (the work directory of `pav pipeline`)")
    if not any(root.glob("*/stage.json")):
        raise FileNotFoundError(f"--workdir {root}: not a `pav pipeline` work directory (no <stage>/stage.json in "
                                "it); give the --workdir of a pipeline, or refiners with --refiner NAME=DIR")
    found: dict[str, str] = {}
    status: dict[str, str] = {}
    rounds = sorted((p for p in root.glob("dpo-r*") if p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
    for name, folder in [("sft", root / "sft"), *((p.name, p) for p in rounds), ("grpo", root / "grpo")]:
        state_file = folder / "stage.json"
        state = json.loads(state_file.read_text()) if state_file.is_file() else {}
        status[name] = state.get("status", "not started")
        if status[name] == "done" and (folder / "refiner").is_dir():
            found[name] = str(folder / "refiner")
    if len(rounds) == 1 and "dpo-r1" in found:
        found["dpo"] = found.pop("dpo-r1")
    for method in expected:
        if not any(name == method or name.startswith(f"{method}-r") for name in found):
            stages = [name for name in status if name == method or name.startswith(f"{method}-r")] or [method]
            states = ", ".join(f"{name}: {status.get(name, 'not started')}" for name in stages)
            raise FileNotFoundError(f"--workdir {root}: the YAML trains {method}, but the work directory has no "
                                    f"finished {method} refiner ({states}); finish `pav pipeline` first, or "
                                    "give refiners with --refiner NAME=DIR")
    return found


def base_model_of(refiner: str | None) -> str | None:
    """The base model a refiner export was trained from (its refiner.json), if known."""
    if refiner is None:
        return None
    from prompt_a_video.refiner.export import read_settings

    settings = read_settings(refiner)
    return None if settings is None else settings.get("base_model")


def check_prompt_sets(settings: EvaluationSettings, prompts: str | None = None) -> None:
    """Read every prompt set the evaluation will use (``prompts``, else the settings'), so
    that a missing, malformed or empty one ends the command before a model loads or a file
    (or an MLflow run) is written. Cheap: prompt sets are small. `pav evaluate` and `pav
    pipeline` call it first (the latter before its first stage)."""
    from prompt_a_video.evaluation.settings import load_eval_prompts

    for spec in [prompts] if prompts else settings.prompt_sets.values():
        load_eval_prompts(spec, None)


def run_evaluations(settings: EvaluationSettings, generator: Generator, reward: Reward, out: str | Path, *,
                    trained: dict[str, str], extra_refiners: dict[str, str] | None = None,
                    prompts: str | None = None, pool_path: str | Path | None = None,
                    zero_shot_model: str | None = None, mlflow=None, runner=None) -> dict[str, dict[str, Any]]:
    """Evaluate every prompt set of ``settings`` into ``out/<set>`` (or ``prompts`` alone
    into ``out``); returns set name -> metrics (on rank 0 of ``runner``: the predict
    Trainer whose ranks share the work; default one process). Shared by `pav evaluate`
    and `pav pipeline`."""
    from prompt_a_video.evaluation.runner import evaluate_methods
    from prompt_a_video.evaluation.settings import build_methods, load_eval_prompts
    from prompt_a_video.evaluation.text_checks import default_text_checks
    from prompt_a_video.scoring import ScoringEngine, ScoringSettings
    from prompt_a_video.scoring.distributed import TrainerOptions, make_trainer

    out = Path(out)
    engine = ScoringEngine(generator, reward, ScoringSettings(settings.batch_size, settings.use_cache,
                                                              settings.cache_root))
    runner = runner or make_trainer(TrainerOptions(), out)
    rank_zero = runner.is_global_zero
    embed = None
    if settings.fidelity_model:
        from prompt_a_video.rewards.offline import PromptFidelityReward

        embed = PromptFidelityReward(settings.fidelity_model).embed
    checks = default_text_checks(settings.text_fluency_model)  # one fluency LM for every set
    sets = {Path(prompts).stem: (prompts, out)} if prompts else {
        name: (spec, out / name) for name, spec in settings.prompt_sets.items()}
    methods = build_methods(settings, trained, extra_refiners or {}, zero_shot_model)
    results: dict[str, dict[str, Any]] = {}
    for name, (spec, folder) in sets.items():
        texts = load_eval_prompts(spec, None if prompts else settings.limit)
        if rank_zero:
            print(f"evaluate: {name} ({spec}): {len(texts)} prompts x {len(settings.seeds)} seeds x "
                  f"{len(methods)} methods ({', '.join(methods)}) -> {folder}", flush=True)
        metrics = evaluate_methods(methods, texts, engine, folder, seeds=list(settings.seeds),
                                   prompt_set=f"{name} ({spec})", embed=embed, runner=runner,
                                   rewrite_seed=settings.rewrite_seed, pool_path=pool_path,
                                   save_videos=settings.save_videos, text_checks=checks)
        if not rank_zero:
            continue
        results[name] = metrics
        if mlflow is not None:
            for method, values in metrics["methods"].items():
                for key in ("reward", "fidelity", "diversity", "length_words", "length_tokens", "degenerate_rate",
                            "intent_kept_rate", "leakage_rate", "text_pass_rate"):
                    value = values.get(key)
                    if isinstance(value, (int, float)) and not math.isnan(value):
                        mlflow.log_metric(f"eval/{name}/{method}/{key}", value)
            for file in ("metrics.json", "table.md", "report.html", "dimensions.png"):
                if (folder / file).is_file():
                    mlflow.log_artifact(str(folder / file), artifact_path=f"evaluate/{name}")
        print(f"evaluate: {name}: report {folder / 'report.html'}", flush=True)
        print((folder / "table.md").read_text(encoding="utf-8"), flush=True)
    return results


def evaluate_refiners(
    generator: Generator,
    reward: Reward,
    out: str,
    workdir: str | None = None,
    prompts: str | None = None,
    refiner: list[str] | None = None,
    evaluation: EvaluationSettings | None = None,
    experiment: str = "evaluate",
    tracking_uri: str | None = None,
    trainer: TrainerOptions = TrainerOptions(),
    record: StageRun | None = None,
    expected: tuple[str, ...] = (),
) -> dict[str, dict[str, Any]]:
    """`pav evaluate` without its command line (its arguments are documented there, in
    :mod:`prompt_a_video.commands.evaluate`): the refiners a pipeline work directory
    finished plus ``refiner`` (``NAME=DIR``), evaluated with ``evaluation`` over its prompt
    sets (or ``prompts`` alone) in an MLflow run of their own. Returns set name -> metrics
    (rank 0; {} elsewhere)."""
    from prompt_a_video.evaluation.settings import parse_refiner_args
    from prompt_a_video.scoring.distributed import make_trainer, rank_zero_tracked

    settings = evaluation or EvaluationSettings()
    trained = pipeline_refiners(workdir, expected)
    extra = parse_refiner_args(refiner)
    check_prompt_sets(settings, prompts)
    runner = make_trainer(trainer, out)
    if workdir is not None and runner.is_global_zero:
        found = ", ".join(f"{name} ({folder})" for name, folder in trained.items()) or "none"
        print(f"evaluate: refiners finished in {workdir}: {found}", flush=True)
    with rank_zero_tracked(runner, "evaluate", record=record, experiment=experiment,
                           tracking_uri=tracking_uri) as mlflow:
        return run_evaluations(settings, generator, reward, out, trained=trained, extra_refiners=extra,
                               prompts=prompts, zero_shot_model=base_model_of(trained.get("sft")), mlflow=mlflow,
                               pool_path=Path(workdir) / "evolve" / "pool.jsonl" if workdir else None, runner=runner)
