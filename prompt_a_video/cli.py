"""`pav`: the one command of the project.

Two kinds of subcommands, configured the same way (jsonargparse: ``-c FILE``, dotted
overrides such as ``--trainer.max_epochs 2``, ``--print_config``):

- Lightning stages ``fit``, ``validate``, ``test``, ``predict``: a LightningCLI whose model
  and data module are chosen by ``class_path`` in an experiment YAML.
- Pipeline stages (``assets``, ``render``, ``evolve``, ``pairs``, ``export``, ``evaluate``,
  ``refine``, ``pipeline``, ``cache``): plain functions registered in :data:`STAGES` by import path.

A user's mistake (a bad option, a missing or malformed file) ends a command with one line
on stderr and exit status 2; ``--debug`` (or ``PAV_DEBUG=1``) shows the traceback instead
(:mod:`prompt_a_video.commands.errors`). Relative paths inside a ``-c`` YAML are looked up
next to it, then in its project root (:mod:`prompt_a_video.commands.yaml_paths`).

This module imports nothing heavy: ``pav --help`` must answer in well under 1.5 s, so the
target of a subcommand is imported only once that subcommand is chosen.
"""

from __future__ import annotations

import sys
from importlib import import_module

from prompt_a_video.commands.errors import parse_errors_exit, run_command, split_debug_flag  # standard library only

LIGHTNING_COMMANDS: dict[str, str] = {
    "fit": "train a model (SFT, DPO) from an experiment YAML",
    "validate": "run the validation loop of a model (e.g. from a checkpoint)",
    "test": "run the test loop of a model",
    "predict": "run the predict loop of a model",
}

# name -> ("module:attribute" of a function, a list or a dict of functions, one-line help).
# A new stage is one line here plus its module; the help text costs no import.
STAGES: dict[str, tuple[str, str]] = {
    "assets": ("prompt_a_video.commands.assets:COMMANDS",
               "install and list the offline assets (SmolLM2, all-MiniLM-L6-v2, VBench)"),
    "render": ("prompt_a_video.commands.render:render",
               "render a prompt set with one backbone, score it with one reward set (MP4s + scores.jsonl)"),
    "evolve": ("prompt_a_video.commands.evolve:evolve",
               "reward-guided prompt evolution: render, score, rewrite K times -> an evolved pool"),
    "pairs": ("prompt_a_video.commands.pairs:pairs",
              "sample rewrites from the SFT refiner, render and score them, write DPO preference pairs"),
    "export": ("prompt_a_video.commands.export:export",
               "export a trained refiner checkpoint: PEFT adapter + merged HF model with its chat template"),
    "evaluate": ("prompt_a_video.commands.evaluate:evaluate",
                 "compare original, heuristic, zero-shot, sft, dpo prompts: same seeds, metrics.json + report.html"),
    "pipeline": ("prompt_a_video.commands.pipeline:pipeline",
                 "the whole method from one YAML: evolve, SFT, pairs, DPO rounds, evaluate (resumable)"),
    "cache": ("prompt_a_video.commands.cache:COMMANDS",
              "show and prune the render-and-score cache (LRU-bounded videos, scores kept)"),
    "refine": ("prompt_a_video.commands.refine:refine",
               "rewrite prompts with a trained refiner (export folder): prints refined prompts"),
    "serve": ("prompt_a_video.commands.serve:serve", "OpenAI-compatible HTTP server for a trained refiner (batched)"),
    "recipes": ("prompt_a_video.commands.recipes:recipes", "the shipped experiment YAMLs: list, cp NAME DEST"),
}


