"""RenderAndScoreValidation: refine -> render -> score against the originals -> val/reward.

Real Lightning fits of a two-parameter module whose ``refine`` appends a fixed phrase, on
the synthetic backbone with offline rewards (CPU, milliseconds per video). Expected
values are computed directly with the same generator and reward on the same prompts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.loggers.logger import Logger
from torch.utils.data import DataLoader, TensorDataset

from prompt_a_video.callbacks.render_score import RenderAndScoreValidation, ValidationRenders
from prompt_a_video.generators.base import Generator
from prompt_a_video.generators.synthetic import SyntheticGenerator
from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.composite import CompositeReward
from prompt_a_video.rewards.offline import (
    DynamicDegreeReward,
    SceneAlignmentReward,
    TemporalConsistencyReward,
    VisualQualityReward,
)

PHRASE = ", a static shot in soft golden light, sharp and detailed"
PROMPTS = ["a dog running on the beach", "a red car in the rain", "a cat sleeping on a sofa",
           "a horse in a field", "a boat on a lake"]
WEIGHTS = {"VQ": 1.0, "TC": 1.0, "DD": 0.5, "TVA": 1.3}


def synthetic() -> SyntheticGenerator:
    return SyntheticGenerator(preset="long-cinematic", num_frames=8, height=32, width=32)


def offline_reward(*extra: Reward) -> CompositeReward:
    members = [VisualQualityReward(), TemporalConsistencyReward(), DynamicDegreeReward(), SceneAlignmentReward()]
    return CompositeReward(members=[*members, *extra], weights=WEIGHTS)


class PhraseRefiner(LightningModule):
    """Two parameters to train; ``refine`` appends PHRASE and records its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.refine_calls: list[tuple[list[str], int, dict]] = []

    def _data(self):
        return DataLoader(TensorDataset(torch.randn(4, 2, generator=torch.Generator().manual_seed(0))), batch_size=2)

    def train_dataloader(self):
        return self._data()

    def val_dataloader(self):
        return self._data()

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.layer(batch[0]).pow(2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def refine(self, prompts, n=1, **sampling):
        self.refine_calls.append((list(prompts), n, dict(sampling)))
        return [[p + PHRASE] for p in prompts]


class RecordingLogger(Logger):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, float]] = []

    @property
    def name(self):
        return "recording"

    @property
    def version(self):
        return 0

    def log_metrics(self, metrics, step=None):
        self.records.append(dict(metrics))

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def logged(self, name: str) -> list[dict[str, float]]:
        return [r for r in self.records if name in r]


class ScoredPrompts(Reward):
    """``SEEN`` dimension (always 1.0), recording the prompts it is asked to score against."""

    dimensions = ("SEEN",)

    def __init__(self) -> None:
        self.prompts: list[str] = []

    @property
    def fingerprint(self) -> str:
        return "ScoredPrompts"

    def score_batch(self, videos, prompts):
        self.prompts.extend(prompts)
        return {"SEEN": torch.ones(len(videos))}


class TwoDims(ScoredPrompts):
    dimensions = ("A", "B")


class Flaky(Generator):
    """The synthetic backbone, but a prompt containing "glitch" makes ``generate`` raise."""

    def __init__(self) -> None:
        self.inner = synthetic()

    @property
    def fingerprint(self) -> str:
        return "flaky+" + self.inner.fingerprint

    def generate(self, prompts, seed):
        if any("glitch" in p for p in prompts):
            raise RuntimeError("renderer crashed")
        return self.inner.generate(prompts, seed)


class NanForCats(Reward):
    """``CAT`` = NaN for videos whose rendered prompt mentions a cat, else 0.5: a scoring failure."""

    dimensions = ("CAT",)

    @property
    def fingerprint(self) -> str:
        return "NanForCats"

    def score_batch(self, videos, prompts):
        return {"CAT": torch.tensor([math.nan if "cat" in v.meta["prompt"] else 0.5 for v in videos])}


def fit(callback, epochs: int = 1, module: LightningModule | None = None, logger: Logger | None = None):
    module = module or PhraseRefiner()
    logger = logger or RecordingLogger()
    trainer = Trainer(accelerator="cpu", devices=1, max_epochs=epochs, limit_train_batches=1, limit_val_batches=1,
                      num_sanity_val_steps=1, callbacks=[callback], logger=logger, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module)
    return module, logger


