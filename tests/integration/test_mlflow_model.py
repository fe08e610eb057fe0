"""An export logged as an MLflow model (pyfunc) and registered: `models:/NAME/VERSION` and
`runs:/RUN/refiner` load with mlflow.pyfunc and with `Refiner`, rewrite as the export
folder does, and `pav export --log_model true --register NAME` logs to the fit's run."""

import json
from pathlib import Path

import pytest

from prompt_a_video import Refiner

ROOT = Path(__file__).resolve().parents[2]
NAME = "tiny-refiner"
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]

SHORT = {"max_new_tokens": 8}  # the tiny model's rewrites, short: speed


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A fresh sqlite tracking store and cache, the working directory next to them (the
    store's artifacts go under it)."""
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns.db'}")
        mp.setenv("PAV_CACHE_DIR", str(root / "cache"))
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        yield root
        mlflow.set_tracking_uri(None)  # MLflow keeps the last store in a global: not for the next module


@pytest.fixture(autouse=True)
def _this_store(store):
    """Each test starts on ``store``: logging sets MLflow's global store (the last test
    points it elsewhere)."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlruns.db'}")


@pytest.fixture(scope="module")
def registered(store, tiny_refiner_export_dir):
    """The kit's tiny export, logged to a new run and registered as NAME (version 1)."""
    from prompt_a_video.refiner.mlflow_model import log_refiner_model

    uri = log_refiner_model(tiny_refiner_export_dir, registered_model_name=NAME)
    assert uri == f"models:/{NAME}/1"
    return uri


def test_the_registered_model_predicts_through_pyfunc_with_the_refiners_format_and_guard(
        registered, tiny_refiner_export_dir):
    import mlflow

    export = Refiner(tiny_refiner_export_dir)
    model = mlflow.pyfunc.load_model(registered)
    out = model.predict(["a dog"])
    assert list(out.columns) == ["prompt", "refined"] and out["prompt"].tolist() == ["a dog"]
    assert out["refined"].tolist() == export.refine("a dog")  # guarded: the same answer, fallback included
    raw = model.predict(["a dog"], params={"guard": False, **SHORT})["refined"].tolist()
    assert raw == export.refine("a dog", guard=False, **SHORT) and raw[0] and raw[0] != "a dog"
    import pandas as pd

    two = model.predict(pd.DataFrame({"prompt": ["a dog", "a red car"]}),
                        params={"n": 2, "seed": 5, "guard": False, **SHORT})
    assert two["prompt"].tolist() == ["a dog", "a dog", "a red car", "a red car"]
    assert two["refined"].tolist() == [t for group in export.refine(["a dog", "a red car"], 2, seed=5, guard=False,
                                                                    **SHORT) for t in group]

    info = mlflow.models.get_model_info(registered)
    assert [p.name for p in info.signature.params] == ["n", "temperature", "top_p", "max_new_tokens", "seed", "guard"]
    assert info.signature.outputs.input_names() == ["prompt", "refined"]
    assert info.saved_input_example_info is not None


def test_refiner_loads_models_and_runs_uris_from_a_cache(registered, tiny_refiner_export_dir, store, monkeypatch):
    import mlflow

    expected = Refiner(tiny_refiner_export_dir).refine(["a dog", "a red car"], 2, seed=3, guard=False, **SHORT)
    by_name = Refiner(registered)
    assert by_name.path.is_relative_to(store / "cache" / "mlflow-models")
    assert json.loads((by_name.path / "refiner.json").read_text()) == \
        json.loads((tiny_refiner_export_dir / "refiner.json").read_text())
    assert by_name.refine(["a dog", "a red car"], 2, seed=3, guard=False, **SHORT) == expected
    assert by_name.refine("a dog") == Refiner(tiny_refiner_export_dir).refine("a dog")

    run_id = mlflow.MlflowClient().get_model_version(NAME, "1").run_id
    by_run = Refiner(f"runs:/{run_id}/refiner")
    assert by_run.refine(["a dog", "a red car"], 2, seed=3, guard=False, **SHORT) == expected

    def offline(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", offline)
    assert Refiner(registered).path == by_name.path  # the cached copy


def test_an_export_logged_as_plain_run_artifacts_loads_by_runs_uri(registered, tiny_refiner_export_dir):
    import mlflow

    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tiny_refiner_export_dir), "plain")
    plain = Refiner(f"runs:/{run.info.run_id}/plain")
    assert sorted(p.name for p in plain.path.iterdir() if not p.name.startswith(".")) == \
        sorted(p.name for p in tiny_refiner_export_dir.iterdir())
    assert plain.settings == Refiner(tiny_refiner_export_dir).settings


