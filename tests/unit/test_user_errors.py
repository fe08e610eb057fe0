"""A user's mistake ends a `pav` command with one line on stderr that names the file and
line or the option, and what was expected; non-zero exit, no traceback. --debug (or
PAV_DEBUG=1) shows the traceback; a bug always does."""

import json
import subprocess
import sys
from pathlib import Path

import lightning.pytorch  # noqa: F401  (imported now: its log handler must not keep a test's captured stderr)
import pytest

from prompt_a_video import cli
from prompt_a_video.commands.errors import run_command, user_error_message

ROOT = Path(__file__).resolve().parents[2]
RENDER = ROOT / "experiments/render/synthetic.yaml"
EVOLVE = ROOT / "experiments/evolve/synthetic.yaml"
PAIRS = ROOT / "experiments/pairs/synthetic.yaml"
PIPELINE = ROOT / "experiments/quickstart.yaml"
SFT = ROOT / "experiments/sft/smollm2-cpu.yaml"


@pytest.fixture
def files(tmp_path, monkeypatch, tmp_path_factory):
    """A working directory with a good, a malformed and no prompt file, and an empty folder."""
    monkeypatch.chdir(tmp_path)
    # one MLflow store for the whole module: a new sqlite store costs seconds to create
    store = tmp_path_factory.getbasetemp() / "user-errors-mlruns.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    monkeypatch.setenv("PAV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PAV_DEBUG", raising=False)
    (tmp_path / "good.txt").write_text("a dog running\n")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a dog"}\n{"prompt": oops}\n')
    (tmp_path / "empty").mkdir()
    return tmp_path