def direct_scores(generator, reward, originals, seed=0):
    videos = generator.generate([p + PHRASE for p in originals], seed)
    return reward.score(videos, originals)


def test_val_reward_is_the_mean_of_the_reward_of_the_same_renders_scored_against_the_originals(tmp_path):
    seen = ScoredPrompts()
    callback = RenderAndScoreValidation(synthetic(), offline_reward(seen), PROMPTS, seed=3,
                                        refine_kwargs={"max_new_tokens": 40, "do_sample": False},
                                        cache_root=str(tmp_path / "cache"))
    module, logger = fit(callback)

    assert module.refine_calls == [(PROMPTS, 1, {"max_new_tokens": 40, "do_sample": False})]
    assert seen.prompts == PROMPTS  # alignment is judged against what the user asked for
    expected = direct_scores(synthetic(), offline_reward(), PROMPTS, seed=3)
    [record] = logger.logged("val/reward")
    assert record["val/reward"] == pytest.approx(expected["reward"].mean().item(), rel=1e-5)
    for dim in ("VQ", "TC", "DD", "TVA", "passes_floors"):
        assert record[f"val/reward/{dim}"] == pytest.approx(expected[dim].mean().item(), rel=1e-5, abs=1e-7)
    assert record["val/reward/SEEN"] == 1.0
    assert record["val/render_failures"] == 0
    # the renders went through the cache: a second validation would not render again
    assert any((tmp_path / "cache" / "videos").rglob("*.npz"))
    assert any((tmp_path / "cache" / "scores").rglob("*.json"))


def test_failed_renders_and_failed_scores_are_excluded_and_counted():
    prompts = ["a dog running on the beach", "a glitch in the sky", "a cat sleeping on a sofa", "a boat on a lake"]
    reward = offline_reward(NanForCats())
    callback = RenderAndScoreValidation(Flaky(), reward, prompts, use_cache=False)
    _, logger = fit(callback)

    [record] = logger.logged("val/reward")
    assert record["val/render_failures"] == 2  # the glitch did not render, the cat did not score
    survivors = ["a dog running on the beach", "a boat on a lake"]
    expected = direct_scores(synthetic(), offline_reward(NanForCats()), survivors)
    assert not expected.failures
    assert record["val/reward"] == pytest.approx(expected["reward"].mean().item(), rel=1e-5)
    assert record["val/reward/CAT"] == pytest.approx(0.5)
    assert record["val/reward/TVA"] == pytest.approx(expected["TVA"].mean().item(), rel=1e-5, abs=1e-7)


def test_when_every_item_fails_only_the_failure_count_is_logged():
    callback = RenderAndScoreValidation(synthetic(), offline_reward(), PROMPTS[:2], use_cache=False)
    nan = torch.full((2,), math.nan)
    renders = ValidationRenders(PROMPTS[:2], PROMPTS[:2], [None, None], {d: nan.clone() for d in callback.dimensions},
                                failures={0: "x", 1: "y"})
    values = callback.synced_means(renders, torch.device("cpu"))
    assert set(values) == {"val/render_failures"} and values["val/render_failures"] == 2


def test_runs_on_every_nth_validation_and_never_in_the_sanity_check():
    callback = RenderAndScoreValidation(synthetic(), offline_reward(), PROMPTS[:2], every_n_epochs=2, use_cache=False)
    module, logger = fit(callback, epochs=4)

    assert len(module.refine_calls) == 2  # 4 validations + 1 sanity check -> the 2nd and 4th
    assert [r["epoch"] for r in logger.logged("val/reward")] == [1, 3]
    assert len(logger.logged("val/loss")) == 4
    assert callback.state_dict() == {"validations": 4}


