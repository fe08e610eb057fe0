"""Which files a ``-c`` value and the relative paths written inside an experiment YAML name.

A ``-c VALUE`` (every command, Lightning ones included) is the file ``VALUE`` when one
exists; else, when ``VALUE`` can be a recipe's name (``quickstart``, ``sft/smollm2-cpu``,
also ``experiments/quickstart.yaml``), the shipped recipe of that name
(:mod:`prompt_a_video.recipes`; an unknown name is a one-line error pointing at
``pav recipes list``); else jsonargparse reads it as YAML text. So a real file always wins,
and ``pav pipeline -c quickstart`` runs where no ``experiments/`` folder exists.

The rule for the files a YAML names: a relative path under one of the :data:`FILE_KEYS`
is looked up

1. in the YAML's own folder, then
2. in the YAML's project root: the nearest folder at or above the YAML's that holds a
   ``pyproject.toml`` or an ``experiments/`` folder, then
3. in the shipped recipes' root (the folder holding the installed ``experiments/``:
   ``prompt_a_video/recipes/`` in an installed package, the checkout in an editable
   install), unless the working directory holds the path itself,

and the first place where it exists wins. A value found in none of them is left as
written, so it means what it would mean on the command line (relative to the working
directory): named sets (``pav:eval``, ``vbench``), asset names (``smollm2-135m-instruct``),
hub ids (``Qwen/Qwen2.5-7B-Instruct``), files not made yet and files of the working
directory stay what they are, and the reader that opens one names the path it could not
find.

Why these places: a YAML kept anywhere names its neighbours (``../data/pairs.jsonl``),
the rule of jsonargparse's own path types and of most tools that read config files; the
shipped YAMLs name files from the project root (``experiments/data/seed_pairs.jsonl``),
where the commands in their headers run. The two never compete, as a path written from the
root does not exist again below the YAML (no ``experiments/sft/experiments/``). So
``pav pipeline -c /abs/path/experiments/quickstart.yaml`` works from any directory. The
third place serves a recipe copied out of the package (``pav recipes cp quickstart
my.yaml``): it names the other shipped files from the root (``experiments/sft/...``), and
its own folder and project root hold no such files, so it runs from any folder too. It
comes last, and after the working directory, so that it only finds what would otherwise
be missing: no file that a run read before is read from elsewhere now.

When the file found is the one the value already names from the working directory (a run
from the project root), the value is kept as written: what such a run records (its MLflow
config, the pipeline's stage keys) stays exactly what it was before this rule.

Not YAML file references: paths given on the command line (``--prompts FILE``) and output
paths anywhere (``out``, ``workdir``, ``default_root_dir``, ``cache_root``); like any
command-line path they are relative to the working directory.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from jsonargparse import ActionConfigFile, get_loader, set_loader

from prompt_a_video.recipes import recipes_root, resolve_config_argument

#: The jsonargparse ``parser_mode`` whose loader applies the rule to each ``-c`` file.
LOADER_MODE = "pav-yaml"

#: The help of every command's ``-c`` (runner.py, lightning_cli.py).
CONFIG_HELP = ("experiment YAML, or a shipped recipe's name (`pav recipes list`); repeatable. Its relative "
               "paths are looked up next to it, in its project root, then in the shipped recipes")

#: Keys whose string values (or lists of them) name files or folders that a command reads.
FILE_KEYS = frozenset({
    "config",  # a pipeline section's fit YAML(s)
    "prompts", "source_prompts",  # prompt sets (.txt, .jsonl)
    "pools", "pairs",  # the fit YAMLs' training data (a pipeline's `pairs:` section is a dict: walked)
    "model", "refiner", "sft_adapter", "ckpt_path", "zero_shot_model", "fidelity_model",
    "text_fluency_model", "target_tokenizer",  # models: a folder, or an asset name / hub id (left)
    "head", "checkpoint",  # reward model weights
})
#: Keys whose value maps names to files (``prompt_sets: {in-domain: my.txt}``).
NAMED_FILE_KEYS = frozenset({"prompt_sets"})


class ExperimentYAMLError(yaml.YAMLError):
    """A ``-c`` file that is not valid YAML; ``str()`` is ``FILE:LINE: problem``."""

    def __init__(self, shown: str, error: yaml.YAMLError, content: str = ""):
        from prompt_a_video.commands.errors import yaml_context

        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        line = mark.line + 1 if mark is not None else _reader_error_line(error, content)
        where = f"{shown}:{line}" if line is not None else shown
        super().__init__(f"{where}: not valid YAML: {problem}{yaml_context(error)}")


def _reader_error_line(error: yaml.YAMLError, content: str) -> int | None:
    """The line of a character the YAML reader refused (a control character): its error
    has a position in the text, not a line."""
    position = getattr(error, "position", None)
    if not isinstance(position, int) or not content:
        return None
    return content.count("\n", 0, position) + 1


class _Reading(NamedTuple):
    file: Path  # the YAML, absolute
    shown: str  # the YAML as the user named it, for messages
    cwd: Path  # the working directory of the command


_READING: ContextVar[_Reading | None] = ContextVar("pav_yaml_reading", default=None)


class ExperimentFileAction(ActionConfigFile):
    """``-c/--config FILE``: jsonargparse's config file action, taking a shipped recipe's
    name where no file ``FILE`` exists, and telling the loader which file it reads so that
    the file's relative paths follow the rule above."""

    def __call__(self, parser, cfg, values, option_string=None):
        given = str(values)
        if not os.path.isfile(given):  # a recipe's name, else YAML text (`-c '{...}'`): jsonargparse's handling
            given = resolve_config_argument(given, Path.cwd())  # raises for a name no recipe has
            if given is None:
                return super().__call__(parser, cfg, values, option_string)
            values = given
        token = _READING.set(_Reading(Path(given).absolute(), given, Path.cwd()))
        try:
            return super().__call__(parser, cfg, values, option_string)
        finally:
            _READING.reset(token)


