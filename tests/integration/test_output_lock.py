"""One `pav` process per output folder: a second run on the same output is refused at once
with the holder's PID; the lock goes with its holder, however it ends (kill -9 included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prompt_a_video.cli import main
from prompt_a_video.output_lock import OutputInUseError, lock_path, output_lock

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOLD = ("import sys, time\n"
        "from prompt_a_video.output_lock import output_lock\n"
        "with output_lock(sys.argv[1], holder='pav render --out x'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n")


@pytest.fixture
def holder():
    """Start a process that holds the lock of an output; yields (start, processes)."""
    processes = []

    def start(output: Path) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(output)], stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert process.stdout.readline().strip() == "held"
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()
        process.wait()


def test_a_second_process_is_refused_with_the_holders_pid_and_the_lock_dies_with_its_holder(holder, tmp_path):
    out = tmp_path / "out"
    process = holder(out)
    with pytest.raises(OutputInUseError, match=rf"in use by another pav process \(PID {process.pid}: "
                                               r"pav render --out x\)"):
        with output_lock(out):
            pass
    assert not out.exists()  # the lock lives beside the output, not in it

    process.send_signal(signal.SIGKILL)  # no cleanup runs: the OS drops the lock
    process.wait()
    with output_lock(out) as path:
        assert path == lock_path(out) and path.read_text().startswith(f"{os.getpid()} ")
    assert not path.exists()  # removed on release


def test_a_secondary_rank_of_a_distributed_job_takes_no_lock(holder, tmp_path, monkeypatch):
    out = tmp_path / "out"
    holder(out)  # rank 0 of the job
    monkeypatch.setenv("LOCAL_RANK", "1")
    with output_lock(out) as path:
        assert path is None


def test_render_on_an_output_in_use_is_refused_at_once_and_writes_nothing(holder, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog running on the beach\n")
    out = tmp_path / "render"
    process = holder(out)

    status = main(["render", "-c", str(ROOT / "experiments/render/synthetic.yaml"), "--prompts", str(prompts),
                   "--out", str(out), "--use_cache", "false"])

    assert status == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"pav render: {out}: in use by another pav process (PID {process.pid}")
    assert "give another --out" in last
    assert not out.exists() and not (tmp_path / "mlruns.db").exists()  # no records, no MLflow run


def test_two_renders_at_once_on_one_folder_leave_each_record_once(tmp_path):
    import json
    import signal

    prompts = tmp_path / "prompts.txt"
    # far more than the first command renders while the second starts (~8 s): it is
    # stopped by SIGTERM once the second was refused, whatever the machine's speed
    prompts.write_text("".join(f"a dog number {i} running on the beach\n" for i in range(400)))
    out = tmp_path / "render"
    args = [sys.executable, "-m", "prompt_a_video.cli", "render", "-c", str(ROOT / "experiments/render/synthetic.yaml"),
            "--prompts", str(prompts), "--out", str(out), "--use_cache", "false", "--batch_size", "1"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), PAV_CACHE_DIR=str(tmp_path / "cache"))
    first = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not lock_path(out).exists():
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)

    second = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert first.poll() is None, "the first render ended before the second was tried"
    first.send_signal(signal.SIGTERM)
    _, first_err = first.communicate(timeout=120)

    assert second.returncode == 2
    assert f"in use by another pav process (PID {first.pid}" in second.stderr.strip().splitlines()[-1]
    assert first.returncode == 143, first_err
    ids = [json.loads(line)["id"] for path in out.glob("scores*.jsonl") for line in path.read_text().splitlines()]
    assert ids and len(ids) == len(set(ids))  # only the first wrote, each record once


def test_a_pipeline_on_a_workdir_in_use_is_refused_before_any_stage(holder, tmp_path, capsys, monkeypatch,
                                                                     tiny_llama_dir):
    from tests.integration.test_pipeline import PIPELINE

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE.format(root=ROOT, model=tiny_llama_dir))
    process = holder(tmp_path / "work")

    assert main(["pipeline", "-c", "pipeline.yaml", "--workdir", "work"]) == 2

    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"in use by another pav process (PID {process.pid}" in last and "give another --workdir" in last
    assert not (tmp_path / "work").exists() and not (tmp_path / "mlruns.db").exists()
