"""Log the resolved config of a `pav` run to its MLflow run.

Lightning's ``SaveConfigCallback`` writes ``config.yaml`` into ``trainer.log_dir``, which
does not exist for a sqlite or server MLflow store. This callback logs the resolved,
redacted config as the run's ``config.yaml`` artifact and its flattened values as params,
and remembers the run id inside every checkpoint so that `pav fit --ckpt_path` resumes
the same run.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

import yaml
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback

from prompt_a_video.tracking import config_params, redact

CHECKPOINT_RUN_KEY = "mlflow_run_id"


def mlflow_loggers(trainer: Trainer) -> list:
    from lightning.pytorch.loggers import MLFlowLogger

    return [lg for lg in trainer.loggers if isinstance(lg, MLFlowLogger)]


class LogConfigToMLflow(SaveConfigCallback):
    """Config as artifact + params in MLflow; falls back to ``log_dir`` for other loggers."""

    def __init__(self, parser, config, config_filename: str = "config.yaml", overwrite: bool = True,
                 multifile: bool = False, save_to_log_dir: bool = False) -> None:
        super().__init__(parser, config, config_filename, overwrite, multifile, save_to_log_dir)

    def resolved_config(self) -> dict[str, Any]:
        """The config as a plain dict, secrets redacted."""
        text = self.parser.dump(self.config, skip_none=False, skip_validation=True)
        return redact(yaml.safe_load(text))

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        config = self.resolved_config()
        text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        loggers = mlflow_loggers(trainer)
        if not loggers:
            # Another logger (TensorBoard, CSV): keep Lightning's behaviour, minus secrets.
            if trainer.log_dir:
                os.makedirs(trainer.log_dir, exist_ok=True)
                with open(os.path.join(trainer.log_dir, self.config_filename), "w", encoding="utf-8") as fh:
                    fh.write(text)
            return
        params = {k: v for k, v in config_params(config).items() if not k.startswith("trainer.logger")}
        for logger in loggers:
            client, run_id = logger.experiment, logger.run_id
            artifacts = {a.path for a in client.list_artifacts(run_id)}
            name = self.config_filename
            if name in artifacts:  # a resumed fit: keep the first config, add this one
                stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                stage_name = getattr(stage, "value", stage)  # TrainerFn enum -> "fit"
                name = f"{os.path.splitext(name)[0]}-{stage_name}-{stamp}.yaml"
            client.log_text(run_id, text, name)
            logger.log_hyperparams(params)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict) -> None:
        loggers = mlflow_loggers(trainer)
        if loggers:
            checkpoint[CHECKPOINT_RUN_KEY] = loggers[0].run_id