def use_experiment_yaml() -> str:
    """Register the loader (idempotent); returns the ``parser_mode`` to give a parser."""
    set_loader(LOADER_MODE, load_experiment_yaml, exceptions=(yaml.YAMLError,))
    return LOADER_MODE


def load_experiment_yaml(content: str, path: str = "") -> Any:
    """jsonargparse's YAML loader, plus the rule when ``content`` is a whole ``-c`` file.

    jsonargparse calls its loader for every value, and passes ``path`` (the file's base
    name) only when it loads a config file.
    """
    reading = _READING.get()
    whole_file = bool(path) and reading is not None and Path(path).name == reading.file.name
    try:
        data = get_loader("yaml")(content)
    except yaml.YAMLError as exc:
        if whole_file:
            raise ExperimentYAMLError(reading.shown, exc, content) from exc
        raise
    if whole_file and isinstance(data, dict):
        data = resolve_file_references(data, reading.file, reading.cwd)
    return data


def resolve_file_references(data: Any, yaml_file: Path, cwd: Path, key: str | None = None) -> Any:
    """``data`` (a loaded YAML) with the relative paths under :data:`FILE_KEYS` resolved."""
    if isinstance(data, dict):
        if key in NAMED_FILE_KEYS:
            return {name: resolve_file_references(v, yaml_file, cwd, "prompts") for name, v in data.items()}
        return {k: resolve_file_references(v, yaml_file, cwd, k) for k, v in data.items()}
    if isinstance(data, list):
        return [resolve_file_references(v, yaml_file, cwd, key) for v in data]
    if isinstance(data, str) and key in FILE_KEYS:
        return resolve_path(data, yaml_file, cwd)
    return data


def resolve_path(value: str, yaml_file: Path, cwd: Path) -> str:
    """One relative path of a YAML, by the rule of this module."""
    if not value or value.startswith("~") or os.path.isabs(value):
        return value
    for base in (yaml_file.parent, project_root(yaml_file)):
        if base is None:
            continue
        found = os.path.normpath(base / value)
        if os.path.exists(found):
            as_written = cwd / value
            if as_written.exists() and os.path.samefile(found, as_written):
                return value
            return found
    if (cwd / value).exists():  # the working directory's own file: as written, as before the third place
        return value
    shipped = recipes_root()
    if shipped is not None:
        found = os.path.normpath(shipped / value)
        if os.path.exists(found):
            return found
    return value


def project_root(yaml_file: Path) -> Path | None:
    """The nearest folder at or above ``yaml_file``'s that holds a pyproject.toml or experiments/."""
    for folder in (yaml_file.parent, *yaml_file.parent.parents):
        if (folder / "pyproject.toml").is_file() or (folder / "experiments").is_dir():
            return folder
    return None
