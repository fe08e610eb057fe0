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
DPO = ROOT / "experiments/dpo/smollm2-cpu.yaml"


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
    assert_one_line(status, err, "pairs", "n must be an int >= 1, got 0")
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
    # `pav refine` reports its own mistakes in one line (exit 2, as every command)
    status, err = pav(capsys, "refine", "--model", "empty", "--n", "0", "a dog")
    assert_one_line(status, err, "refine", "n must be an int >= 1 (answers per prompt), got 0")
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


def test_a_yaml_error_in_one_of_several_config_files_names_that_file_and_line(files, capsys):
    (files / "seeds.yaml").write_text("seeds: [0]\n")
    (files / "unclosed.yaml").write_text("batch_size: 2\nseeds: [0, 1\n")
    (files / "bell.yaml").write_text("batch_size: 2\nseeds: [0]\x07\n")
    expected = {  # an unclosed list is found at the end of the file: where it began is said too
        "unclosed.yaml": "unclosed.yaml:3: not valid YAML: did not find expected ',' or ']' "
                         "(while parsing a flow sequence from line 2)",
        "bell.yaml": "bell.yaml:2: not valid YAML: unacceptable character #x0007",
    }
    for bad, text in expected.items():
        status, err = pav(capsys, "render", "-c", RENDER, "-c", bad, "-c", "seeds.yaml", "--prompts", "good.txt",
                          "--out", "o")
        assert_one_line(status, err, "render", text)
        assert status == 2 and "<unicode string>" not in err
    status, err = pav(capsys, "fit", "-c", SFT, "-c", "unclosed.yaml", "-c", "seeds.yaml")
    assert_one_line(status, err, "fit", expected["unclosed.yaml"])
    assert status == 2 and "<unicode string>" not in err


def test_an_unknown_option_or_key_is_one_line_with_the_closest_valid_name(files, capsys):
    status, err = pav(capsys, "fit", "-c", SFT, "--trainer.max_stepz", "3")
    line = assert_one_line(status, err, "fit",
                           "--trainer.max_stepz: not an option (did you mean --trainer.max_steps?)")
    assert status == 2 and err.strip().splitlines() == [line]  # not the usage text
    status, err = pav(capsys, "render", "--outt", "x")
    line = assert_one_line(status, err, "render", "--outt: not an option (did you mean --out?)")
    assert status == 2 and err.strip().splitlines() == [line]
    status, err = pav(capsys, "render", "-c", RENDER, "--generator.init_args.presetz", "x", "--prompts", "good.txt",
                      "--out", "o")
    assert_one_line(status, err, "render", "presetz is not an option of prompt_a_video.generators.synthetic.",
                    "(did you mean --generator.init_args.preset?)")
    # a key inside a -c YAML: named with its line, the suggestion as the YAML writes it
    (files / "typo.yaml").write_text("trainer:\n  max_stepz: 3\n")
    status, err = pav(capsys, "fit", "-c", SFT, "-c", "typo.yaml")
    assert_one_line(status, err, "fit",
                    "typo.yaml:2: trainer.max_stepz: not an option (did you mean trainer.max_steps?)")
    (files / "lr.yaml").write_text("model:\n  init_args:\n    lrr: 0.1\n")
    status, err = pav(capsys, "fit", "-c", SFT, "-c", "lr.yaml")
    assert_one_line(status, err, "fit",
                    "lr.yaml:3: model: lrr is not an option of prompt_a_video.modules.sft.SFTRefiner "
                    "(did you mean lr?)")
    # nothing close: no guess
    status, err = pav(capsys, "render", "-c", RENDER, "--zzzqqq", "1", "--prompts", "good.txt", "--out", "o")
    last = assert_one_line(status, err, "render", "--zzzqqq: not an option; see `pav render --help`")
    assert "did you mean" not in last


def test_a_value_error_of_our_class_built_from_the_config_is_the_line(files, capsys):
    # jsonargparse builds these through a class_path (a Union for the model): the line is
    # the class's own message, not jsonargparse's account of the subtypes it tried
    status, err = pav(capsys, "fit", "-c", DPO, "--model.init_args.beta", "0")
    assert status == 2 and "Union" not in err and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "pav fit: DPO beta must be > 0 (it scales the implicit reward), got 0.0"
    status, err = pav(capsys, "pairs", "-c", PAIRS, "--out", "pairs.jsonl", "--refiner", "empty",
                      "--rule.init_args.margin", "-1")
    assert status == 2 and "Union" not in err and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "pav pairs: PaperPairRule.margin must be a finite number >= 0, got -1.0"


def test_a_broken_refiner_json_is_named_with_its_line(files, capsys):
    export = files / "export"
    (export / "merged").mkdir(parents=True)
    (export / "refiner.json").write_text('{\n  "format": "prompt-a-video/refiner",\n  "version": 1,\n'
                                         '  "system_prompt": "cut here\n}\n')
    status, err = pav(capsys, "refine", "--model", export, "a dog")
    line = assert_one_line(status, err, "refine", f"{export / 'refiner.json'}:4: not valid JSON", "`pav export`")
    assert status == 2 and err.strip().splitlines() == [line]


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


def test_a_commands_own_exit_message_is_a_user_error(capsys):
    def refuse():
        raise SystemExit("pav refine: --model x: not found")

    assert run_command("refine", refuse) == 2  # not Python's 1 for SystemExit("...")
    assert capsys.readouterr().err.strip().splitlines() == ["pav refine: --model x: not found"]
    with pytest.raises(SystemExit) as done:  # a status, e.g. --help's 0, stays what it is
        run_command("refine", lambda: sys.exit(0))
    assert done.value.code == 0
    with pytest.raises(SystemExit):
        run_command("refine", refuse, debug=True)


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
