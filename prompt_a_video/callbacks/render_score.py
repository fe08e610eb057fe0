"""Render-and-score validation: how well the refiner's prompts render, measured during training.

``val/loss`` says how closely the refiner imitates its targets; what the method is after is
the reward of the videos its prompts produce. At the end of validation this callback:

1. refines a fixed set of validation prompts with the module's ``refine(prompts, n=1, ...)``;
2. renders each refined prompt with a generator at one fixed seed (through the render cache
   by default, so an unchanged refinement is never rendered or scored twice);
3. scores every video with a reward against the ORIGINAL prompt (alignment is judged
   against what the user asked for, not against the rewrite);
4. logs ``val/reward`` and ``val/reward/<dim>`` (means over the videos that rendered and
   scored) and ``val/render_failures`` (how many did not), synced across ranks;
5. on rank 0, with an MLflow logger: a table of (original, refined, reward, scores) and the
   first few videos as MP4 under ``val/epochNNN/`` of the run's artifacts.

Each rank refines, renders and scores its own slice ``prompts[rank::world_size]``; the
means are torchmetrics states summed over ranks, so the logged value is the mean over all
prompts whatever the split. The artifact table holds rank 0's slice only (gathering
strings across ranks would cost a collective for a debugging aid; with one device it is
the whole set). Ranks refine independently, which suits DDP (each holds the whole model);
sharded strategies (FSDP, ZeRO-3) would need every rank to generate in lockstep and are
not supported. The generator and reward live beside the model being trained: on a GPU,
pick a backbone that fits next to it (or one with CPU offload).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from prompt_a_video.generators.base import Generator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.video import Video

log = logging.getLogger(__name__)

#: The aggregate dimension of a composite reward, logged as ``val/reward``.
AGGREGATE = "reward"
METRIC_PREFIX = "val/reward"
FAILURES_METRIC = "val/render_failures"


def load_validation_prompts(prompts: list[str] | str) -> list[str]:
    """The validation prompts: a list as given, or a prompt set (``.txt``, ``.jsonl``, ``vbench[:dims]``)."""
    if isinstance(prompts, str):
        from prompt_a_video.data import load_prompts

        try:
            items = [item.prompt for item in load_prompts(prompts)]
        except (ValueError, OSError) as err:
            raise ValueError(f"RenderAndScoreValidation.prompts: {err}") from err
        where = repr(prompts)
    else:
        items = [str(p).strip() for p in prompts]
        where = "the list"
    if not items:
        raise ValueError(f"RenderAndScoreValidation.prompts: {where} holds no prompt")
    blank = [i for i, p in enumerate(items) if not p]
    if blank:
        raise ValueError(f"RenderAndScoreValidation.prompts: empty prompt(s) at index {blank} of {where}")
    return items


@dataclass
class ValidationRenders:
    """What one rank refined, rendered and scored.

    Attributes:
        originals: the validation prompts of this rank, ``[B]``.
        refined: the refiner's rewrite of each, ``[B]``.
        videos: the render of each refined prompt; None where rendering raised.
        scores: ``{dim: float Tensor[B]}`` in the reward's own scales, NaN where failed.
        failures: ``{index: reason}`` of the items that did not render or score.
    """

    originals: list[str]
    refined: list[str]
    videos: list[Video | None]
    scores: dict[str, torch.Tensor]
    failures: dict[int, str] = field(default_factory=dict)

    def ok(self) -> list[int]:
        """Indices of the items that rendered and scored."""
        return [i for i in range(len(self.originals)) if i not in self.failures]


class RenderAndScoreValidation(Callback):
    """Refine, render and score fixed validation prompts at the end of validation.

    Needs a LightningModule with ``refine(prompts, n=1, **sampling) -> list[list[str]]``
    (the refiner modules). Runs on every ``every_n_epochs``-th validation, never in the
    sanity check. Lightning calls each validation run a "validation epoch": with
    ``val_check_interval`` there are several per training epoch, and each counts here.

    Logged (epoch-level, synced across ranks):

    - ``val/reward``: mean aggregate ``reward`` of the reward (a one-dimension reward: that
      dimension) over the videos that rendered and scored;
    - ``val/reward/<dim>``: mean of each dimension the reward declares (a composite
      reward's ``passes_floors`` is then the share of videos above its floors);
    - ``val/render_failures``: how many prompts failed to render or score (excluded above).

    Artifacts (rank 0, MLflow loggers only), under ``val/epochNNN/`` where NNN counts the
    validations this callback saw, from 0 (the training epoch when validating once an
    epoch; carried in checkpoints so a resumed fit goes on counting):
    ``table.json`` (MLflow table: ``original``, ``refined``, ``reward``, one column per
    dimension, ``failure``, ``video``) and the first ``n_logged_videos`` renders as MP4.

    Args:
        generator: the backbone that renders the refined prompts (``class_path`` in YAML).
        reward: the reward set; a composite reward's ``reward`` is the headline metric.
        prompts: the validation prompts, or a prompt set: a ``.txt``/``.jsonl`` file or
            ``vbench[:dim,...]``. Use prompts the refiner does not train on.
        every_n_epochs: render on every N-th validation run.
        seed: the one seed every prompt is rendered with, so epochs compare like for like.
        n_logged_videos: how many of rank 0's renders to log as MP4 (0: none).
        refine_kwargs: extra arguments of ``refine`` (``max_new_tokens``, ``do_sample:
            false`` for greedy decoding, ``temperature``, ``seed``...).
        use_cache: go through the render-and-score cache (``prompt_a_video.cache``).
        cache_root: the cache folder (default ``$PAV_CACHE_DIR/render-cache``).
    """

    def __init__(
        self,
        generator: Generator,
        reward: Reward,
        prompts: list[str] | str,
        every_n_epochs: int = 1,
        seed: int = 0,
        n_logged_videos: int = 4,
        refine_kwargs: dict[str, Any] | None = None,
        use_cache: bool = True,
        cache_root: str | None = None,
    ) -> None:
        if not isinstance(generator, Generator):
            raise TypeError(f"RenderAndScoreValidation.generator must be a Generator, got {type(generator).__name__}")
        if not isinstance(reward, Reward):
            raise TypeError(f"RenderAndScoreValidation.reward must be a Reward, got {type(reward).__name__}")
        if every_n_epochs < 1:
            raise ValueError(f"RenderAndScoreValidation.every_n_epochs must be >= 1, got {every_n_epochs}")
        if n_logged_videos < 0:
            raise ValueError(f"RenderAndScoreValidation.n_logged_videos must be >= 0, got {n_logged_videos}")
        self.dimensions = tuple(reward.dimensions)
        if AGGREGATE in self.dimensions:
            self.aggregate = AGGREGATE
        elif len(self.dimensions) == 1:
            self.aggregate = self.dimensions[0]
        else:
            raise ValueError(
                f"RenderAndScoreValidation.reward: {type(reward).__name__} gives {list(self.dimensions)} but no "
                f"'{AGGREGATE}' aggregate to log as val/reward; wrap it in a "
                "prompt_a_video.rewards.composite.CompositeReward with weights"
            )
        self.prompts = load_validation_prompts(prompts)
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.n_logged_videos = n_logged_videos
        self.refine_kwargs = dict(refine_kwargs or {})
        if "n" in self.refine_kwargs or "prompts" in self.refine_kwargs:
            raise ValueError("RenderAndScoreValidation.refine_kwargs: 'prompts' and 'n' are set by the callback "
                             f"(one refinement per validation prompt); got {sorted(self.refine_kwargs)}")
        from prompt_a_video.scoring import ScoringEngine, ScoringSettings

        # One call per validation: every rank's prompts in one batch per seed, as before.
        self.engine = ScoringEngine(generator, reward, ScoringSettings(None, use_cache, cache_root))
        self.validations = 0  # validation runs seen outside the sanity check

    # ------------------------------------------------------------------ hooks
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # Fail before training starts, not at the first validation hours later.
        if not callable(getattr(pl_module, "refine", None)):
            raise TypeError(
                f"RenderAndScoreValidation needs a LightningModule with refine(prompts, n=1, ...) "
                f"(a refiner module such as SFTRefiner); {type(pl_module).__name__} has none"
            )

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        index = self.validations
        self.validations += 1
        if (index + 1) % self.every_n_epochs:  # as Lightning's check_val_every_n_epoch: the N-th, 2N-th...
            return
        mine = self.prompts[trainer.global_rank::trainer.world_size]
        renders = self.evaluate(pl_module, mine)
        for name, value in self.synced_means(renders, pl_module.device).items():
            # Every rank holds the same synced value, so Lightning's mean over ranks leaves
            # it as is; sync_dist=True keeps Lightning from warning about unsynced epoch logs.
            pl_module.log(name, value, sync_dist=True)
        if trainer.is_global_zero:
            self.log_artifacts(trainer, renders, index)

    def state_dict(self) -> dict[str, Any]:
        return {"validations": self.validations}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.validations = int(state_dict.get("validations", 0))

    # ------------------------------------------------------------------ work
    def evaluate(self, pl_module: LightningModule, prompts: list[str]) -> ValidationRenders:
        """Refine ``prompts`` with the module, render at ``seed``, score against the originals."""
        if not prompts:  # more ranks than prompts: this rank only joins the metric sync
            return ValidationRenders([], [], [], {d: torch.empty(0) for d in self.dimensions})
        candidates = pl_module.refine(list(prompts), n=1, **self.refine_kwargs)
        if len(candidates) != len(prompts) or any(len(c) < 1 for c in candidates):
            raise RuntimeError(f"{type(pl_module).__name__}.refine returned {[len(c) for c in candidates]} "
                               f"candidates for {len(prompts)} prompts; expected one list of n=1 per prompt")
        refined = [str(c[0]) for c in candidates]
        from prompt_a_video.scoring import Item

        results = self.engine.score([Item(text, original, self.seed) for text, original in zip(refined, prompts)],
                                    keep_videos=True)
        scores = {d: torch.tensor([r.value(d) for r in results], dtype=torch.float32) for d in self.dimensions}
        failures = {i: r.failure for i, r in enumerate(results) if r.failed}
        videos = [r.video for r in results]
        for i, reason in sorted(failures.items()):
            log.warning("validation prompt %r (refined %r) failed: %s", prompts[i], refined[i][:80], reason)
        return ValidationRenders(list(prompts), refined, videos, scores, failures)

    def metric_name(self, dim: str) -> str:
        return METRIC_PREFIX if dim == AGGREGATE else f"{METRIC_PREFIX}/{dim}"

    def synced_means(self, renders: ValidationRenders, device: torch.device) -> dict[str, torch.Tensor]:
        """``{metric name: value}``, means over every rank's successful items.

        Collective: every rank must call it (torchmetrics' ``compute`` syncs the states
        when torch.distributed is initialised), with the same dimensions in the same order.
        A dimension no rank has a finite value for is left out (on every rank alike).
        """
        from torchmetrics import MeanMetric, SumMetric

        ok = renders.ok()
        out: dict[str, torch.Tensor] = {}
        # Fresh metrics per run, made on the module's device (NCCL syncs only CUDA tensors);
        # no state outlives the call, so inference-mode tensors never leak into later steps.
        names = [(self.metric_name(d), d) for d in self.dimensions]
        if self.aggregate != AGGREGATE:  # a one-dimension reward: that dimension is val/reward too
            names.insert(0, (METRIC_PREFIX, self.aggregate))
        for name, dim in names:
            metric = MeanMetric().to(device)
            values = renders.scores[dim][ok] if ok else torch.empty(0)
            values = values[torch.isfinite(values)]
            if values.numel():
                metric.update(values.to(device))
            value = self._compute(metric)
            if not torch.isnan(value):
                out[name] = value
        failures = SumMetric().to(device)
        failures.update(torch.tensor(float(len(renders.failures)), device=device))
        out[FAILURES_METRIC] = self._compute(failures)
        return out

    @staticmethod
    def _compute(metric) -> torch.Tensor:
        with warnings.catch_warnings():
            # A rank with nothing to add still joins the sync; that is expected here.
            warnings.filterwarnings("ignore", message=".*was called before the ``update`` method.*")
            return metric.compute()

    # ------------------------------------------------------------------ artifacts
    def table(self, renders: ValidationRenders, video_names: dict[int, str]) -> dict[str, list]:
        """Columns of the artifact table: one row per prompt (NaN scores become JSON null)."""
        dims = [d for d in self.dimensions if d != AGGREGATE]
        return {
            "original": list(renders.originals),
            "refined": list(renders.refined),
            "reward": [float(v) for v in renders.scores[self.aggregate]],
            **{dim: [float(v) for v in renders.scores[dim]] for dim in dims},
            "failure": [renders.failures.get(i) for i in range(len(renders.originals))],
            "video": [video_names.get(i) for i in range(len(renders.originals))],
        }

    def log_artifacts(self, trainer: Trainer, renders: ValidationRenders, index: int) -> None:
        """Table and first videos to every MLflow logger of the trainer (rank 0 only)."""
        from prompt_a_video.callbacks.mlflow_config import mlflow_loggers

        loggers = mlflow_loggers(trainer)
        if not loggers or not renders.originals:
            return
        folder = f"val/epoch{index:03d}"
        with tempfile.TemporaryDirectory(prefix="pav-val-") as tmp:
            files = self._write_videos(renders, Path(tmp))
            table = self.table(renders, {i: f"{folder}/{path.name}" for i, path in files.items()})
            for logger in loggers:
                client, run_id = logger.experiment, logger.run_id
                try:
                    client.log_table(run_id, data=table, artifact_file=f"{folder}/table.json")
                    for path in files.values():
                        client.log_artifact(run_id, str(path), folder)
                except Exception as err:  # a tracking server hiccup must not end a long training
                    log.warning("could not log validation artifacts to MLflow run %s: %s", run_id, err)

    def _write_videos(self, renders: ValidationRenders, folder: Path) -> dict[int, Path]:
        from prompt_a_video.scoring import video_filename
        from prompt_a_video.video_io import write_mp4

        files: dict[int, Path] = {}
        for i, video in enumerate(renders.videos):
            if len(files) >= self.n_logged_videos:
                break
            if video is None:
                continue
            path = folder / f"{i:02d}-{video_filename(renders.originals[i], self.seed)}"
            try:
                files[i] = write_mp4(video, path)
            except Exception as err:  # e.g. no encoder in this FFmpeg build: keep the scores
                log.warning("could not write the validation video of %r: %s", renders.originals[i], err)
        return files