def pav(capsys, *argv) -> tuple[int, str]:
    """Run `pav ARGV` in-process, as the console would: (exit status, stderr)."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as stop:  # a bad option exits as argparse does
        status = stop.code
        if isinstance(status, str):  # what Python does with SystemExit("message")
            print(status, file=sys.stderr)
            status = 1
    return status, capsys.readouterr().err


def assert_one_line(status: int, err: str, command: str, *expected: str) -> str:
    assert status not in (0, None), err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"pav {command}: "), last
    for text in expected:
        assert text in last, last
    return last


# --- a bad value, a missing file and a malformed record, for each command --------------------

def test_render(files, capsys):
    base = ["render", "-c", RENDER, "--out", "out"]
    status, err = pav(capsys, *base, "--prompts", "good.txt", "--batch_size", "many")
    assert_one_line(status, err, "render", "batch_size: expected int, got 'many'", "see `pav render --help`")
    assert status == 2
    status, err = pav(capsys, *base, "--prompts", "missing.txt")
    assert_one_line(status, err, "render", "missing.txt: prompt file not found")
    status, err = pav(capsys, *base, "--prompts", "bad.jsonl")
    assert_one_line(status, err, "render", "bad.jsonl:2: not valid JSON")
    assert status == 2


def test_evolve(files, capsys):
    base = ["evolve", "-c", EVOLVE, "--out", "pool.jsonl"]
    status, err = pav(capsys, *base, "--prompts", "good.txt", "--top_k", "0")
    assert_one_line(status, err, "evolve", "EvolutionLoop.top_k must be an int >= 1, got 0")
    status, err = pav(capsys, *base, "--prompts", "missing.txt")
    assert_one_line(status, err, "evolve", "missing.txt: prompt file not found")
    status, err = pav(capsys, *base, "--prompts", "bad.jsonl")
    assert_one_line(status, err, "evolve", "bad.jsonl:2: not valid JSON")
    assert not (files / "pool.jsonl").exists() or not (files / "pool.jsonl").read_text().strip()


def test_pairs(files, capsys):
    base = ["pairs", "-c", PAIRS, "--out", "pairs.jsonl"]
    status, err = pav(capsys, *base, "--refiner", "empty", "--n", "0")
    assert_one_line(status, err, "pairs", "n, sample_batch and batch_size must be >= 1 (got 0")
    status, err = pav(capsys, *base, "--refiner", "missing-refiner")
    assert_one_line(status, err, "pairs", "refiner folder not found: missing-refiner")
    status, err = pav(capsys, *base, "--refiner", "empty", "--prompts", "bad.jsonl")
    assert_one_line(status, err, "pairs", "bad.jsonl:2: not valid JSON")


def test_evaluate(files, capsys):
    base = ["evaluate", "-c", PIPELINE, "--out", "eval"]
    status, err = pav(capsys, *base, "--evaluation.methods", "[original, best]")
    assert_one_line(status, err, "evaluate", "evaluation.methods: unknown ['best']")
    status, err = pav(capsys, *base, "--workdir", "missing-wd")
    assert_one_line(status, err, "evaluate", "--workdir missing-wd: not found")
    # a work directory whose stage record is not JSON: the message names the file
    (files / "wd" / "sft" / "refiner").mkdir(parents=True)
    (files / "wd" / "sft" / "stage.json").write_text('{"status": done}')
    status, err = pav(capsys, *base, "--workdir", "wd")
    assert_one_line(status, err, "evaluate", f"{Path('wd') / 'sft' / 'stage.json'}:1: not valid JSON")


def test_refine(files, capsys):
    # `pav refine` reports its own mistakes in one line (exit 1)
    status, err = pav(capsys, "refine", "--model", "empty", "--n", "0", "a dog")
    assert_one_line(status, err, "refine", "--n must be >= 1, got 0")
    status, err = pav(capsys, "refine", "--model", "missing-refiner", "a dog")
    assert_one_line(status, err, "refine", "refiner folder not found: missing-refiner")
    status, err = pav(capsys, "refine", "--model", "empty", "--prompts", "bad.jsonl")
    assert_one_line(status, err, "refine", "bad.jsonl:2: not valid JSON")


def test_fit(files, capsys, tiny_llama_dir):
    base = ["fit", "-c", SFT, "--model.init_args.backbone.model", tiny_llama_dir, "--trainer.logger", "false",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    status, err = pav(capsys, *base, "--trainer.max_steps", "many")
    assert_one_line(status, err, "fit", "trainer.max_steps: expected int, got 'many'", "see `pav fit --help`")
    assert status == 2
    status, err = pav(capsys, *base, "--data.init_args.pools", "[missing.jsonl]")
    assert_one_line(status, err, "fit", "missing.jsonl", "not found")
    (files / "pool.jsonl").write_text('{"prompt": "a dog", "best": oops}\n')
    status, err = pav(capsys, *base, "--data.init_args.pools", "[pool.jsonl]")
    assert_one_line(status, err, "fit", "pool.jsonl:1:")


# --- the experiment YAML itself ----------------------------------------------------------------

def test_a_bad_key_or_bad_yaml_in_a_config_file_names_the_file_and_line(files, capsys):
    (files / "typo.yaml").write_text("batch_size: 2\nseedz: [0]\n")
    status, err = pav(capsys, "render", "-c", RENDER, "-c", "typo.yaml", "--prompts", "good.txt", "--out", "o")
    assert_one_line(status, err, "render", "typo.yaml:2: seedz: not an option")
    (files / "broken.yaml").write_text("seeds: [0\nbatch_size: 2\n")
    status, err = pav(capsys, "render", "-c", RENDER, "-c", "broken.yaml", "--prompts", "good.txt", "--out", "o")
    assert_one_line(status, err, "render", "broken.yaml:2: not valid YAML")
    status, err = pav(capsys, "render", "-c", "nope.yaml", "--prompts", "good.txt", "--out", "o")
    assert_one_line(status, err, "render", "-c ", "nope.yaml: file not found")
    status, err = pav(capsys, "render", "-c", RENDER, "--generator.init_args.presetz", "x", "--prompts", "good.txt",
                      "--out", "o")
    assert_one_line(status, err, "render", "presetz is not an option of prompt_a_video.generators.synthetic.")


# --- tracebacks: on request, and for bugs -----------------------------------------------------

def test_debug_flag_or_environment_shows_the_traceback(files, capsys, monkeypatch):
    from jsonargparse import ArgumentError

    with pytest.raises(FileNotFoundError, match="missing.txt"):
        cli.main(["render", "-c", str(RENDER), "--prompts", "missing.txt", "--out", "o", "--debug"])
    monkeypatch.setenv("PAV_DEBUG", "1")
    with pytest.raises(ArgumentError, match="batch_size"):
        cli.main(["render", "-c", str(RENDER), "--prompts", "good.txt", "--out", "o", "--batch_size", "many"])


def test_console_exit_status_and_traceback_only_with_debug(files):
    # `pav refine` parses without importing torch: a cheap real console run
    command = [sys.executable, "-m", "prompt_a_video.cli", "refine", "--model", "empty", "--n", "many", "a dog"]
    plain = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == ["pav refine: n: expected int, got 'many'; see `pav refine --help`"]
    debug = subprocess.run([*command, "--debug"], check=False, capture_output=True, text=True, timeout=300)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "many" in debug.stderr


def test_a_bug_keeps_its_traceback():
    with pytest.raises(KeyError):
        run_command("render", lambda: {}["missing"])
    # a ValueError that Python raised inside the package is a bug, not a message for a user
    # (code compiled as if it were a package file, so that its frame is the package's)
    fake = str(ROOT / "prompt_a_video" / "somewhere.py")
    with pytest.raises(ValueError) as python_raised:
        exec(compile("a, b = [1, 2, 3]", fake, "exec"), {})  # noqa: S102
    assert user_error_message(python_raised.value) is None
    # ... while one the package raised on purpose is
    from prompt_a_video.data.errors import ErrorPolicy

    with pytest.raises(ValueError) as on_purpose:
        ErrorPolicy("sometimes")
    assert user_error_message(on_purpose.value) == "errors='sometimes': expected one of 'raise', 'skip'"
    # and one from a library, or from this test, is not
    with pytest.raises(ValueError) as elsewhere:
        json.loads("[1, 2")
    assert user_error_message(elsewhere.value).startswith("not valid JSON")  # JSON is always input
    with pytest.raises(ValueError) as here:
        raise ValueError("a test's own")
    assert user_error_message(here.value) is None