def _usage() -> str:
    from prompt_a_video import __version__

    width = max(map(len, [*LIGHTNING_COMMANDS, *STAGES]))
    lines = [
        f"pav {__version__}: train LLM prompt refiners for text-to-video models (Prompt-A-Video).",
        "",
        "usage: pav <command> [-c CONFIG.yaml] [--dotted.key VALUE ...]",
        "",
        "Lightning stages (experiment YAMLs under experiments/, models chosen by class_path):",
        *(f"  {name:<{width}}  {text}" for name, text in LIGHTNING_COMMANDS.items()),
        "",
        "Pipeline stages:",
        *(f"  {name:<{width}}  {text}" for name, (_, text) in STAGES.items()),
        "",
        "Every command takes -c/--config FILE (repeatable), dotted overrides and --print_config;",
        "`pav <command> --help` lists its options. Runs are tracked in MLflow: sqlite:///mlruns.db",
        "in the working directory unless MLFLOW_TRACKING_URI says otherwise. A mistake in the",
        "options or files is one line on stderr (exit 2); --debug shows the traceback.",
        "",
        "example: pav fit -c experiments/sft/smollm2-cpu.yaml --trainer.max_steps 20",
    ]
    return "\n".join(lines)


def run_stage(name: str, args: list[str]):
    """Import a pipeline stage's target and run it through jsonargparse."""
    target, _ = STAGES[name]
    module_name, attribute = target.split(":")
    components = getattr(import_module(module_name), attribute)
    if callable(components):  # one function: its signature is the stage's config
        from prompt_a_video.commands.runner import run_function_stage

        return run_function_stage(name, components, args)
    from jsonargparse import auto_cli  # a dict of functions: sub-subcommands (pav assets install)

    with parse_errors_exit(name, args):
        return auto_cli(components, args=args, prog=f"pav {name}", as_positional=False, exit_on_error=False)


def _run_lightning_command(command: str, argv: list[str]):
    from prompt_a_video.lightning_cli import run_lightning

    with parse_errors_exit(command, argv):
        # explicit args even from the console: sys.argv may hold --debug, which is ours
        return run_lightning(argv)


def run_stopping_on_signals(command: str, call, debug: bool) -> int:
    """:func:`run_command`, where SIGTERM or SIGINT ends the command with one line and the
    signal's status (143, 130), after the command closed its MLflow run as KILLED."""
    from prompt_a_video.commands.errors import report
    from prompt_a_video.interrupts import Interrupted, raise_on_signals

    import gc

    try:
        with raise_on_signals():
            return run_command(command, call, debug=debug)
    except Interrupted as stop:
        line, status = stopped_line(command, stop), stop.exit_status
    # The stopped frames are gone now; collecting them closes the progress bars they held,
    # which print their last state to stderr: our line must come after, as the last one.
    gc.collect()
    report(command, line)
    return status


def stopped_line(command: str, stop) -> str:
    """What a stopped command tells its user: where it stopped and how to continue."""
    if stop.checkpoint and command == "fit":
        return (f"stopped by {stop.signal_name} at step {stop.step}; checkpoint saved to {stop.checkpoint}: "
                f"continue with the same command and --ckpt_path {stop.checkpoint}")
    if stop.checkpoint:
        return (f"stopped by {stop.signal_name} at step {stop.step} (checkpoint {stop.checkpoint}); "
                "rerun the same command to resume")
    if command in LIGHTNING_COMMANDS:
        return f"stopped by {stop.signal_name} before a training step ended; nothing to resume"
    return f"stopped by {stop.signal_name}; what was written is kept: rerun the same command to resume"


def main(argv: list[str] | None = None) -> int:
    """Run ``pav ARGV``; returns the exit status (2: a user error, reported in one line)."""
    argv, debug = split_debug_flag(list(sys.argv[1:] if argv is None else argv))
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from prompt_a_video import __version__

        print(f"pav {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command in LIGHTNING_COMMANDS:
        return run_stopping_on_signals(command, lambda: _run_lightning_command(command, argv), debug)
    if command in STAGES:
        return run_stopping_on_signals(command, lambda: run_stage(command, rest), debug)
    known = ", ".join([*LIGHTNING_COMMANDS, *STAGES])
    print(f"pav: unknown command {command!r}; choose one of: {known} (pav --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())


def entry_point() -> None:
    """Console-script entry: exit with :func:`main`'s status.

    A reader that closes the pipe early (``pav refine ... | head -3``) ends the command
    quietly, as Unix tools do, instead of with a BrokenPipeError traceback.
    """
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        # Python flushes stdout again at exit; point it at devnull so that flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a killed writer
    sys.exit(status)
