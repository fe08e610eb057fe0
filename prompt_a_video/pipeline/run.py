"""`pav pipeline`: the whole method from one YAML, stage by stage, in a work directory.

::

    pav pipeline -c experiments/quickstart.yaml --workdir runs/quickstart

It runs from any directory: the files the YAML names (fit ``config:``, prompt files) are
looked up next to it, then in its project root; ``--workdir`` is relative to the working
directory, like any command-line path (:mod:`prompt_a_video.commands.yaml_paths`).

Stages, each a folder of WORKDIR and an MLflow run nested under the pipeline's run:

1. ``evolve/``    reward-guided evolution of the source prompts -> ``pool.jsonl``
2. ``sft/``       `pav fit` of the ``sft`` section on the pool -> ``refiner/`` (export)
3. ``pairs-r1/``  the SFT refiner's samples, rendered and scored -> ``pairs.jsonl``
4. ``dpo-r1/``    `pav fit` of the ``dpo`` section: a fresh LoRA on the merged SFT model
                  -> ``refiner/``; rounds 2.. repeat 3-4 from the previous round's refiner
5. ``grpo/``      `pav fit` of the ``grpo`` section (online RL against the pipeline's own
                  generator and reward): a fresh LoRA on the merged SFT model
                  (``alignment: grpo``) or on the last DPO round's (``dpo+grpo``) -> ``refiner/``
6. ``evaluate/<set>/``  every method on every prompt set -> ``metrics.json``, ``report.html``

``alignment`` chooses the stages after SFT: ``dpo`` (3-4; the default), ``grpo`` (5 only)
or ``dpo+grpo`` (3-4, then 5).

A stage whose ``stage.json`` records the same key (its settings, components and upstream
keys) as ``done`` is skipped, so a crashed or extended pipeline resumes: evolution and
pairs resume record by record, a fit from its last checkpoint, evaluation from its
rewrites and scores. A stage made with another config is moved aside (``.stale-N``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from prompt_a_video.evaluation.settings import EvaluationSettings
from prompt_a_video.evolution.base import Operator
from prompt_a_video.generators.base import Generator
from prompt_a_video.refiner.generation import DEFAULT_SAMPLING
from prompt_a_video.rewards.base import Reward
from prompt_a_video.tracking import StageRun

log = logging.getLogger(__name__)

ALIGNMENTS = ("dpo", "grpo", "dpo+grpo")

# Arguments of the stages' library functions the pipeline sets itself (not settable in a section).
_WIRED = {
    "evolve": {"generator", "reward", "operator", "prompts", "out", "experiment", "record"},
    "pairs": {"generator", "reward", "refiner", "out", "experiment", "sampler", "record"},
}


def section_options(function: Callable, section: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """Validate a section against a stage function's signature (minus what the pipeline
    wires) with jsonargparse, instantiate its components, return the keyword arguments."""
    import copy

    from jsonargparse import ArgumentError, ArgumentParser

    from prompt_a_video.commands.errors import argument_error_line

    skip = _WIRED[where]
    given = copy.deepcopy(section or {})  # instantiation must not turn the YAML's dicts into objects
    wired = sorted(skip.intersection(given))
    if wired:
        raise ValueError(f"pipeline: {where}.{wired[0]} is set by the pipeline itself; remove it from the section")
    parser = ArgumentParser(prog=f"pav pipeline ({where} section)", exit_on_error=False, default_meta=False)
    parser.add_function_arguments(function, as_group=False, skip=skip)
    try:
        config = parser.parse_object(given)
    except ArgumentError as exc:  # jsonargparse's message names the bad key and what was expected
        raise ValueError(f"pipeline: section {where!r}: {argument_error_line(exc, [])} "
                         f"(options: `pav {where} --help`)") from exc
    return {k: v for k, v in vars(parser.instantiate(config)).items()}


def run_pipeline(
    generator: Generator,
    reward: Reward,
    operator: Operator,
    sft: dict[str, Any],
    dpo: dict[str, Any] | None = None,
    workdir: str = "runs/pipeline",
    source_prompts: str = "pav:evolution",
    evolve: dict[str, Any] | None = None,
    pairs: dict[str, Any] | None = None,
    dpo_rounds: int = 1,
    grpo: dict[str, Any] | None = None,
    alignment: str = "dpo",
    evaluation: EvaluationSettings | None = None,
    experiment: str = "pipeline",
    tracking_uri: str | None = None,
    record: StageRun | None = None,
) -> dict[str, Any]:
    """Run the method end to end: evolve -> SFT -> pairs -> DPO (rounds) and/or GRPO -> evaluate.

    Args:
        generator: the text-to-video backbone every stage renders with, by class_path.
        reward: the reward set every stage scores with (a CompositeReward), by class_path.
        operator: the evolution operator, by class_path.
        sft: the SFT fit: ``config:`` the fit YAML(s) it builds on, plus nested overrides
            (``trainer: {max_steps: 12}``); the pool is wired in as ``data.init_args.pools``.
        dpo: the DPO fit, the same way; the pairs are wired in as ``data.init_args.pairs``
            and the policy (the merged previous refiner) as ``model.init_args.backbone.model``.
            null: stop after SFT.
        workdir: the work directory (one folder per stage).
        source_prompts: the evolution/SFT source prompts (a file or ``pav:evolution``;
            never VBench, the out-of-domain evaluation set).
        evolve: options of `pav evolve` (iterations, proposals_per_iteration, seeds, limit...).
        pairs: options of `pav pairs` (prompts, n, seeds, rule, limit...).
        dpo_rounds: DPO rounds (iterated DPO: round r samples pairs from round r-1's refiner).
        grpo: the GRPO fit (``config: experiments/grpo/smollm2-cpu.yaml`` plus overrides); the
            policy (the merged SFT or last DPO refiner) is wired in as
            ``model.init_args.backbone.model``, and the pipeline's ``generator`` and
            ``reward`` as the module's, so it trains against what the evaluation scores.
        alignment: what follows SFT: ``dpo``, ``grpo`` or ``dpo+grpo`` (GRPO from the DPO refiner).
        evaluation: the evaluation settings (prompt sets, seeds, methods); null: skip it.
        experiment: MLflow experiment of the pipeline and its stages.
        tracking_uri: MLflow store (default sqlite:///mlruns.db here, or $MLFLOW_TRACKING_URI).
        record: the pipeline YAML as written (its sections are validated and keyed as
            plain data) and its files; each stage's run records its own section.

    Returns:
        stage name -> its outputs (paths, summaries).
    """
    from prompt_a_video.evolution.pairs import check_pairs_settings, sample_pairs
    from prompt_a_video.evolution.run import check_evolve_settings, evolve_prompts
    from prompt_a_video.interrupts import Interrupted
    from prompt_a_video.pipeline.fit_stage import check_fit_section, fit_fingerprint
    from prompt_a_video.pipeline.stage_state import StageState, stage_key
    from prompt_a_video.tracking import tracked_stage

    # The sections as written in the YAML: jsonargparse instantiates class_path entries
    # inside a dict argument (pairs.rule), but keys, run configs and the sections' own
    # validation need the plain data.
    record = record or StageRun()
    written = record.config
    evolve, sft, pairs, dpo, grpo = (written.get(name, value) for name, value in
                                     (("evolve", evolve), ("sft", sft), ("pairs", pairs), ("dpo", dpo),
                                      ("grpo", grpo)))
    if dpo_rounds < 0:
        raise ValueError(f"pipeline: dpo_rounds must be >= 0, got {dpo_rounds}")
    runs_dpo, runs_grpo = check_alignment(alignment, dpo, dpo_rounds, grpo)
    if runs_grpo and not {"generator", "reward"} <= set(written):
        raise ValueError("pipeline: the grpo stage needs the pipeline's generator and reward as written "
                         "(run it through `pav pipeline -c YAML`)")
    root = Path(workdir).resolve()  # stages hand each other absolute paths (fit runs read them)
    # Validate every section before hours of work start, and before anything is written.
    evolve_options = section_options(evolve_prompts, evolve, "evolve")
    check_evolve_settings(generator, reward, operator, evolve_options)
    pairs_options = section_options(sample_pairs, pairs, "pairs") if runs_dpo else {}
    if runs_dpo:
        check_pairs_settings(reward, pairs_options)
    if evaluation is not None:
        from prompt_a_video.evaluation.run import check_prompt_sets

        check_prompt_sets(evaluation)  # hours before the evaluation stage reads them
    components = {"generator": generator.fingerprint, "reward": reward.fingerprint}
    # The stages that sample the refiner (pairs, GRPO's rollouts, the evaluation) write other
    # text when the sampler's default controls change: they are part of those stages' keys.
    sampler = {"sampling": dict(DEFAULT_SAMPLING)}
    sft_identity = fit_fingerprint(sft, "sft")
    dpo_identity = fit_fingerprint(dpo, "dpo") if runs_dpo else None
    grpo_identity = fit_fingerprint(grpo, "grpo") if runs_grpo else None
    check_fit_section(sft, "sft", {"data": {"init_args": {"pools": [str(root / "evolve" / "pool.jsonl")]}}})
    if dpo_identity is not None:
        check_fit_section(dpo, "dpo", {"model": {"init_args": {"backbone": {"model": str(root / "sft" / "refiner")},
                                                               "sft_adapter": None}},
                                       "data": {"init_args": {"pairs": [str(root / "pairs-r1" / "pairs.jsonl")]}}})
    if grpo_identity is not None:
        check_fit_section(grpo, "grpo", _grpo_wiring(str(root / "sft" / "refiner"), written))
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    limit = getattr(generator, "prompt_token_limit", None)
    family = getattr(generator, "target", None)  # a family of generators/targets.py: its tokenizer is known
    target = {"name": family if isinstance(family, str) else type(generator).__name__,
              "prompt_token_limit": limit} if isinstance(limit, int) else None

    def stage(name: str, payload: dict[str, Any], run: Callable[[Path], dict[str, Any]]) -> tuple[str, dict]:
        key = stage_key(payload)
        state = StageState(root / name, key)
        damage = state.damage() if state.done else None
        if state.done and damage is None:
            print(f"pipeline: {name}: done for this config, skipped ({state.folder})", flush=True)
            results[name] = state.outputs()
            return key, results[name]
        if damage is not None:  # never trust stage.json alone: its outputs may be gone since
            print(f"pipeline: {name}: was done, but {damage}: running it again", flush=True)
        print(f"pipeline: {name}: running in {state.folder}", flush=True)
        state.begin()
        try:
            outputs = run(state.folder)
        except Interrupted as stop:  # stage.json says so; the rerun resumes (a fit from its checkpoint)
            state.interrupt(stop.signal_name, stop.checkpoint)
            raise
        state.finish(outputs)
        results[name] = outputs
        return key, outputs

    with tracked_stage("pipeline", record=record, experiment=experiment, tracking_uri=tracking_uri) as mlflow:
        mlflow.set_tag("pav.workdir", str(root.resolve()))

        def run_evolve(folder: Path) -> dict[str, Any]:
            out = folder / "pool.jsonl"
            section = StageRun({**(evolve or {}), "prompts": source_prompts}, record.files)
            summary = evolve_prompts(generator, reward, operator, prompts=source_prompts, out=str(out),
                                     experiment=experiment, record=section, **evolve_options)
            return {"pool": str(out), "summary": summary}

        evolve_key, evolved = stage("evolve", {**components, "operator": operator.fingerprint,
                                               "source_prompts": source_prompts, "options": evolve}, run_evolve)
        previous_key, previous = stage(
            "sft", {"fit": sft_identity, "upstream": evolve_key},
            lambda folder: _fit("sft", sft, folder, {"data": {"init_args": {"pools": [evolved["pool"]]}}},
                                experiment, tracking_uri, target))
        trained = {"sft": previous["refiner"]}
        for r in range(1, (dpo_rounds if runs_dpo else 0) + 1):
            refiner = previous["refiner"]

            def run_pairs(folder: Path, refiner=refiner) -> dict[str, Any]:
                out = folder / "pairs.jsonl"
                section = StageRun({**(pairs or {}), "refiner": refiner}, record.files)
                summary = sample_pairs(generator, reward, str(out), refiner=refiner, experiment=experiment,
                                       record=section, **pairs_options)
                if not summary.get("pairs"):
                    raise RuntimeError(f"pipeline: pairs-r{r} kept no preference pair ({out}); loosen the pair "
                                       "rule (pairs.rule) or sample more (pairs.n, pairs.limit)")
                return {"pairs": str(out), "summary": summary}

            pairs_key, made = stage(f"pairs-r{r}",
                                    {**components, **sampler, "options": pairs, "upstream": previous_key},
                                    run_pairs)
            wiring = {"model": {"init_args": {"backbone": {"model": str(Path(refiner) / "merged")},
                                              "sft_adapter": None}},
                      "data": {"init_args": {"pairs": [made["pairs"]]}}}
            previous_key, previous = stage(
                f"dpo-r{r}", {"fit": dpo_identity, "upstream": pairs_key},
                lambda folder, wiring=wiring, r=r: _fit(f"dpo-r{r}", dpo, folder, wiring, experiment, tracking_uri,
                                                        target))
            trained[f"dpo-r{r}"] = previous["refiner"]
        if dpo_rounds == 1 and "dpo-r1" in trained:
            trained["dpo"] = trained.pop("dpo-r1")
        if runs_grpo:
            wiring = _grpo_wiring(previous["refiner"], written)
            previous_key, previous = stage(
                "grpo", {**components, **sampler, "fit": grpo_identity, "upstream": previous_key},
                lambda folder: _fit("grpo", grpo, folder, wiring, experiment, tracking_uri, target))
            trained["grpo"] = previous["refiner"]

        if evaluation is not None:
            from prompt_a_video.evaluation.run import base_model_of, run_evaluations

            def run_evaluate(folder: Path) -> dict[str, Any]:
                section = StageRun({"evaluation": evaluation_identity(evaluation), "refiners": trained}, record.files)
                with tracked_stage("evaluate", record=section, experiment=experiment,
                                   tracking_uri=tracking_uri) as run:
                    metrics = run_evaluations(evaluation, generator, reward, folder, trained=trained,
                                              zero_shot_model=base_model_of(trained["sft"]), mlflow=run,
                                              pool_path=evolved["pool"])
                return {name: {"metrics": str(folder / name / "metrics.json"),
                               "report": str(folder / name / "report.html"),
                               "reward": {m: v.get("reward") for m, v in result["methods"].items()}}
                        for name, result in metrics.items()}

            stage("evaluate", {**components, **sampler, "settings": evaluation_identity(evaluation),
                               "upstream": previous_key, "refiners": sorted(trained)}, run_evaluate)
            for name, outputs in results["evaluate"].items():
                print(f"pipeline: report ({name}): {outputs['report']}", flush=True)
    print(f"pipeline: done -> {root}", flush=True)
    return results


def check_alignment(alignment: str, dpo: dict | None, dpo_rounds: int, grpo: dict | None) -> tuple[bool, bool]:
    """Which alignment stages run: ``(dpo, grpo)``; a setting that cannot run is an error.

    ``dpo`` without a ``dpo`` section (or with ``dpo_rounds: 0``) stops after SFT, as it
    always has; ``grpo`` and ``dpo+grpo`` need their sections.
    """
    if alignment not in ALIGNMENTS:
        raise ValueError(f"pipeline: alignment must be one of {', '.join(ALIGNMENTS)}, got {alignment!r}")
    runs_dpo, runs_grpo = alignment_stages(alignment, dpo, dpo_rounds, grpo)
    if "grpo" in alignment and not runs_grpo:
        raise ValueError(f"pipeline: alignment {alignment} needs a grpo section, e.g. "
                         "grpo: {config: experiments/grpo/smollm2-cpu.yaml}")
    if alignment == "dpo+grpo" and not runs_dpo:
        raise ValueError("pipeline: alignment dpo+grpo needs a dpo section and dpo_rounds >= 1 (or alignment: grpo)")
    return runs_dpo, runs_grpo


def alignment_stages(alignment: str, dpo: dict | None, dpo_rounds: int | None, grpo: dict | None
                     ) -> tuple[bool, bool]:
    """Which alignment stages a pipeline YAML runs, ``(dpo, grpo)``: each needs its name in
    ``alignment`` and its section (DPO also rounds; None: the default, 1). What the
    pipeline runs and what `pav evaluate --workdir` expects to find."""
    runs_dpo = "dpo" in alignment and bool(dpo) and (dpo_rounds is None or dpo_rounds > 0)
    return runs_dpo, "grpo" in alignment and bool(grpo)


def _grpo_wiring(refiner: str, written: dict[str, Any]) -> dict[str, Any]:
    """The GRPO fit's policy (the previous refiner, merged) and its generator and reward
    (the pipeline's own, as written)."""
    return {"model": {"init_args": {"backbone": {"model": str(Path(refiner) / "merged")},
                                    "generator": written.get("generator"), "reward": written.get("reward")}}}


def evaluation_identity(settings: EvaluationSettings) -> dict[str, Any]:
    """The evaluation settings as plain data (extra methods by their description)."""
    import dataclasses

    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    fields["extra_methods"] = {k: m.description for k, m in settings.extra_methods.items()}
    return fields


def _fit(name: str, section: dict[str, Any], folder: Path, wiring: dict[str, Any], experiment: str,
         tracking_uri: str | None, target: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, then export the module to ``folder/refiner``."""
    from prompt_a_video.refiner.export import export_refiner
    from prompt_a_video.pipeline.fit_stage import run_fit

    module = run_fit(section, name, folder, wiring, experiment=experiment, run_name=f"fit {name}",
                     tracking_uri=tracking_uri)
    # the target's token limit goes into refiner.json: `pav refine` warns past it
    refiner = export_refiner(module, folder / "refiner", overwrite=True, target=target)
    metrics = {k: float(v) for k, v in module.trainer.callback_metrics.items() if getattr(v, "numel", lambda: 0)() == 1}
    return {"refiner": str(refiner), "metrics": metrics}
