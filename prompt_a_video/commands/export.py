"""`pav export`: turn a training checkpoint into Hugging Face folders (see
:mod:`prompt_a_video.refiner.export` for the layout), and log them as an MLflow model
(:mod:`prompt_a_video.refiner.mlflow_model`) when asked."""

from __future__ import annotations

import sys
from pathlib import Path

from prompt_a_video.tracking import StageRun


def export(ckpt_path: str, out: str, merged: bool = True, adapter: bool = True, overwrite: bool = False,
           log_model: bool = False, register: str | None = None, tracking_uri: str | None = None,
           record: StageRun | None = None) -> None:
    """Export a refiner checkpoint: LoRA adapter (PEFT) and merged model (HF, vLLM-ready).

    Writes OUT/adapter/ (adapter_config.json, adapter_model.safetensors), OUT/merged/
    (safetensors, config.json, generation_config.json), each with the tokenizer and its
    chat template, and OUT/refiner.json (system prompt, user template, base model, what
    was trained) so the refiner is prompted exactly as in training. After full
    fine-tuning (no LoRA) only merged/ is written. OUT/merged/ can be the
    backbone.model of the next training round (iterated DPO).

    With --log_model true the export folder is also logged as an MLflow model (a pyfunc
    whose predict is Refiner.refine) to the fit's MLflow run, the one recorded in the
    checkpoint, when the tracking store has it, else to a new "export" run; --register
    NAME registers it as the next version of NAME. It then loads as models:/NAME/VERSION
    (or runs:/RUN_ID/refiner) with Refiner, pav refine, pav serve and mlflow models serve.

    Example: pav export --ckpt_path runs/<exp>/<run>/checkpoints/last.ckpt --out refiners/sft
    --log_model true --register refiner-sft

    Args:
        ckpt_path: a Lightning checkpoint of `pav fit` (SFT or DPO refiner).
        out: the export folder (must be empty or absent unless overwrite).
        merged: write merged/ (the adapter merged into the base model).
        adapter: write adapter/ (the LoRA adapter alone, PEFT format).
        overwrite: replace an existing non-empty export folder.
        log_model: log the export folder as an MLflow model (implied by --register).
        register: register the logged model under this name (a new version each time).
        tracking_uri: MLflow store (default sqlite:///mlruns.db here, or $MLFLOW_TRACKING_URI).
    """
    from prompt_a_video.output_lock import output_lock
    from prompt_a_video.refiner.export import export_refiner

    if register is not None and not register.strip():
        raise SystemExit("pav export: --register needs a model name")
    with output_lock(out, "--out"):  # two exports into one folder would mix their files
        folder = export_refiner(ckpt_path, out, merged=merged, adapter=adapter, overwrite=overwrite)
        model_uri = None
        if log_model or register is not None:
            model_uri = log_export(ckpt_path, folder, register, tracking_uri, record)
    for part in ("adapter", "merged"):
        if (folder / part).is_dir():
            print(f"{part}: {folder / part}", flush=True)
    print(f"settings: {folder / 'refiner.json'}", flush=True)
    if model_uri is not None:
        print(f"mlflow model: {model_uri}", flush=True)


def log_export(ckpt_path: str, folder: Path, register: str | None, tracking_uri: str | None,
               record: StageRun | None) -> str:
    """Log ``folder`` to the fit's run when the checkpoint names one that the store has
    (the model then sits next to the fit's params, metrics and config), else to a new run;
    returns the model's URI. A checkpoint copied from another store gets a new run, with
    the fit's run id among its params, rather than an error: the export is done by then."""
    from prompt_a_video.lightning_cli import run_id_from_checkpoint
    from prompt_a_video.refiner.mlflow_model import log_refiner_model, run_exists
    from prompt_a_video.tracking import resolve_tracking_uri

    store = resolve_tracking_uri(tracking_uri)
    fit_run = run_id_from_checkpoint(ckpt_path)
    if fit_run is not None and run_exists(fit_run, store):
        return log_refiner_model(folder, run_id=fit_run, registered_model_name=register, tracking_uri=store)
    if fit_run is not None:
        print(f"pav export: the checkpoint's MLflow run {fit_run} is not in {store}: logging the model to a new "
              "run (set MLFLOW_TRACKING_URI or --tracking_uri to the fit's store to log it there)",
              file=sys.stderr, flush=True)
    record = record or StageRun()
    if fit_run is not None:
        record.config = {**record.config, "fit_run_id": fit_run}
    return log_refiner_model(folder, registered_model_name=register, tracking_uri=store, record=record)
