"""`pav render`: backbone and reward set chosen in YAML alone; resume; cache; MLflow."""

import json
from pathlib import Path

import pytest

from prompt_a_video import cli

pytestmark = pytest.mark.integration

CONFIG = """
generator:
  class_path: prompt_a_video.generators.synthetic.SyntheticGenerator
  init_args: {preset: PRESET, num_frames: 8, height: 32, width: 32}
reward:
  class_path: prompt_a_video.rewards.composite.CompositeReward
  init_args:
    weights: {VQ: 1.0, TC: 1.0, DD: 0.5, TVA: 1.3}
    members:
      - class_path: prompt_a_video.rewards.offline.VisualQualityReward
      - class_path: prompt_a_video.rewards.offline.TemporalConsistencyReward
      - class_path: prompt_a_video.rewards.offline.DynamicDegreeReward
      - class_path: prompt_a_video.rewards.offline.SceneAlignmentReward
seeds: [0, 1]
batch_size: 3
"""


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "prompts.txt").write_text("a dog running on the beach\na red car in the rain\na cat sleeping\n")
    for preset in ("long-cinematic", "short-strict"):
        (tmp_path / f"{preset}.yaml").write_text(CONFIG.replace("PRESET", preset))
    return tmp_path


def _render(workdir, preset, out):
    cli.main(["render", "-c", f"{preset}.yaml", "--prompts", "prompts.txt", "--out", out,
              "--cache_root", str(workdir / "cache")])


def test_render_writes_scores_and_videos_and_resumes_without_rendering_again(workdir):
    from mlflow.tracking import MlflowClient

    _render(workdir, "long-cinematic", "out")
    records = _records(workdir / "out/scores.jsonl")
    assert len(records) == 6 and {r["seed"] for r in records} == {0, 1}
    for r in records:
        assert r["failure"] is None and set(r["scores"]) >= {"VQ", "TC", "DD", "TVA"}
        assert r["reward"] == pytest.approx(r["scores"]["VQ"] + r["scores"]["TC"] + 0.5 * r["scores"]["DD"]
                                            + 1.3 * r["scores"]["TVA"], rel=1e-5)
        assert (workdir / "out" / r["video"]).stat().st_size > 0
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlruns.db")
    (run,) = client.search_runs([client.get_experiment_by_name("render").experiment_id])
    assert run.info.run_name == "render long-cinematic" and run.data.metrics["n"] == 6

    # cut the last record as a kill -9 would, rerun: only that one is redone
    text = (workdir / "out/scores.jsonl").read_text()
    (workdir / "out/scores.jsonl").write_text(text[: text.rstrip("\n").rfind("\n") + 1] + '{"id": "s1:a ca')
    _render(workdir, "long-cinematic", "out")
    again = _records(workdir / "out/scores.jsonl")
    assert [r["id"] for r in again] == [r["id"] for r in records]
    assert again[-1]["scores"] == records[-1]["scores"]  # same video from the cache, same scores

    # a video deleted since is rendered again, not left missing behind its record
    (workdir / "out" / records[0]["video"]).unlink()
    _render(workdir, "long-cinematic", "out")
    assert (workdir / "out" / records[0]["video"]).stat().st_size > 0
    assert _records(workdir / "out/scores.jsonl") == again


def test_switching_the_backbone_preset_in_yaml_changes_the_videos(workdir):
    _render(workdir, "long-cinematic", "a")
    _render(workdir, "short-strict", "b")
    a, b = _records(workdir / "a/scores.jsonl"), _records(workdir / "b/scores.jsonl")
    assert [r["meta"]["preset"] for r in a] == ["long-cinematic"] * 6
    assert [r["meta"]["preset"] for r in b] == ["short-strict"] * 6
    assert [r["scores"] for r in a] != [r["scores"] for r in b]
