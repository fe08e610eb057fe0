"""MLflow tracking: where runs go, what they are called, and what never reaches them.

Default store: ``sqlite:///mlruns.db`` in the working directory (embedded, no server),
unless the YAML gives a ``tracking_uri`` or ``$MLFLOW_TRACKING_URI`` is set, which is how
a team points every run at a shared MLflow server.

This module imports nothing heavy at import time; the logger class lives in
:mod:`prompt_a_video.callbacks.mlflow_logger`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
DEFAULT_EXPERIMENT = "prompt-a-video"
REDACTED = "***"

# Keys whose values are secrets (API keys of chat operators, hub tokens...). Matched on
# the last component of a dotted key, so `operator.init_args.api_key` is caught.
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential|authorization)", re.I)
# Values that look like keys even under an innocent name (OpenAI/HF/Anthropic styles).
_SECRET_VALUE = re.compile(r"^(sk-[A-Za-z0-9_\-]{16,}|hf_[A-Za-z0-9]{20,}|Bearer\s+\S+)$")
# Non-secret keys that happen to match the pattern above.
_NOT_SECRET = {"max_new_tokens", "max_tokens", "prompt_token_limit", "token_limit", "max_prompt_tokens",
               "pad_token", "eos_token", "bos_token", "tokenizer", "add_special_tokens"}


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """The YAML's value, else ``$MLFLOW_TRACKING_URI``, else the embedded sqlite store.

    A relative sqlite path is made absolute against the working directory now: MLflow
    caches one store per URI string, so ``sqlite:///mlruns.db`` would otherwise keep
    pointing at the first directory it was used in.
    """
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/") and uri[len(prefix):] != ":memory:":
        uri = prefix + os.path.abspath(uri[len(prefix):])
    return uri


def is_secret_key(key: str) -> bool:
    last = str(key).rsplit(".", 1)[-1]
    return last not in _NOT_SECRET and bool(_SECRET_KEY.search(last))


def redact(value: Any, key: str = "") -> Any:
    """A copy of a nested config with secret values replaced by ``***``."""
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v, key) for v in value)
    if value is not None and is_secret_key(key):
        return REDACTED
    if isinstance(value, str) and _SECRET_VALUE.match(value.strip()):
        return REDACTED
    return value


def flatten(config: Mapping, prefix: str = "") -> dict[str, Any]:
    """``{"model": {"lr": 1}}`` -> ``{"model.lr": 1}``; lists are kept as values."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def config_params(config: Mapping) -> dict[str, str]:
    """MLflow params of a resolved config: flattened, redacted, ``init_args`` elided.

    ``model.init_args.backbone.init_args.lora.r`` becomes ``model.backbone.lora.r``, which
    is what a person filters on in the MLflow UI.
    """
    params = {}
    for key, value in flatten(redact(dict(config))).items():
        short = key.replace(".init_args.", ".")
        params[short] = "" if value is None else str(value)
    return params


@dataclass
class StageRun:
    """What a stage's MLflow run records: the stage's resolved config (as the user wrote
    it, class_path entries as plain data) and the experiment files it came from (the last
    one names the run). Made by the command layer from the parsed command line, and by
    the pipeline from its sections; passed to the stage as ``record``."""

    config: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


@contextlib.contextmanager
def tracked_stage(stage: str, params: dict[str, Any] | None = None, *, record: StageRun | None = None,
                  experiment: str | None = None, run_name: str | None = None,
                  tracking_uri: str | None = None) -> Iterator[Any]:
    """An MLflow run for a non-Lightning stage: config artifact, params, nested under an
    active parent run (the pipeline) when there is one. Yields the ``mlflow`` module bound
    to the run, so the stage calls ``mlflow.log_metric(...)``. The run ends FINISHED,
    FAILED on an error, or KILLED when a signal stopped the stage
    (:class:`~prompt_a_video.interrupts.Interrupted`).

    Args:
        stage: the stage's name (tag ``pav.stage``, and the run name's first word).
        params: extra values to log as params (and as the config when ``record`` has none).
        record: the config and files to record (see :class:`StageRun`).
        experiment: MLflow experiment (default ``prompt-a-video``).
        run_name: default ``"<stage> <last experiment file's stem>"``, or the stage.
        tracking_uri: the store (default :func:`resolve_tracking_uri`).
    """
    import mlflow
    import yaml

    record = record or StageRun()
    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    mlflow.set_experiment(experiment or DEFAULT_EXPERIMENT)
    config = redact(record.config or params or {})
    if run_name is None:
        run_name = f"{stage} {os.path.splitext(os.path.basename(record.files[-1]))[0]}" if record.files else stage
    from prompt_a_video.interrupts import Interrupted

    nested = mlflow.active_run() is not None
    mlflow.start_run(run_name=run_name, nested=nested)
    try:
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
    except Interrupted:  # stopped by a person or a scheduler, not failed: MLflow's KILLED
        mlflow.end_run("KILLED")
        raise
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")
