"""`pav evaluate --workdir` says which trained refiners it found, and fails where the YAML
trains one that the folder does not hold, instead of quietly comparing fewer methods."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompt_a_video.cli import main
from prompt_a_video.evaluation.run import pipeline_refiners

ROOT = Path(__file__).resolve().parents[2]


def _stage(root: Path, name: str, status: str = "done") -> None:
    (root / name / "refiner").mkdir(parents=True)
    (root / name / "stage.json").write_text(f'{{"status": "{status}"}}')


def test_a_folder_that_is_no_pipeline_work_directory_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a pipeline\n")
    with pytest.raises(FileNotFoundError, match=r"not a `pav pipeline` work directory \(no <stage>/stage.json"):
        pipeline_refiners(tmp_path)


def test_a_trained_method_the_yaml_expects_but_the_folder_lacks_is_named_with_its_state(tmp_path):
    _stage(tmp_path, "sft")
    _stage(tmp_path, "dpo-r1", status="running")
    assert pipeline_refiners(tmp_path, ("sft",)) == {"sft": str(tmp_path / "sft" / "refiner")}
    with pytest.raises(FileNotFoundError, match=r"the YAML trains dpo, but the work directory has no finished dpo "
                                                r"refiner \(dpo-r1: running\)"):
        pipeline_refiners(tmp_path, ("sft", "dpo"))


def test_pav_evaluate_on_a_wrong_workdir_stops_before_rendering(tmp_path, capsys, monkeypatch):
    from tests.integration.test_pipeline import PIPELINE

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE.format(root=ROOT, model="unused"))
    (tmp_path / "eval.txt").write_text("a bird flying over a lake\n")
    workdir = tmp_path / "somewhere"
    _stage(workdir, "sft")  # an SFT, but the YAML also trains DPO

    status = main(["evaluate", "-c", "pipeline.yaml", "--workdir", str(workdir), "--out", "eval"])

    assert status == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"pav evaluate: --workdir {workdir}: the YAML trains dpo, but the work directory has no "
                           "finished dpo refiner (dpo: not started)")
    assert not (tmp_path / "eval").exists()