def test_a_second_registration_is_version_2(registered, tiny_refiner_export_dir):
    import mlflow

    from prompt_a_video.refiner.mlflow_model import log_refiner_model

    assert log_refiner_model(tiny_refiner_export_dir, registered_model_name=NAME) == f"models:/{NAME}/2"
    versions = mlflow.MlflowClient().search_model_versions(f"name = '{NAME}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    latest = Refiner(f"models:/{NAME}/latest")
    assert latest.path == Refiner(f"models:/{NAME}/2").path != Refiner(registered).path


def test_a_missing_model_is_a_one_line_error_that_names_it(registered, capsys):
    from prompt_a_video import cli

    with pytest.raises(FileNotFoundError, match=f"no registered model 'no-such-refiner'.*{NAME}") as missing:
        Refiner("models:/no-such-refiner/1")
    assert "\n" not in str(missing.value)
    with pytest.raises(FileNotFoundError, match=f"'{NAME}' has no version '9'"):
        Refiner(f"models:/{NAME}/9")
    with pytest.raises(FileNotFoundError, match="no run 0123abcd"):
        Refiner("runs:/0123abcd/refiner")

    assert cli.main(["refine", "--model", "models:/no-such-refiner/1", "a dog"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("pav refine: MLflow model not found: models:/no-such-refiner/1: no registered model")


def test_a_store_that_does_not_exist_is_named_and_not_created(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    with pytest.raises(FileNotFoundError, match="no tracking store at"):
        Refiner(f"models:/{NAME}/1")
    assert not (tmp_path / "elsewhere.db").exists()


@pytest.fixture(scope="module")
def fit_checkpoint(store, tiny_llama_dir):
    """A 2-step `pav fit` of the SFT experiment tracked in ``store``: (checkpoint, run id)."""
    from prompt_a_video import cli
    from prompt_a_video.lightning_cli import run_id_from_checkpoint

    assert cli.main([
        "fit", "-c", str(ROOT / "experiments/sft/smollm2-cpu.yaml"),
        "--model.init_args.backbone.model", str(tiny_llama_dir),
        "--model.init_args.max_length", "320", "--model.init_args.lr", "0.05",
        "--data.init_args.pools", f"[{ROOT / 'experiments/data/seed_sft_pairs.json'}]",
        "--trainer.max_steps", "2", "--trainer.val_check_interval", "2", "--trainer.limit_val_batches", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
    ]) == 0
    (checkpoint,) = sorted((store / "runs").rglob("*.ckpt"))
    run_id = run_id_from_checkpoint(str(checkpoint))
    assert run_id is not None
    return checkpoint, run_id


def test_pav_export_logs_the_model_to_the_fits_run_and_registers_it(fit_checkpoint, store, capsys):
    import mlflow

    from prompt_a_video import cli

    checkpoint, fit_run = fit_checkpoint
    out = store / "exported"
    assert cli.main(["export", "--ckpt_path", str(checkpoint), "--out", str(out),
                     "--log_model", "true", "--register", "sft-cli"]) == 0
    assert "mlflow model: models:/sft-cli/1" in capsys.readouterr().out.splitlines()
    client = mlflow.MlflowClient()
    assert client.get_model_version("sft-cli", "1").run_id == fit_run
    assert client.get_run(fit_run).info.status == "FINISHED"  # given the model, not reopened
    assert Refiner("models:/sft-cli/1").refine("a dog", guard=False, **SHORT) == \
        Refiner(out).refine("a dog", guard=False, **SHORT)


def test_pav_export_logs_to_a_new_run_when_the_store_lacks_the_fits_run(fit_checkpoint, tmp_path, monkeypatch,
                                                                        capsys):
    import mlflow

    from prompt_a_video import cli

    checkpoint, fit_run = fit_checkpoint
    other = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    assert cli.main(["export", "--ckpt_path", str(checkpoint), "--out", str(tmp_path / "exported"),
                     "--log_model"]) == 0
    captured = capsys.readouterr()
    assert f"MLflow run {fit_run} is not in" in captured.err
    (line,) = [x for x in captured.out.splitlines() if x.startswith("mlflow model: ")]
    run_id = line.removeprefix("mlflow model: runs:/").removesuffix("/refiner")
    run = mlflow.MlflowClient(other).get_run(run_id)
    assert run_id != fit_run and run.data.params["fit_run_id"] == fit_run
    assert run.data.tags["pav.stage"] == "export"
    assert mlflow.MlflowClient(other).search_registered_models() == []
