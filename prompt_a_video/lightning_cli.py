"""The LightningCLI behind `pav fit|validate|test|predict`.

What it adds to Lightning's CLI:
- model and data module by ``class_path`` (any LightningModule / LightningDataModule);
- MLflow by default (:class:`~prompt_a_video.callbacks.mlflow_logger.MLflowLogger`,
  ``sqlite:///mlruns.db``), with a run name that says what ran (``fit sft/smollm2-cpu``);
- the resolved config logged to the run (:class:`LogConfigToMLflow`), since Lightning's
  SaveConfigCallback needs a ``log_dir`` that a sqlite or server store does not have;
- ``--ckpt_path`` resumes the MLflow run recorded in the checkpoint;
- SIGTERM or SIGINT during a fit saves ``interrupted.ckpt`` at the next step boundary,
  ends the MLflow run KILLED and exits 143 / 130
  (:class:`~prompt_a_video.callbacks.stop_on_signal.StopOnSignal`);
- checkpoints under ``runs/<experiment id>/<run id>/checkpoints`` (``default_root_dir``);
- ``-c`` takes a file or a shipped recipe's name (``-c sft/smollm2-cpu``), and relative
  paths inside a ``-c`` YAML are looked up next to it, in its project root, then in the
  shipped recipes (:mod:`~prompt_a_video.commands.yaml_paths`), as for every `pav` command;
- a bad option raises jsonargparse's ``ArgumentError`` (``exit_on_error=False``) for the
  caller to report (`pav` prints one line, the pipeline names its section).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningCLI

from prompt_a_video.callbacks.mlflow_config import CHECKPOINT_RUN_KEY, LogConfigToMLflow
from prompt_a_video.commands.yaml_paths import CONFIG_HELP, ExperimentFileAction, use_experiment_yaml

log = logging.getLogger(__name__)

LOGGER_CLASS = "prompt_a_video.callbacks.mlflow_logger.MLflowLogger"


def run_name_for(subcommand: str, config_files: list[Any], model_class: str | None) -> str:
    """``fit sft/smollm2-cpu`` for an experiment file, ``fit SFTRefiner`` without one."""
    if config_files:
        path = Path(str(config_files[-1])).with_suffix("")
        parts = path.parts
        name = "/".join(parts[parts.index("experiments") + 1:]) if "experiments" in parts else path.name
        return f"{subcommand} {name}"
    short = (model_class or "model").rsplit(".", 1)[-1]
    return f"{subcommand} {short}"


def run_id_from_checkpoint(ckpt_path: str) -> str | None:
    """The MLflow run id that :class:`LogConfigToMLflow` stored in a checkpoint (None for
    ``last``/``best`` or a missing file, which Lightning resolves or reports).

    Read without running code from the file (``weights_only``, memory-mapped tensors); a
    file that is not a Lightning checkpoint is a ``ValueError`` naming it, before any
    weights load.
    """
    from prompt_a_video.refiner.export import read_checkpoint

    if not Path(ckpt_path).is_file():
        return None
    return read_checkpoint(ckpt_path).get(CHECKPOINT_RUN_KEY)


class PavLightningCLI(LightningCLI):
    def __init__(self, args: list[str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("save_config_callback", LogConfigToMLflow)
        kwargs.setdefault("trainer_defaults", {
            "logger": {"class_path": LOGGER_CLASS},
            "default_root_dir": "runs",
        })
        kwargs.setdefault("parser_kwargs", {"prog": "pav", "exit_on_error": False,
                                            "parser_mode": use_experiment_yaml()})
        super().__init__(
            model_class=None,
            datamodule_class=None,
            subclass_mode_model=True,
            subclass_mode_data=True,
            args=args,
            **kwargs,
        )

    def init_parser(self, **kwargs: Any):
        """Lightning's parser, with `pav`'s ``-c`` (relative paths follow the YAML)."""
        import lightning.pytorch as pl

        kwargs.setdefault("dump_header", [f"lightning.pytorch=={pl.__version__}"])
        parser = self.parser_class(**kwargs)
        parser.add_argument("-c", "--config", action=ExperimentFileAction, help=CONFIG_HELP)
        return parser

    def instantiate_trainer(self, **kwargs: Any):
        """Lightning's trainer, plus :class:`StopOnSignal` whatever the YAML's callbacks:
        SIGTERM or Ctrl+C during a fit saves a checkpoint and exits 143 / 130."""
        from prompt_a_video.callbacks.stop_on_signal import StopOnSignal

        trainer = super().instantiate_trainer(**kwargs)
        trainer.callbacks.append(StopOnSignal())
        return trainer

    def parse_arguments(self, parser, args) -> None:
        """Lightning's parse, then ``--ckpt_path`` read by :func:`run_id_from_checkpoint`:
        Lightning's CLI loads the file next for its hyperparameters, and a file that is not
        a checkpoint (or would run code) must fail first, in one line that names it."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        ckpt_path = config.get("ckpt_path")
        self.checkpoint_run_id = run_id_from_checkpoint(str(ckpt_path)) if ckpt_path else None

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        ckpt_path, run_id = config.get("ckpt_path"), self.checkpoint_run_id
        logger_cfg = config.trainer.get("logger")
        mlflow_cfg = self._mlflow_logger_config(logger_cfg)
        if mlflow_cfg is None:
            return
        if mlflow_cfg.get("init_args") is None:
            mlflow_cfg.init_args = Namespace()
        init_args = mlflow_cfg.init_args
        if init_args.get("run_name") is None:
            model_class = config.model.get("class_path") if isinstance(config.get("model"), Namespace) else None
            init_args["run_name"] = run_name_for(self.subcommand, config.get("config") or [], model_class)
        if run_id and init_args.get("run_id") is None:
            log.info("resuming MLflow run %s from %s", run_id, ckpt_path)
            init_args["run_id"] = run_id

    @staticmethod
    def _mlflow_logger_config(logger_cfg: Any) -> Namespace | None:
        """The first MLflow logger entry of ``trainer.logger`` (a Namespace or a list of them)."""
        entries = logger_cfg if isinstance(logger_cfg, list) else [logger_cfg]
        for entry in entries:
            if isinstance(entry, Namespace) and str(entry.get("class_path", "")).lower().endswith("mlflowlogger"):
                return entry
        return None


def run_lightning(args: list[str] | None):
    """Run the LightningCLI; ``None`` lets it read ``sys.argv``. A bad option raises
    jsonargparse's ``ArgumentError``: the caller says whose option it was."""
    import warnings

    with warnings.catch_warnings():
        # Called from Python (tests, the pipeline) with explicit args: Lightning warns that
        # sys.argv also has arguments, which are the caller's own, not ours.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return PavLightningCLI(args=args)
