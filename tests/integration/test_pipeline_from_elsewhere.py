"""`pav pipeline -c /abs/path/experiments/quickstart.yaml` runs from any directory: a file
a YAML names is found next to the YAML, or else in its project root; paths given on the
command line, and outputs, stay relative to the working directory."""

import json
from pathlib import Path

import pytest
import yaml

from prompt_a_video.cli import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "experiments/quickstart.yaml"

# The offline video rewards only: no sentence encoder or fluency LM to load.
REWARD = json.dumps({
    "class_path": "prompt_a_video.rewards.composite.CompositeReward",
    "init_args": {"preset": None, "weights": {"VQ": 1.0, "TC": 1.0, "DD": 0.5, "TVA": 1.3}, "floors": {},
                  "members": [{"class_path": f"prompt_a_video.rewards.offline.{name}"} for name in
                              ("VisualQualityReward", "TemporalConsistencyReward", "DynamicDegreeReward",
                               "SceneAlignmentReward")]},
})


def tiny(model_dir: Path) -> list[str]:
    """Overrides that shrink the quickstart (as test_pipeline.py's YAML does) and keep its
    fit YAMLs: ``sft.config`` still comes from the quickstart, relative to the repository."""
    return [
        "--generator.init_args.num_frames", "8", "--generator.init_args.height", "32",
        "--generator.init_args.width", "32", "--reward", REWARD,
        "--evolve", "{limit: 3, iterations: 1, proposals_per_iteration: 2, top_k: 2, seeds: [0], progress: false}",
        "--sft.trainer", ("{max_steps: 2, val_check_interval: 2, limit_val_batches: 1, enable_progress_bar: false, "
                          "enable_model_summary: false}"),
        "--sft.model", f"{{init_args: {{backbone: {{model: {model_dir}}}, max_length: 512}}}}",
        "--sft.data", "{init_args: {val_fraction: 0.34, batch_size: 2}}",
        "--dpo_rounds", "0",
        "--evaluation.prompt_sets", "{in-domain: pav:eval}", "--evaluation.limit", "2", "--evaluation.seeds", "[0]",
        "--evaluation.methods", "[original, sft]", "--evaluation.max_new_tokens", "8",
        "--evaluation.fidelity_model", "null", "--evaluation.text_fluency_model", "null",
        "--evaluation.use_cache", "false", "--evaluation.save_videos", "false",
    ]


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PAV_CACHE_DIR", str(tmp_path / "cache"))
    return folder


def printed_config(capsys, *argv) -> dict:
    with pytest.raises(SystemExit) as stop:
        main([*map(str, argv), "--print_config"])
    assert stop.value.code in (0, None), capsys.readouterr().err
    return yaml.safe_load(capsys.readouterr().out)


def test_quickstart_runs_from_another_directory(elsewhere, tiny_llama_dir, capsys):
    assert main(["pipeline", "-c", str(QUICKSTART), "--workdir", "wd", *tiny(tiny_llama_dir)]) == 0
    out = capsys.readouterr().out
    wd = elsewhere / "wd"  # --workdir is relative to the working directory
    for stage in ("evolve", "sft", "evaluate"):
        assert json.loads((wd / stage / "stage.json").read_text())["status"] == "done", stage
    assert f"pav fit -c {ROOT / 'experiments/sft/smollm2-cpu.yaml'} -c {wd / 'sft' / 'overrides.yaml'}" in out
    assert (wd / "sft" / "refiner" / "merged" / "config.json").is_file()
    metrics = json.loads((wd / "evaluate" / "in-domain" / "metrics.json").read_text())
    assert list(metrics["methods"]) == ["original", "sft"]
    assert (elsewhere / "mlruns.db").is_file()


def test_yaml_paths_next_to_the_yaml_then_in_its_project_root(tmp_path, elsewhere, capsys):
    project = tmp_path / "project"
    mine = project / "experiments" / "mine"
    mine.mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (project / "data").mkdir()
    (project / "data" / "far.txt").write_text("a dog running\n")
    (mine / "near.txt").write_text("a cat sleeping\n")
    (mine / "eval.yaml").write_text(
        "prompts: near.txt\n"
        "evaluation:\n  prompt_sets: {near: near.txt, far: data/far.txt, named: pav:eval, gone: data/gone.txt}\n")
    argv = ["evaluate", "-c", QUICKSTART, "-c", mine / "eval.yaml", "--out", "o"]
    config = printed_config(capsys, *argv)
    sets = config["evaluation"]["prompt_sets"]
    assert config["prompts"] == sets["near"] == str(mine / "near.txt")  # next to the YAML
    assert sets["far"] == str(project / "data" / "far.txt")  # from its project root
    assert sets["named"] == "pav:eval" and sets["gone"] == "data/gone.txt"  # found nowhere: as written
    assert config["sft"]["config"] == str(ROOT / "experiments/sft/smollm2-cpu.yaml")
    # a command-line path is the working directory's, like any command's
    assert printed_config(capsys, *argv, "--prompts", "mine.txt")["prompts"] == "mine.txt"


def test_a_run_from_the_project_root_keeps_the_paths_as_written(elsewhere, monkeypatch, capsys):
    config = printed_config(capsys, "fit", "-c", ROOT / "experiments/dpo/smollm2-cpu.yaml")
    assert config["data"]["init_args"]["pairs"] == [str(ROOT / "experiments/data/seed_pairs.jsonl")]
    monkeypatch.chdir(ROOT)
    config = printed_config(capsys, "fit", "-c", "experiments/dpo/smollm2-cpu.yaml")
    assert config["data"]["init_args"]["pairs"] == ["experiments/data/seed_pairs.jsonl"]
    assert printed_config(capsys, "pipeline", "-c", "experiments/quickstart.yaml")["sft"]["config"] == \
        "experiments/sft/smollm2-cpu.yaml"