def test_each_rank_refines_its_own_slice_of_the_prompts():
    callback = RenderAndScoreValidation(synthetic(), offline_reward(), PROMPTS, use_cache=False)
    module = PhraseRefiner()
    logged: dict[str, float] = {}
    module.log = lambda name, value, **kw: logged.__setitem__(name, float(value))
    trainer = SimpleNamespace(sanity_checking=False, global_rank=1, world_size=2, is_global_zero=False)
    callback.on_validation_epoch_end(trainer, module)

    assert module.refine_calls[0][0] == PROMPTS[1::2]
    expected = direct_scores(synthetic(), offline_reward(), PROMPTS[1::2])
    assert logged["val/reward"] == pytest.approx(expected["reward"].mean().item(), rel=1e-5)


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_prompts_from_a_prompt_set_file(tmp_path, suffix):
    path = tmp_path / f"val{suffix}"
    lines = [p if suffix == ".txt" else json.dumps({"prompt": p, "id": i}) for i, p in enumerate(PROMPTS[:3])]
    path.write_text("\n".join(lines) + "\n")
    callback = RenderAndScoreValidation(synthetic(), offline_reward(), str(path), use_cache=False)
    assert callback.prompts == PROMPTS[:3]


def test_configuration_errors_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="RenderAndScoreValidation.prompts.*missing.txt"):
        RenderAndScoreValidation(synthetic(), offline_reward(), str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="RenderAndScoreValidation.prompts"):
        RenderAndScoreValidation(synthetic(), offline_reward(), [])
    with pytest.raises(ValueError, match="no 'reward' aggregate"):
        RenderAndScoreValidation(synthetic(), TwoDims(), PROMPTS)
    with pytest.raises(ValueError, match="refine_kwargs"):
        RenderAndScoreValidation(synthetic(), offline_reward(), PROMPTS, refine_kwargs={"n": 4})
    with pytest.raises(ValueError, match="every_n_epochs"):
        RenderAndScoreValidation(synthetic(), offline_reward(), PROMPTS, every_n_epochs=0)


def test_a_module_without_refine_is_refused_before_training():
    class NoRefine(PhraseRefiner):
        refine = None

    callback = RenderAndScoreValidation(synthetic(), offline_reward(), PROMPTS, use_cache=False)
    with pytest.raises(TypeError, match="refine"):
        fit(callback, module=NoRefine())


class RecordingClient:
    """The two MlflowClient calls the callback makes; files are read while they exist."""

    def __init__(self) -> None:
        self.tables: dict[str, dict] = {}
        self.artifacts: list[tuple[str, str, int]] = []

    def log_table(self, run_id, data, artifact_file):
        self.tables[artifact_file] = data

    def log_artifact(self, run_id, local_path, artifact_path=None):
        self.artifacts.append((artifact_path, Path(local_path).name, Path(local_path).stat().st_size))


class StubMLflowLogger(MLFlowLogger):
    def __init__(self, client) -> None:  # no MLflow store: only the client is used
        self._client = client

    @property
    def experiment(self):
        return self._client

    @property
    def run_id(self):
        return "run"


def test_rank_zero_logs_a_table_and_the_first_videos_to_mlflow():
    client = RecordingClient()
    prompts = ["a dog running on the beach", "a glitch in the sky", "a cat sleeping on a sofa", "a boat on a lake"]
    callback = RenderAndScoreValidation(Flaky(), offline_reward(), prompts, n_logged_videos=2, use_cache=False)
    module = PhraseRefiner()
    renders = callback.evaluate(module, prompts)
    callback.log_artifacts(SimpleNamespace(loggers=[StubMLflowLogger(client)]), renders, index=7)

    table = client.tables["val/epoch007/table.json"]
    assert table["original"] == prompts and table["refined"] == [p + PHRASE for p in prompts]
    assert set(table) >= {"reward", "VQ", "TC", "DD", "TVA", "failure", "video"}
    assert math.isnan(table["reward"][1]) and "renderer crashed" in table["failure"][1]
    assert table["reward"][0] == pytest.approx(float(renders.scores["reward"][0]))
    # the first two videos that rendered: items 0 and 2 (item 1 failed)
    assert [a[0] for a in client.artifacts] == ["val/epoch007", "val/epoch007"]
    assert [a[1][:3] for a in client.artifacts] == ["00-", "02-"] and all(a[2] > 0 for a in client.artifacts)
    assert table["video"][0] == f"val/epoch007/{client.artifacts[0][1]}" and table["video"][3] is None
