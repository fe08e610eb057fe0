"""Commands: a typed function configured like the Lightning stages, its run tracked in MLflow."""

from dataclasses import dataclass

import pytest

from prompt_a_video.commands.runner import command, run_function_stage
from prompt_a_video.tracking import StageRun, tracked_stage


@dataclass
class Operator:
    """A component chosen by class_path in YAML."""

    model: str = "gpt-4o"
    api_key: str | None = None


def demo_stage(operator: Operator, prompts: str = "prompts.txt", iterations: int = 3,
               record: StageRun | None = None) -> dict:
    """Demo stage.

    Args:
        operator: the component.
        prompts: a file.
        iterations: how many.
        record: what its run records.
    """
    with tracked_stage("demo", record=record, experiment="demo") as mlflow:
        mlflow.log_metric("iterations", iterations)
    return {"operator": operator, "prompts": prompts, "iterations": iterations, "record": record}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_yaml_overrides_and_components_reach_the_function(workdir):
    (workdir / "exp.yaml").write_text(
        "operator:\n  model: glm-4\n  api_key: sk-ABCDEFGHIJKLMNOPQRSTUVWX\niterations: 5\n")
    result = run_function_stage("demo", demo_stage, ["-c", "exp.yaml", "--prompts", "mine.txt"])
    record = result.pop("record")
    assert result == {"operator": Operator("glm-4", "sk-ABCDEFGHIJKLMNOPQRSTUVWX"), "prompts": "mine.txt",
                      "iterations": 5}
    assert record.files[-1].endswith("exp.yaml") and record.config["iterations"] == 5  # the resolved config
    assert record.config["operator"]["model"] == "glm-4"


def test_a_command_is_its_library_function_plus_a_report(workdir, capsys):
    printed = command(demo_stage, lambda result: print(f"ran {result['iterations']} iterations"))
    assert printed.__doc__ == demo_stage.__doc__
    result = run_function_stage("demo", printed, ["--iterations", "2"])
    assert result["iterations"] == 2 and capsys.readouterr().out.strip().endswith("ran 2 iterations")
    with pytest.raises(SystemExit):  # `record` is passed by the runner, never an option
        run_function_stage("demo", printed, ["--record", "{}"])


def test_stage_run_has_config_artifact_params_and_no_secret(workdir):
    from mlflow.tracking import MlflowClient

    (workdir / "exp.yaml").write_text("operator:\n  api_key: my-secret-key\n")
    run_function_stage("demo", demo_stage, ["-c", "exp.yaml", "--iterations", "4"])
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlruns.db")
    (run,) = client.search_runs([client.get_experiment_by_name("demo").experiment_id])
    assert run.info.run_name == "demo exp"
    assert run.data.params["iterations"] == "4" and run.data.params["operator.model"] == "gpt-4o"
    assert run.data.params["operator.api_key"] == "***"
    assert run.data.metrics["iterations"] == 4
    config = client.download_artifacts(run.info.run_id, "config.yaml", str(workdir))
    text = open(config).read()
    assert "my-secret-key" not in text and "***" in text


def test_stage_nests_under_an_active_parent_run(workdir):
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlruns.db")
    mlflow.set_experiment("demo")
    with mlflow.start_run(run_name="pipeline") as parent:
        run_function_stage("demo", demo_stage, [])
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlruns.db")
    runs = client.search_runs([client.get_experiment_by_name("demo").experiment_id])
    child = [r for r in runs if r.info.run_id != parent.info.run_id]
    assert len(child) == 1 and child[0].data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_bad_value_is_a_clear_error(workdir, capsys):
    with pytest.raises(SystemExit):
        run_function_stage("demo", demo_stage, ["--iterations", "many"])
    assert "iterations" in capsys.readouterr().err


def words_stage(prompt: str | list[str] | None = None, n: int = 1, json: bool = False,
                refiner: list[str] | None = None) -> dict:
    """Demo stage with command-line conveniences.

    Args:
        prompt: one or more prompts.
        n: how many.
        json: JSON output.
        refiner: NAME=DIR values.
    """
    return {"prompt": prompt, "n": n, "json": json, "refiner": refiner}


words_stage.positional = "prompt"
words_stage.short_options = {"-n": "--n"}
words_stage.repeatable = ("--refiner",)


def test_bare_words_short_options_lone_booleans_and_repeatable_options():
    got = run_function_stage("words", words_stage, ["--json", "-n", "3", "a dog running", "a cat"])
    assert got == {"prompt": ["a dog running", "a cat"], "n": 3, "json": True, "refiner": None}
    got = run_function_stage("words", words_stage, ["--prompt", "a bird", "x", "--json", "false",
                                                    "--refiner", "a=1", "--refiner", "b=2"])
    assert got == {"prompt": ["a bird", "x"], "n": 1, "json": False, "refiner": ["a=1", "b=2"]}
    assert run_function_stage("words", words_stage, ["--prompt", "only"])["prompt"] == "only"
