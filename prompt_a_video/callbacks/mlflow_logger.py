"""The MLflow logger of every `pav` run: embedded sqlite store by default, safe resume.

Lightning's ``MLFlowLogger`` defaults to a ``./mlruns`` file store (deprecated in MLflow 3)
and fails when a resumed run logs a parameter with a new value. This subclass resolves the
tracking URI the project's way (:func:`prompt_a_video.tracking.resolve_tracking_uri`),
redacts secrets, and on resume logs only parameters the run does not have yet.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from lightning.pytorch.loggers import MLFlowLogger as _LightningMLFlowLogger
from lightning.pytorch.utilities import rank_zero_only

from prompt_a_video.tracking import DEFAULT_EXPERIMENT, flatten, redact, resolve_tracking_uri

log = logging.getLogger(__name__)

# MLflow's limit on a param value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH).
_MAX_PARAM_LENGTH = 6000


class MLflowLogger(_LightningMLFlowLogger):
    """Lightning's MLflow logger with the project's defaults.

    Args:
        experiment_name: MLflow experiment that groups the runs.
        run_name: shown in the UI; `pav` fills it from the subcommand and the experiment file.
        tracking_uri: ``None`` means ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns.db``.
        tags: extra run tags.
        log_model: upload checkpoints as artifacts (``True``: at the end, ``"all"``: each).
        run_id: continue this run instead of creating one (set by `pav fit --ckpt_path`).
    """

    def __init__(
        self,
        experiment_name: str = DEFAULT_EXPERIMENT,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        tags: dict[str, Any] | None = None,
        log_model: Literal[True, False, "all"] = False,
        prefix: str = "",
        artifact_location: str | None = None,
        run_id: str | None = None,
    ) -> None:
        tags = dict(tags or {})
        if run_id is None and "mlflow.parentRunId" not in tags:
            import mlflow

            # Inside `pav pipeline` (an active parent run in this process), the fit is
            # one of its stages: nest it, as the non-Lightning stages are.
            parent = mlflow.active_run()
            if parent is not None:
                tags["mlflow.parentRunId"] = parent.info.run_id
        super().__init__(
            experiment_name=experiment_name,
            run_name=run_name,
            tracking_uri=resolve_tracking_uri(tracking_uri),
            tags=tags or None,
            log_model=log_model,
            prefix=prefix,
            artifact_location=artifact_location,
            run_id=run_id,
        )

    def mark_killed(self) -> None:
        """The fit was stopped by a signal (:class:`~prompt_a_video.callbacks.stop_on_signal.StopOnSignal`):
        the run ends KILLED, not FAILED, as MLflow calls a run a person or scheduler stopped."""
        self._killed = True

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        if status == "failed" and getattr(self, "_killed", False):
            status = "KILLED"
        super().finalize(status)

    @rank_zero_only
    def log_hyperparams(self, params: Any) -> None:
        from mlflow.entities import Param

        if not isinstance(params, dict):
            params = vars(params)
        flat = {k: "" if v is None else str(v) for k, v in flatten(redact(params)).items()}
        existing = self.experiment.get_run(self.run_id).data.params
        new = []
        for key, value in flat.items():
            value = value[:_MAX_PARAM_LENGTH]
            if key not in existing:
                new.append(Param(key=key, value=value))
            elif existing[key] != value:
                # MLflow params are immutable; a resumed run that changed one keeps the
                # first value and records the new one as a tag, instead of crashing.
                log.warning("param %s changed on resume: %r -> %r (kept as tag)", key, existing[key], value)
                self.experiment.set_tag(self.run_id, f"resumed.{key}", value[:5000])
        for start in range(0, len(new), 100):  # MLflow takes at most 100 params a batch
            self.experiment.log_batch(run_id=self.run_id, params=new[start : start + 100])
