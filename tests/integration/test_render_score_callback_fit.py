"""`pav fit` with render-and-score validation on a tiny LLM: the MLflow run gets val/reward,
val/reward/<dim>, the per-prompt table and the first videos as MP4."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from prompt_a_video import cli
from prompt_a_video.callbacks.render_score import RenderAndScoreValidation
from prompt_a_video.rewards.composite import CompositeReward
from prompt_a_video.rewards.offline import DynamicDegreeReward, SceneAlignmentReward
from tests.unit.test_render_score_callback import PHRASE, Flaky, synthetic

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments/sft/smollm2-cpu-render-val.yaml"
pytestmark = pytest.mark.integration


def _members_with_fluency_lm(model_dir) -> str:
    """The experiment's reward members, FluencyReward pointed at ``model_dir``, as a YAML list."""
    config = yaml.safe_load(EXPERIMENT.read_text())
    members = config["trainer"]["callbacks"][0]["init_args"]["reward"]["init_args"]["members"]
    for member in members:
        if member["class_path"].endswith("FluencyReward"):
            member["init_args"] = {"model": str(model_dir)}
    return yaml.safe_dump(members, default_flow_style=True).strip()


def test_fit_logs_val_reward_per_dimension_and_render_artifacts(tiny_llama_dir, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PAV_CACHE_DIR", str(tmp_path / "pav-cache"))  # the render cache, not the user's
    assert cli.main([
        "fit", "-c", str(EXPERIMENT),
        "--model.init_args.backbone.model", str(tiny_llama_dir),
        "--data.init_args.pools", f"[{ROOT / 'experiments/data/seed_sft_pairs.json'}]",
        "--model.init_args.max_length", "320",  # the tiny tokenizer spells the longest seed pair in 296 tokens
        "--trainer.max_steps", "2", "--trainer.val_check_interval", "2", "--trainer.limit_val_batches", "1",
        # The random tiny LM decodes greedily to nothing; seeded sampling gives text to render.
        "--trainer.callbacks.init_args.refine_kwargs", "{temperature: 1.0, max_new_tokens: 12, seed: 0}",
        # The fluency reference LM: the tiny LM (the SmolLM2 asset is not installed in this cache).
        "--trainer.callbacks.init_args.reward.init_args.members", _members_with_fluency_lm(tiny_llama_dir),
        "--trainer.callbacks.init_args.generator.init_args.num_frames", "8",
        "--trainer.callbacks.init_args.generator.init_args.height", "32",
        "--trainer.callbacks.init_args.generator.init_args.width", "32",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
    ]) == 0

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    [run] = client.search_runs([client.get_experiment_by_name("sft").experiment_id])
    run_id = run.info.run_id
    metrics = run.data.metrics
    assert {"val/loss", "val/reward", "val/render_failures"} <= set(metrics)
    for dim in ("VQ", "TC", "DD", "TVA", "passes_floors"):
        assert f"val/reward/{dim}" in metrics
    # one validation (the sanity check does not render): logged once
    assert len(client.get_metric_history(run_id, "val/reward")) == 1

    config = yaml.safe_load(EXPERIMENT.read_text())
    prompts = config["trainer"]["callbacks"][0]["init_args"]["prompts"]
    assert {a.path for a in client.list_artifacts(run_id, "val")} == {"val/epoch000"}
    names = sorted(a.path for a in client.list_artifacts(run_id, "val/epoch000"))
    videos = [n for n in names if n.endswith(".mp4")]
    assert "val/epoch000/table.json" in names and len(videos) == 4
    table_file = client.download_artifacts(run_id, "val/epoch000/table.json", str(tmp_path / "dl"))
    table = json.loads(Path(table_file).read_text())
    rows = [dict(zip(table["columns"], row)) for row in table["data"]]
    assert [r["original"] for r in rows] == prompts
    assert all(r["refined"] for r in rows)
    ok = [r for r in rows if r["failure"] is None]
    assert len(ok) == len(rows) - metrics["val/render_failures"]
    assert metrics["val/reward"] == pytest.approx(sum(r["reward"] for r in ok) / len(ok), rel=1e-5)
    assert sorted(r["video"] for r in rows if r["video"]) == videos


# ----------------------------------------------------------------------------- two ranks
RANK_PROMPTS = ["a dog running on the beach", "a glitch in the sky", "a cat sleeping on a sofa",
                "a horse in a field", "a boat on a lake"]


class _SliceRefiner:
    """What the callback uses of a LightningModule: ``refine``, ``log``, ``device``."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        self.refined: list[str] = []
        self.logged: dict[str, float] = {}

    def refine(self, prompts, n=1, **sampling):
        self.refined.extend(prompts)
        return [[p + PHRASE] for p in prompts]

    def log(self, name, value, **kwargs):
        self.logged[name] = float(value)


def _light_reward() -> CompositeReward:
    # The cheapest two offline rewards: each spawned rank pays its own imports and warm-up.
    return CompositeReward(members=[DynamicDegreeReward(), SceneAlignmentReward()], weights={"DD": 0.5, "TVA": 1.3})


def _rank_main(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        callback = RenderAndScoreValidation(Flaky(), _light_reward(), RANK_PROMPTS, use_cache=False)
        module = _SliceRefiner()
        trainer = SimpleNamespace(sanity_checking=False, global_rank=rank, world_size=world,
                                  is_global_zero=rank == 0, loggers=[])
        callback.on_validation_epoch_end(trainer, module)
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"refined": module.refined, "logged": module.logged}))
    finally:
        dist.destroy_process_group()


def test_two_ranks_split_the_prompts_and_log_the_mean_over_all_of_them(tmp_path):
    import torch.multiprocessing as mp

    mp.start_processes(_rank_main, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, start_method="spawn")
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]

    assert [r["refined"] for r in ranks] == [RANK_PROMPTS[0::2], RANK_PROMPTS[1::2]]
    survivors = [p for p in RANK_PROMPTS if "glitch" not in p]  # rank 1's glitch does not render
    videos = synthetic().generate([p + PHRASE for p in survivors], 0)
    expected = _light_reward().score(videos, survivors)
    for rank in ranks:  # every rank logs the same synced values
        assert rank["logged"]["val/render_failures"] == 1
        assert rank["logged"]["val/reward"] == pytest.approx(expected["reward"].mean().item(), rel=1e-5)
        assert rank["logged"]["val/reward/TVA"] == pytest.approx(expected["TVA"].mean().item(), rel=1e-5, abs=1e-7)
