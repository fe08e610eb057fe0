"""The shipped recipes: the experiment YAMLs of ``experiments/``, installed with the package.

``pip install prompt-a-video`` gives no checkout, so the wheel carries ``experiments/``
(every YAML and ``experiments/data/*``) as ``prompt_a_video/recipes/experiments/``
(pyproject.toml maps the folder there without moving it). That makes
``prompt_a_video/recipes/`` the recipes' root: the folder holding ``experiments/``, as a
checkout's root does, so the paths the YAMLs write from the root
(``experiments/data/seed_pairs.jsonl``) mean the same thing in both. In a checkout
(editable install) the root is the checkout itself and the recipes are its own
``experiments/``: what `pav recipes` lists is what the README and the tests name.

A recipe's name is its path under ``experiments/`` without ``.yaml``: ``quickstart``,
``sft/smollm2-cpu``, ``pipeline/cogvideox-5b``. ``pav pipeline -c quickstart`` takes one by
name when no file of that name exists (:func:`resolve_config_argument`, called by the
``-c`` action of every command); ``pav recipes cp`` copies one out to edit.

Standard library only: ``pav recipes list`` and the ``-c`` lookup must stay fast.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

#: The folder of the recipes below their root, in a checkout and in the installed package.
RECIPES_FOLDER = "experiments"
SUFFIX = ".yaml"

# A name as a user types it: path segments of letters, digits, `.`, `_`, `-` (none is `..`); no
# leading `/` or `./` (those name a file on purpose), nothing YAML text would hold.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")
_SIMILAR = 0.6  # difflib's cutoff for "did you mean": a typo, not another recipe


class UnknownRecipeError(FileNotFoundError):
    """A recipe name that no shipped recipe has; ``str()`` is the one line for the user."""


def recipes_root() -> Path | None:
    """The folder holding the shipped ``experiments/``: ``prompt_a_video/recipes/`` of an
    installed wheel, or the checkout of an editable install (None if neither has them,
    which only a broken install gives)."""
    here = Path(__file__).resolve().parent
    if (here / RECIPES_FOLDER).is_dir():
        return here
    checkout = here.parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / RECIPES_FOLDER).is_dir():
        return checkout
    return None


def recipes_dir() -> Path | None:
    """The shipped ``experiments/`` folder itself (see :func:`recipes_root`)."""
    root = recipes_root()
    return None if root is None else root / RECIPES_FOLDER


def recipe_names() -> list[str]:
    """Every shipped recipe's name, sorted (``cpu-full``, ..., ``sft/smollm2-cpu``)."""
    folder = recipes_dir()
    if folder is None:
        return []
    return sorted(path.relative_to(folder).with_suffix("").as_posix() for path in folder.rglob(f"*{SUFFIX}"))


def normalize_name(value: str) -> str | None:
    """The recipe name that ``value`` would mean: ``quickstart``, ``quickstart.yaml`` and
    ``experiments/quickstart.yaml`` (the form of the README's commands) all give
    ``quickstart``. None when ``value`` cannot be a name (an absolute path, ``./x.yaml``,
    YAML text): then it is only ever a file."""
    if not _NAME.fullmatch(value):
        return None
    name = value.removesuffix(SUFFIX)
    return name.removeprefix(f"{RECIPES_FOLDER}/") or None


def find_recipe(name: str) -> Path | None:
    """The shipped file of recipe ``name`` (any form :func:`normalize_name` takes), or None."""
    folder, normalized = recipes_dir(), normalize_name(name)
    if folder is None or normalized is None:
        return None
    path = folder / f"{normalized}{SUFFIX}"
    return path if path.is_file() else None


def require_recipe(name: str) -> Path:
    """:func:`find_recipe`, or :class:`UnknownRecipeError` naming ``name`` and where to look."""
    path = find_recipe(name)
    if path is None:
        raise UnknownRecipeError(f"no shipped recipe named {name!r}{did_you_mean(name)}; "
                                 "`pav recipes list` shows them")
    return path


def did_you_mean(name: str) -> str:
    """`` (did you mean quickstart?)`` for the closest recipe name, or ``""``."""
    normalized = normalize_name(name) or name
    close = difflib.get_close_matches(normalized, recipe_names(), n=1, cutoff=_SIMILAR)
    return f" (did you mean {close[0]}?)" if close else ""


def resolve_config_argument(value: str, cwd: Path) -> str | None:
    """What a ``-c VALUE`` that is not an existing file reads: the shipped recipe of that
    name, written as the path a run from the project root would give
    (``experiments/quickstart.yaml``) when that is the same file, so what such a run
    records is unchanged, else as an absolute path.

    None when ``value`` cannot be a name (YAML text, an absolute path: jsonargparse's own
    handling and messages); :class:`UnknownRecipeError` when it can but no recipe has it.
    """
    name = normalize_name(value)
    if name is None:
        return None
    path = find_recipe(name)
    if path is None:
        raise UnknownRecipeError(f"-c {value}: file not found, and no shipped recipe is named {name!r}"
                                 f"{did_you_mean(name)}; `pav recipes list` shows them")
    as_written = f"{RECIPES_FOLDER}/{name}{SUFFIX}"
    if (cwd / as_written).is_file() and os.path.samefile(cwd / as_written, path):
        return as_written
    return str(path)


def copy_recipe(name: str, dest: str | os.PathLike[str], force: bool = False) -> Path:
    """Copy recipe ``name`` to ``dest`` (a file, or a folder: then ``dest/<name's file>``);
    returns the file written.

    An existing file is kept unless ``force``: a recipe one has edited is not lost to a
    second copy. The copy is written beside its target and renamed over it, so an
    interrupted copy never leaves half a YAML (nor destroys the old one).
    """
    source = require_recipe(name)
    target = Path(dest)
    if target.is_dir() or str(dest).endswith(("/", os.sep)):
        target = target / source.name
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder; name the file to write")
    if target.exists() and os.path.samefile(target, source):
        raise FileExistsError(f"{target} is the shipped recipe {normalize_name(name)} itself")
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; add --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")  # open(): the user's umask, not 0600
    try:
        temporary.write_bytes(source.read_bytes())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
