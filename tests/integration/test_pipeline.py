"""`pav pipeline` end to end on the synthetic backbone with a tiny LLM, then `pav evaluate`
on the refiners it left; rerunning skips finished stages; a changed stage moves aside."""

import json
from pathlib import Path

import pytest

from prompt_a_video.cli import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

PIPELINE = """
generator:
  class_path: prompt_a_video.generators.synthetic.SyntheticGenerator
  init_args: {{preset: long-cinematic, num_frames: 8, height: 32, width: 32}}
reward:
  class_path: prompt_a_video.rewards.composite.CompositeReward
  init_args:
    weights: {{VQ: 1.0, TC: 1.0, DD: 0.5, TVA: 1.3}}
    members:
      - class_path: prompt_a_video.rewards.offline.VisualQualityReward
      - class_path: prompt_a_video.rewards.offline.TemporalConsistencyReward
      - class_path: prompt_a_video.rewards.offline.DynamicDegreeReward
      - class_path: prompt_a_video.rewards.offline.SceneAlignmentReward
operator:
  class_path: prompt_a_video.evolution.heuristic_operator.HeuristicOperator
source_prompts: sources.txt
evolve: {{iterations: 1, proposals_per_iteration: 2, progress: false}}
sft:
  config: {root}/experiments/sft/smollm2-cpu.yaml
  trainer: {{max_steps: 2, val_check_interval: 2, limit_val_batches: 1, enable_progress_bar: false}}
  model: {{init_args: {{backbone: {{model: {model}}}, max_length: 256}}}}
  data: {{init_args: {{val_fraction: 0.25, batch_size: 2}}}}
pairs:
  prompts: dpo.txt
  n: 3
  max_new_tokens: 12
  include_original: true
  rule:
    class_path: prompt_a_video.evolution.pair_rules.PaperPairRule
    init_args: {{margin: 0.0001, floors: {{}}, top_chosen: 2}}
dpo:
  config: {root}/experiments/dpo/smollm2-cpu.yaml
  trainer: {{max_steps: 2, val_check_interval: 2, limit_val_batches: 1, enable_progress_bar: false}}
  model: {{init_args: {{max_length: 256, precompute_reference: false}}}}
  data: {{init_args: {{val_fraction: 0.25, batch_size: 1}}}}
evaluation:
  prompt_sets: {{in-domain: eval.txt}}
  seeds: [0]
  max_new_tokens: 12
  fidelity_model: null
  use_cache: false
"""

SOURCES = ["a dog running on the beach", "a red car driving through the city", "an old man reading a book",
           "a cat sleeping on a sofa"]
DPO = ["a horse galloping in a field", "a boat sailing at sunset"]
EVAL = ["a bird flying over a lake", "a child riding a bicycle"]


