"""A training stage of the pipeline: `pav fit` on experiment YAMLs, wired to the workdir.

A fit section of a pipeline YAML names the fit experiment(s) it builds on and overrides
what differs, in the same nested form as a fit YAML::

    sft:
      config: experiments/sft/smollm2-cpu.yaml   # one path or a list, merged in order
      trainer: {max_steps: 12}
      model: {init_args: {lr: 1.0e-3}}

``config:`` (like every file a YAML names) is looked up next to the pipeline YAML, then in
its project root, so the pipeline runs from any directory
(:mod:`~prompt_a_video.commands.yaml_paths`).

The pipeline adds the wiring (training data from the previous stage, the policy model,
``default_root_dir`` in the stage folder, the MLflow run nested under the pipeline's),
writes the overrides to ``<stage>/overrides.yaml`` and runs the LightningCLI in-process
with ``-c BASE... -c overrides.yaml``, so what ran is exactly ``pav fit`` with those files.
The trained module is exported to ``<stage>/refiner`` (`pav export`'s layout).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from prompt_a_video.pipeline.stage_state import file_digest

log = logging.getLogger(__name__)

LOGGER_CLASS = "prompt_a_video.callbacks.mlflow_logger.MLflowLogger"


def fit_config_files(section: dict[str, Any], where: str) -> list[Path]:
    """The base fit YAMLs of a section (``config:``), checked to exist."""
    files = section.get("config") or []
    files = [files] if isinstance(files, (str, Path)) else list(files)
    if not files:
        raise ValueError(f"pipeline: {where}.config must name the fit experiment YAML(s) the stage builds on, "
                         "e.g. experiments/sft/smollm2-cpu.yaml")
    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"pipeline: {where}.config: {path} not found (a relative path is looked up "
                                    "next to the pipeline YAML, then in its project root, then in the working "
                                    f"directory {Path.cwd()})")
    return paths


def fit_fingerprint(section: dict[str, Any], where: str) -> dict[str, Any]:
    """What decides a fit: the section and the contents of its base YAMLs."""
    return {"section": section, "files": {str(p): file_digest(p) for p in fit_config_files(section, where)}}


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, recursively for nested dicts (lists are replaced)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_fit_section(section: dict[str, Any], where: str, wiring: dict[str, Any]) -> None:
    """Parse a fit section as its stage will (base YAMLs, the section, the wiring) without
    building anything, so a bad key fails in one line before hours of earlier stages run.

    Args:
        section: the pipeline YAML's fit section.
        where: its name (``sft``, ``dpo``), for the message.
        wiring: what the pipeline will set (values here only stand in for the real paths).

    Raises:
        ValueError: a key or value the fit does not accept, named with its section.
    """
    import re
    import tempfile
    import warnings

    import yaml
    from jsonargparse import ArgumentError

    from prompt_a_video.commands.errors import argument_error_line
    from prompt_a_video.lightning_cli import PavLightningCLI

    class ParsedOnly(Exception):
        pass

    class ParseOnlyCLI(PavLightningCLI):
        def _set_seed(self) -> None:  # parsing must not touch the process's random state
            pass

        def before_instantiate_classes(self) -> None:
            raise ParsedOnly

    files = fit_config_files(section, where)
    overrides = deep_merge({k: v for k, v in section.items() if k != "config"}, wiring)
    with tempfile.TemporaryDirectory() as folder:
        override_file = Path(folder) / f"{where}-section.yaml"
        override_file.write_text(yaml.safe_dump(overrides, sort_keys=False), encoding="utf-8")
        args = ["fit", *[a for f in files for a in ("-c", str(f))], "-c", str(override_file)]
        try:
            with warnings.catch_warnings():  # "args and sys.argv both given": sys.argv is `pav pipeline`'s
                warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
                ParseOnlyCLI(args=args)
        except ParsedOnly:
            return
        except ArgumentError as exc:
            # the key as the section spells it, not as a line of the temporary file
            line = re.sub(rf"^{re.escape(str(override_file))}:\d+: ", "", argument_error_line(exc, args))
            raise ValueError(f"pipeline: section {where!r}: {line} (options: `pav fit --help`)") from None


def last_checkpoint(folder: Path) -> Path | None:
    """The newest Lightning checkpoint a killed fit left in its stage folder."""
    found = sorted(folder.rglob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def run_fit(section: dict[str, Any], where: str, folder: Path, wiring: dict[str, Any], *, experiment: str,
            run_name: str, tracking_uri: str | None = None):
    """Run `pav fit` for a section in ``folder``; returns the trained LightningModule.

    Args:
        section: the pipeline YAML's fit section (``config`` + nested overrides).
        where: the section's name, for error messages (``sft``, ``dpo``).
        folder: the stage folder (``default_root_dir``; ``overrides.yaml`` goes there).
        wiring: nested overrides the pipeline sets (data paths, policy model); they win
            over the section's own.
        experiment: MLflow experiment of the run; run_name: its name.
        tracking_uri: MLflow store (default: the project's).
    """
    import yaml
    from jsonargparse import ArgumentError

    from prompt_a_video.lightning_cli import run_lightning
    from prompt_a_video.commands.errors import argument_error_line

    files = fit_config_files(section, where)
    overrides = {k: v for k, v in section.items() if k != "config"}
    logger_args: dict[str, Any] = {"experiment_name": experiment, "run_name": run_name}
    if tracking_uri:
        logger_args["tracking_uri"] = tracking_uri
    pipeline_side = {"trainer": {"default_root_dir": str(folder),
                                 "logger": {"class_path": LOGGER_CLASS, "init_args": logger_args}}}
    overrides = deep_merge(deep_merge(overrides, pipeline_side), wiring)
    override_file = folder / "overrides.yaml"
    override_file.write_text(f"# written by `pav pipeline` for its {where} stage\n"
                             + yaml.safe_dump(overrides, sort_keys=False, allow_unicode=True), encoding="utf-8")
    args = ["fit", *[a for f in files for a in ("-c", str(f))], "-c", str(override_file)]
    checkpoint = last_checkpoint(folder)
    if checkpoint is not None:
        print(f"pipeline: {where}: resuming from {checkpoint}", flush=True)
        args += ["--ckpt_path", str(checkpoint)]
    print(f"pipeline: {where}: pav {' '.join(args)}", flush=True)
    try:
        cli = run_lightning(args)
    except ArgumentError as exc:  # a bad key of the section (or its base YAML): name the section
        raise ValueError(f"pipeline: section {where!r}: {argument_error_line(exc, args)} "
                         "(options: `pav fit --help`)") from exc
    return cli.model
