"""The `pav` front door: help answers without heavy imports, stages dispatch, errors are clear."""

import subprocess
import sys

import pytest

from prompt_a_video import cli


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_help_lists_every_command_without_importing_heavy_libraries():
    proc = _run(
        "import sys; from prompt_a_video.cli import main; rc = main(['--help']);"
        "heavy = [m for m in ('torch', 'lightning', 'transformers', 'diffusers', 'mlflow', 'jsonargparse')"
        " if m in sys.modules]; print('HEAVY', heavy); sys.exit(rc)"
    )
    assert proc.returncode == 0, proc.stderr
    for name in [*cli.LIGHTNING_COMMANDS, *cli.STAGES]:
        assert f"  {name} " in proc.stdout
    assert "HEAVY []" in proc.stdout


def test_stage_help_imports_no_torch():
    proc = _run(
        "import sys; from prompt_a_video.cli import main\n"
        "try:\n    main(['assets', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch', 'lightning', 'transformers', 'mlflow') if m in sys.modules])"
    )
    assert "install" in proc.stdout and "list" in proc.stdout
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_unknown_command_exits_2_and_names_the_choices(capsys):
    assert cli.main(["evolv"]) == 2
    err = capsys.readouterr().err
    assert "'evolv'" in err and "fit" in err and "assets" in err


def test_every_stage_target_imports():
    from importlib import import_module

    for name, (target, _) in cli.STAGES.items():
        module, attribute = target.split(":")
        assert getattr(import_module(module), attribute), name


def test_assets_list_reports_missing_asset_with_install_command(tmp_path, capsys):
    cli.main(["assets", "list", "--cache_dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "smollm2-135m-instruct" in out
    assert "missing    (pav assets install smollm2-135m-instruct)" in out


def test_assets_install_rejects_unknown_names(tmp_path):
    with pytest.raises(SystemExit, match="unknown asset"):
        cli.main(["assets", "install", "--names", "vbench,gpt5", "--cache_dir", str(tmp_path)])


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly():
    """`pav recipes list | head -1`: no BrokenPipeError traceback, the status a shell gives a killed writer."""
    writer = subprocess.Popen([sys.executable, "-c", "from prompt_a_video.cli import entry_point; entry_point()",
                               "recipes", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    writer.stdout.close()  # the reader is gone before the first line
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 141 and b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