@pytest.fixture
def project(tmp_path, monkeypatch, tiny_llama_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PAV_CACHE_DIR", str(tmp_path / "cache"))
    for name, lines in (("sources.txt", SOURCES), ("dpo.txt", DPO), ("eval.txt", EVAL)):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    (tmp_path / "pipeline.yaml").write_text(PIPELINE.format(root=ROOT, model=tiny_llama_dir))
    return tmp_path


def test_pipeline_runs_every_stage_resumes_and_reevaluates(project, capsys):
    assert main(["pipeline", "-c", "pipeline.yaml", "--workdir", "wd"]) == 0
    wd = project / "wd"
    for stage in ("evolve", "sft", "pairs-r1", "dpo-r1", "evaluate"):
        assert json.loads((wd / stage / "stage.json").read_text())["status"] == "done", stage
    for refiner in ("sft", "dpo-r1"):
        assert (wd / refiner / "refiner" / "merged" / "config.json").is_file()
        # every copy of refiner.json names the backbone it was trained for (pav refine warns past its limit)
        copies = sorted((wd / refiner / "refiner").glob("**/refiner.json"))  # export, adapter/, merged/
        assert len(copies) == 3
        for settings in copies:
            target = json.loads(settings.read_text())["target"]
            assert target["name"] == "SyntheticGenerator" and target["prompt_token_limit"] > 0, settings
    # DPO trained on the merged SFT model, from the pairs the SFT refiner's samples gave
    overrides = (wd / "dpo-r1" / "overrides.yaml").read_text()
    assert str(wd / "sft" / "refiner" / "merged") in overrides and "pairs-r1/pairs.jsonl" in overrides
    metrics = json.loads((wd / "evaluate" / "in-domain" / "metrics.json").read_text())
    assert list(metrics["methods"]) == ["original", "heuristic", "zero-shot", "sft", "dpo"]
    assert metrics["methods"]["original"]["n"] == len(EVAL)
    assert "dpo_vs_original" in metrics["win_rate"] and len(metrics["ci95"]["sft_vs_original"]) == 2
    assert (wd / "evaluate" / "in-domain" / "report.html").is_file()
    out = capsys.readouterr().out
    assert f"report (in-domain): {wd / 'evaluate' / 'in-domain' / 'report.html'}" in out

    # MLflow: one parent run, every stage nested under it
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlruns.db'}")
    runs = mlflow.search_runs(experiment_names=["pipeline"], output_format="list")
    parents = [r for r in runs if r.data.tags.get("pav.stage") == "pipeline"]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert {r.info.run_name.split()[0] for r in children} >= {"evolve", "fit", "pairs", "evaluate"}

    # a rerun skips every finished stage
    assert main(["pipeline", "-c", "pipeline.yaml", "--workdir", "wd"]) == 0
    out = capsys.readouterr().out
    assert out.count("done for this config, skipped") == 5

    # outputs deleted or emptied since are noticed (stage.json alone is not trusted): those stages rerun
    import shutil

    pool_bytes = (wd / "evolve" / "pool.jsonl").read_bytes()
    (wd / "evolve" / "pool.jsonl").write_text("")
    shutil.rmtree(wd / "sft" / "refiner" / "merged")
    assert main(["pipeline", "-c", "pipeline.yaml", "--workdir", "wd"]) == 0
    out = capsys.readouterr().out
    assert f"evolve: was done, but {wd / 'evolve' / 'pool.jsonl'} has 0 bytes" in out
    assert "sft: was done, but " in out and "merged" in out.split("sft: was done, but ")[1].splitlines()[0]
    assert out.count("done for this config, skipped") == 3
    assert (wd / "evolve" / "pool.jsonl").read_bytes() == pool_bytes
    assert (wd / "sft" / "refiner" / "merged" / "config.json").is_file()

    # a changed DPO section: earlier stages skipped, dpo-r1 moved aside and rerun, evaluate rerun
    assert main(["pipeline", "-c", "pipeline.yaml", "--workdir", "wd", "--dpo.trainer.max_steps", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("done for this config, skipped") == 3
    assert (wd / "dpo-r1.stale-1" / "refiner").is_dir() and (wd / "evaluate.stale-1").is_dir()

    # `pav evaluate` on the pipeline's refiners with another prompt file
    (project / "other.txt").write_text("a train crossing a bridge\n")
    assert main(["evaluate", "-c", "pipeline.yaml", "--workdir", "wd", "--prompts", "other.txt",
                 "--refiner", f"again={wd / 'sft' / 'refiner'}", "--out", "again"]) == 0
    metrics = json.loads((project / "again" / "metrics.json").read_text())
    assert list(metrics["methods"]) == ["original", "heuristic", "zero-shot", "sft", "dpo", "again"]
    assert metrics["n_prompts"] == 1


def test_pipeline_rejects_a_wired_or_unknown_option_before_any_work(project, capsys):
    text = (project / "pipeline.yaml").read_text()
    (project / "bad.yaml").write_text(text.replace("evolve: {iterations: 1", "evolve: {iteratons: 1"))
    assert main(["pipeline", "-c", "bad.yaml", "--workdir", "wd"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "section 'evolve'" in line and "iteratons" in line and "Traceback" not in line
    (project / "bad.yaml").write_text(text.replace("evolve: {iterations: 1", "evolve: {out: x.jsonl, iterations: 1"))
    assert main(["pipeline", "-c", "bad.yaml", "--workdir", "wd"]) == 2
    assert "evolve.out is set by the pipeline" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (project / "wd" / "evolve").exists()
    # a bad key of a fit section fails before evolution runs, and before the work dir is made
    for section, bad in (("sft", "max_stepz: 2,"), ("dpo", "max_stepz: 2,")):
        head, tail = text.split(f"\n{section}:\n", 1)
        (project / "bad.yaml").write_text(f"{head}\n{section}:\n" + tail.replace("max_steps: 2,", bad, 1))
        assert main(["pipeline", "-c", "bad.yaml", "--workdir", "wd"]) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line == (f"pav pipeline: section '{section}': trainer.max_stepz: not an option "
                        "(did you mean trainer.max_steps?) (options: `pav fit --help`)")
    assert not (project / "wd").exists()
    # so is a bad value of the evolve or pairs section (not only when that stage starts)
    for old, new, said in (("evolve: {iterations: 1", "evolve: {iterations: 0",
                            "EvolutionLoop.iterations must be an int >= 1, got 0"),
                           ("  n: 3\n", "  n: 0\n", "pav pairs: n must be an int >= 1, got 0")):
        (project / "bad.yaml").write_text(text.replace(old, new, 1))
        assert main(["pipeline", "-c", "bad.yaml", "--workdir", "wd"]) == 2
        assert said.split("pav pairs: ")[-1] in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (project / "wd").exists() and not (project / "mlruns.db").exists()


GRPO_SECTION = """
grpo:
  config: {root}/experiments/grpo/smollm2-cpu.yaml
  trainer: {{max_steps: 2, enable_progress_bar: false}}
  model: {{init_args: {{group_size: 2, max_new_tokens: 12, max_length: 256, table_every_n_steps: 1}}}}
  data: {{init_args: {{prompts: dpo.txt, batch_size: 1}}}}
"""


def test_dpo_then_grpo_trains_on_the_dpo_refiner_against_the_pipelines_reward_and_is_evaluated(project, capsys):
    text = (project / "pipeline.yaml").read_text() + GRPO_SECTION.format(root=ROOT) + "alignment: dpo+grpo\n"
    (project / "grpo.yaml").write_text(text)
    assert main(["pipeline", "-c", "grpo.yaml", "--workdir", "wd"]) == 0
    wd = project / "wd"
    for stage in ("sft", "pairs-r1", "dpo-r1", "grpo", "evaluate"):
        assert json.loads((wd / stage / "stage.json").read_text())["status"] == "done", stage
    import yaml

    overrides = yaml.safe_load((wd / "grpo" / "overrides.yaml").read_text())
    module = overrides["model"]["init_args"]
    assert module["backbone"]["model"] == str(wd / "dpo-r1" / "refiner" / "merged")
    # the pipeline's backbone (8 frames of 32x32) and reward, not the recipe's (16 frames of 64x64)
    assert module["generator"]["init_args"]["num_frames"] == 8 and module["generator"]["init_args"]["width"] == 32
    assert [m["class_path"].rsplit(".", 1)[1] for m in module["reward"]["init_args"]["members"]] == [
        "VisualQualityReward", "TemporalConsistencyReward", "DynamicDegreeReward", "SceneAlignmentReward"]
    assert (wd / "grpo" / "refiner" / "merged" / "config.json").is_file()
    rows = [json.loads(line) for line in (wd / "grpo" / "rollouts.jsonl").read_text().splitlines()]
    assert {r["original"] for r in rows} <= set(DPO) and {r["step"] for r in rows} == {0, 1}
    metrics = json.loads((wd / "evaluate" / "in-domain" / "metrics.json").read_text())
    assert list(metrics["methods"]) == ["original", "heuristic", "zero-shot", "sft", "dpo", "grpo"]
    capsys.readouterr()

    # `pav evaluate --workdir` on the same YAML finds the grpo refiner, and wants it
    assert main(["evaluate", "-c", "grpo.yaml", "--workdir", "wd", "--out", "again"]) == 0
    assert "grpo" in json.loads((project / "again" / "in-domain" / "metrics.json").read_text())["methods"]
    import shutil

    shutil.rmtree(wd / "grpo")
    assert main(["evaluate", "-c", "grpo.yaml", "--workdir", "wd", "--out", "again2"]) == 2
    assert "the YAML trains grpo, but the work directory has no finished grpo refiner" in capsys.readouterr().err


@pytest.mark.parametrize("alignment, sections, said", [
    ("ppo", "", "pipeline: alignment must be one of dpo, grpo, dpo+grpo, got 'ppo'"),
    ("grpo", "", "pipeline: alignment grpo needs a grpo section"),
    ("dpo+grpo", "dpo: null\n", "pipeline: alignment dpo+grpo needs a dpo section"),
])
def test_an_alignment_that_cannot_run_fails_before_any_work(project, capsys, alignment, sections, said):
    text = (project / "pipeline.yaml").read_text()
    if sections:
        text = text.split("\ndpo:")[0] + "\n" + sections + "evaluation:" + text.split("\nevaluation:")[1]
    (project / "bad.yaml").write_text(text + GRPO_SECTION.format(root=ROOT) * (alignment == "dpo+grpo")
                                      + f"alignment: {alignment}\n")
    assert main(["pipeline", "-c", "bad.yaml", "--workdir", "wd"]) == 2
    assert said in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (project / "wd").exists()
