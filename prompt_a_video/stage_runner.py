"""Run a pipeline stage (a typed function) from the command line, and track it in MLflow.

A stage is a plain function whose typed signature is its config: jsonargparse builds the
parser (``-c FILE``, dotted overrides, ``--print_config``, components by ``class_path``),
instantiates the components, and calls it. The resolved config is kept so that
:func:`tracked_stage` can log it to the stage's MLflow run.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from collections.abc import Callable, Iterator
from typing import Any

_CURRENT_CONFIG: dict[str, Any] = {}


def run_function_stage(name: str, function: Callable, args: list[str] | None):
    """Parse ``args`` for ``function``'s signature, instantiate components, call it."""
    import yaml
    from jsonargparse import ArgumentParser

    from prompt_a_video.commands.errors import parse_errors_exit
    from prompt_a_video.commands.yaml_paths import ExperimentFileAction, use_experiment_yaml

    # exit_on_error=False: a bad option raises, and parse_errors_exit makes it one line (exit 2)
    parser = ArgumentParser(prog=f"pav {name}", description=(function.__doc__ or "").split("\n\n")[0],
                            default_meta=False, exit_on_error=False, parser_mode=use_experiment_yaml())
    parser.add_argument("-c", "--config", action=ExperimentFileAction,
                        help="experiment YAML (repeatable); its relative paths are looked up next to it, "
                             "then in its project root")
    parser.add_function_arguments(function, as_group=False)
    positional = getattr(function, "positional", None)
    if positional:  # `pav refine --model DIR "a dog running"`: bare words are more --<positional> values
        parser.add_argument("bare", nargs="*", type=str, default=[], metavar=positional.upper(),
                            help=f"values of --{positional} given without the option")
    args = _expand_flags(function, list(args or []))
    with parse_errors_exit(name, args):
        config = parser.parse_args(args)
    bare = config.pop("bare") if positional else []
    resolved = yaml.safe_load(parser.dump(config, skip_none=False, skip_validation=True))
    resolved.pop("config", None)
    files = [str(p) for p in (config.get("config") or []) if p is not None]
    _CURRENT_CONFIG.clear()
    _CURRENT_CONFIG.update(stage=name, config=resolved, files=files)
    init = parser.instantiate_classes(config)
    kwargs = {k: v for k, v in vars(init).items() if k != "config"}
    if bare:
        given = kwargs.get(positional)
        kwargs[positional] = [*([] if given is None else [given] if isinstance(given, str) else given), *bare]
    return function(**kwargs)


def _expand_flags(function: Callable, args: list[str]) -> list[str]:
    """Command-line conveniences on top of jsonargparse: a boolean option given alone means
    true (``--json`` = ``--json true``), a function's ``short_options`` (e.g.
    ``{"-n": "--n"}``) are aliases, and its ``repeatable`` list options append when
    repeated (``--refiner a=x --refiner b=y`` = ``--refiner+ a=x --refiner+ b=y``)."""
    import inspect

    aliases = dict(getattr(function, "short_options", {}) or {})
    aliases.update({option: f"{option}+" for option in getattr(function, "repeatable", ())})
    booleans = {f"--{name}" for name, p in inspect.signature(function).parameters.items()
                if p.annotation in (bool, "bool")}
    out: list[str] = []
    for i, arg in enumerate(args):
        arg = aliases.get(arg, arg)
        out.append(arg)
        if arg in booleans and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append("true")
    return out


def current_stage_config() -> dict[str, Any]:
    """``{"stage", "config", "files"}`` of the stage being run from the command line ({} otherwise)."""
    return dict(_CURRENT_CONFIG)


@contextlib.contextmanager
def substage(stage: str, config: dict[str, Any]) -> Iterator[None]:
    """Within ``pav pipeline``: make ``config`` the current stage config while a stage
    function runs, so its :func:`tracked_stage` run logs its own section, not the whole
    pipeline's (the experiment files stay, for the run name)."""
    saved = dict(_CURRENT_CONFIG)
    _CURRENT_CONFIG.update(stage=stage, config=config)
    try:
        yield
    finally:
        _CURRENT_CONFIG.clear()
        _CURRENT_CONFIG.update(saved)


@contextlib.contextmanager
def tracked_stage(stage: str, params: dict[str, Any] | None = None, *, experiment: str | None = None,
                  run_name: str | None = None, tracking_uri: str | None = None) -> Iterator[Any]:
    """An MLflow run for a non-Lightning stage: config artifact, params, nested under an
    active parent run (the pipeline) when there is one. Yields the ``mlflow`` module bound
    to the run, so the stage calls ``mlflow.log_metric(...)``.
    """
    import mlflow
    import yaml

    from prompt_a_video.tracking import DEFAULT_EXPERIMENT, config_params, redact, resolve_tracking_uri

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    mlflow.set_experiment(experiment or DEFAULT_EXPERIMENT)
    current = current_stage_config()
    config = redact(current.get("config") or params or {})
    if run_name is None:
        files = current.get("files") or []
        run_name = f"{stage} {os.path.splitext(os.path.basename(files[-1]))[0]}" if files else stage
    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_name=run_name, nested=nested) as run:
        mlflow.set_tag("pav.stage", stage)
        mlflow.log_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "config.yaml")
        flat = config_params(config)
        if params:
            flat.update(config_params(params))
        items = [(k, v[:6000]) for k, v in flat.items()]
        for start in range(0, len(items), 100):
            mlflow.log_params(dict(items[start:start + 100]))
        mlflow.set_tag("pav.started", _dt.datetime.now().isoformat(timespec="seconds"))
        yield mlflow
        del run
