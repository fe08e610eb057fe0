"""Run a command (a typed function) from the command line.

A command is a function whose typed signature is its config: jsonargparse builds the
parser (``-c FILE``, dotted overrides, ``--print_config``, components by ``class_path``),
instantiates the components, and calls it. A function with a ``record`` parameter gets
the resolved config and the experiment files in it (a
:class:`~prompt_a_video.tracking.StageRun`), which its MLflow run records; ``record`` is
not a command-line option. :func:`command` makes a command from a library function and a
function that prints its result.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import Any

RECORD = "record"  # the parameter a command's StageRun is passed as


def command(library_function: Callable, report: Callable[[Any], None], *, output: str | None = None) -> Callable:
    """A command: ``library_function``'s signature and docs (its config), then ``report``
    prints what it returned. The library function does the work; the command only adds
    the printing and the output's lock, so the pipeline and Python users call the library
    function itself.

    Args:
        library_function: does the work; its typed signature is the command's config.
        report: prints the result.
        output: the argument naming the folder or file the command writes (``out``,
            ``workdir``): the command holds its lock while it runs, so a second command on
            the same output is refused at once (:mod:`prompt_a_video.output_lock`).
    """
    signature = inspect.signature(library_function)

    @functools.wraps(library_function)
    def run(*args, **kwargs):
        from prompt_a_video.output_lock import output_lock

        target = None
        if output is not None:
            bound = signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            target = bound.arguments.get(output)
        with output_lock(target, f"--{output}") if target else contextlib.nullcontext():
            result = library_function(*args, **kwargs)
        report(result)
        return result

    return run


def run_function_stage(name: str, function: Callable, args: list[str] | None):
    """Parse ``args`` for ``function``'s signature, instantiate components, call it."""
    import yaml
    from jsonargparse import ArgumentParser

    from prompt_a_video.commands.errors import parse_errors_exit
    from prompt_a_video.commands.yaml_paths import CONFIG_HELP, ExperimentFileAction, use_experiment_yaml

    # exit_on_error=False: a bad option raises, and parse_errors_exit makes it one line (exit 2)
    parser = ArgumentParser(prog=f"pav {name}", description=(function.__doc__ or "").split("\n\n")[0],
                            default_meta=False, exit_on_error=False, parser_mode=use_experiment_yaml())
    parser.add_argument("-c", "--config", action=ExperimentFileAction, help=CONFIG_HELP)
    takes_record = RECORD in inspect.signature(function).parameters
    parser.add_function_arguments(function, as_group=False, skip={RECORD} if takes_record else None)
    positional = getattr(function, "positional", None)
    if positional:  # `pav refine --model DIR "a dog running"`: bare words are more --<positional> values
        parser.add_argument("bare", nargs="*", type=str, default=[], metavar=positional.upper(),
                            help=f"values of --{positional} given without the option")
    args = _expand_flags(function, list(args or []))
    with parse_errors_exit(name, args):
        config = parser.parse_args(args)
    bare = config.pop("bare") if positional else []
    resolved = yaml.safe_load(parser.dump(config, skip_none=False, skip_validation=True))
    resolved.pop("config", None)
    files = [str(p) for p in (config.get("config") or []) if p is not None]
    init = parser.instantiate_classes(config)
    kwargs = {k: v for k, v in vars(init).items() if k != "config"}
    if takes_record:
        from prompt_a_video.tracking import StageRun

        kwargs[RECORD] = StageRun(resolved, files)
    if bare:
        given = kwargs.get(positional)
        kwargs[positional] = [*([] if given is None else [given] if isinstance(given, str) else given), *bare]
    return function(**kwargs)


def _expand_flags(function: Callable, args: list[str]) -> list[str]:
    """Command-line conveniences on top of jsonargparse: a boolean option given alone means
    true (``--json`` = ``--json true``), a function's ``short_options`` (e.g.
    ``{"-n": "--n"}``) are aliases, and its ``repeatable`` list options append when
    repeated (``--refiner a=x --refiner b=y`` = ``--refiner+ a=x --refiner+ b=y``)."""
    aliases = dict(getattr(function, "short_options", {}) or {})
    aliases.update({option: f"{option}+" for option in getattr(function, "repeatable", ())})
    booleans = {f"--{name}" for name, p in inspect.signature(function).parameters.items()
                if p.annotation in (bool, "bool")}
    out: list[str] = []
    for i, arg in enumerate(args):
        arg = aliases.get(arg, arg)
        out.append(arg)
        if arg in booleans and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append("true")
    return out
