"""Every experiment YAML starts with the exact command that runs it, and parses with it."""

import shlex
from pathlib import Path

import pytest

from prompt_a_video import cli

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").rglob("*.yaml"))


def test_there_are_experiments():
    assert EXPERIMENTS


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: str(p.relative_to(ROOT / "experiments")))
def test_experiment_header_command_parses_the_file(path, monkeypatch, capsys):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# pav "), f"{path}: first line must be '# pav <command> -c {path.relative_to(ROOT)}'"
    argv = shlex.split(first[2:])[1:]
    # A YAML that only holds what differs is stacked on its base: `-c base.yaml -c this.yaml`.
    configs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-c"]
    assert str(path.relative_to(ROOT)) in configs, f"{path}: header names other files {configs}"
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as stop:
        cli.main([*argv, "--print_config"])
    assert stop.value.code in (0, None), capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "class_path" in printed or printed.strip()
