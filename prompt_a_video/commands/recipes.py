"""`pav recipes`: the experiment YAMLs shipped with the package, listed and copied out.

An installed package has no checkout, so no ``experiments/`` folder; the recipes travel
inside it (:mod:`prompt_a_video.recipes`). ``pav recipes list`` shows each one's name,
what it does and the command that runs it; ``pav recipes cp NAME DEST`` copies one out to
edit (``-c NAME`` runs one unedited). Light at import: the standard library only.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from prompt_a_video.recipes import copy_recipe, find_recipe, normalize_name, recipe_names, recipes_dir
from prompt_a_video.recipes.header import read_header, runnable_command


def list_recipes() -> None:
    """Show every shipped recipe: its name, what it does, and the command that runs it.

    The description is the first clause of the header comment of the recipe's YAML; the
    command is the header's, with each ``-c experiments/NAME.yaml`` written as ``-c NAME``,
    which runs the shipped recipe from any directory.
    """
    folder = recipes_dir()
    if folder is None:
        raise SystemExit("pav recipes: this installation has no recipes (prompt_a_video/recipes/experiments "
                         "is missing): reinstall the package")
    names = recipe_names()
    width = max(map(len, names), default=0)
    cwd = Path.cwd()
    print(f"recipes: {folder}  (`pav recipes cp NAME DEST` copies one out to edit)")
    for name in names:
        header = read_header(folder / f"{name}.yaml")
        facts = "".join(f" [{key}: {value}]" for key, value in header.facts.items() if key == "gpu-hours")
        print(f"  {name:<{width}}  {header.description}{facts}")
        if header.command:
            print(f"  {'':<{width}}  {runnable_command(header.command, cwd)}")


def cp(name: str, dest: str, force: bool = False) -> None:
    """Copy a shipped recipe to DEST, to edit it; prints the command that runs the copy.

    The copy names the other shipped files as the recipe does (``experiments/data/...``,
    ``experiments/sft/...``); those are looked up in the shipped recipes wherever the copy
    lives, so it runs from any directory.

    Args:
        name: the recipe, as `pav recipes list` names it (``quickstart``, ``sft/smollm2-cpu``).
        dest: the file to write, or a folder to write ``<recipe>.yaml`` into.
        force: overwrite DEST if it exists (else an existing DEST is an error).
    """
    written = copy_recipe(name, dest, force=force)
    print(f"{normalize_name(name)} -> {written}")
    command = read_header(find_recipe(name)).command
    if command:
        run = runnable_command(command, Path.cwd(), own_name=normalize_name(name), own_file=str(written))
        print(f"run it with: {run}")


def recipes(words: list[str] | None = None, force: bool = False) -> None:
    """The recipes shipped with the package: `pav recipes list` shows them (name, what it
    does, the command that runs it); `pav recipes cp NAME DEST [--force]` copies one out.

    One function taking bare words, not a dict of sub-commands: jsonargparse's
    sub-commands of `pav` take no positional arguments and no bare ``--force``, and
    ``cp NAME DEST`` is the form of torchtune's `tune cp` that users know.

    Args:
        words: ``list``, or ``cp NAME DEST`` (NAME as `pav recipes list` names it; DEST a
            file, or a folder to write ``<recipe>.yaml`` into).
        force: with ``cp``: overwrite DEST if it exists (else an existing DEST is an error).
    """
    action, *rest = words or ["list"]
    if action in ("list", "ls") and not rest:
        return list_recipes()
    if action == "cp" and len(rest) == 2:
        return cp(*rest, force=force)
    raise SystemExit(f"pav recipes: expected `list` or `cp NAME DEST [--force]`, got {shlex.join(words or [])!r}")


# `pav recipes cp quickstart my.yaml --force` (see commands/runner.py).
recipes.positional = "words"
