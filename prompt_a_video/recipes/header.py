"""What a recipe says about itself: the header comment of its YAML.

Every experiment YAML opens with the exact command that runs it from a checkout's root
(``# pav pipeline -c experiments/quickstart.yaml --workdir runs/quickstart``, checked by
tests/unit/test_experiments.py), then optional ``# key: value`` lines (``gpu-hours``,
``render-cost``), then paragraphs of prose. `pav recipes list` shows the first clause of
the first paragraph, and the command rewritten to run from any directory: the header
itself is the one place a recipe is described, so the listing cannot drift from it.

Standard library only, like :mod:`prompt_a_video.recipes`.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from prompt_a_video.recipes import RECIPES_FOLDER, find_recipe, normalize_name, recipes_root

#: Longest description `pav recipes list` prints; a longer first clause is cut at a word.
MAX_DESCRIPTION = 110
# `# gpu-hours: 324 (1x A100-80GB)`: a fact about the recipe, not prose.
_FACT = re.compile(r"([a-z][a-z0-9-]*):\s+(.+)")
# A clause shorter than this ("GPU recipe:") says too little alone: the next one is added.
_SHORT_CLAUSE = 20
_CONFIG_OPTIONS = ("-c", "--config")


@dataclass(frozen=True)
class RecipeHeader:
    """A recipe's header: ``command`` as written (from a checkout's root), its ``facts``
    (``{"gpu-hours": "324 (1x A100-80GB)"}``) and its prose paragraphs, each one line."""

    command: str | None
    facts: dict[str, str]
    paragraphs: list[str]

    @property
    def description(self) -> str:
        """The first clause of the first paragraph that is not an aside in parentheses,
        without its own asides (one line, at most :data:`MAX_DESCRIPTION` characters)."""
        text = next((p for p in self.paragraphs if not (p.startswith("(") and p.endswith(")"))), "")
        return shorten(first_clause(drop_asides(text)))


def read_header(path: Path) -> RecipeHeader:
    """The header comment of the YAML at ``path`` (its leading ``#`` lines)."""
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    command = lines[0] if lines and lines[0].startswith("pav ") else None
    rest = lines[1:] if command else lines
    facts: dict[str, str] = {}
    while rest and _FACT.fullmatch(rest[0]):
        key, value = _FACT.fullmatch(rest[0]).groups()
        facts[key] = value
        rest = rest[1:]
    paragraphs, current = [], []
    for line in [*rest, ""]:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    return RecipeHeader(command, facts, paragraphs)


def drop_asides(text: str) -> str:
    """``text`` without its parenthesised asides (nested ones too): a summary keeps the
    sentence, not its references (``(docs/results.md)``)."""
    out, depth = [], 0
    for char in text:
        depth += char == "("
        if depth == 0:
            out.append(char)
        depth -= char == ")" and depth > 0
    return re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s{2,}", " ", "".join(out))).strip()


def first_clause(text: str) -> str:
    """``text`` up to its first sentence end or colon (the next one too, when the first
    clause is a bare label such as ``GPU recipe:``), without the final period."""
    ends = [m.start() for m in re.finditer(r"[.:](\s|$)", text)]
    for end in ends:
        if end >= _SHORT_CLAUSE:
            return text[:end].strip()
    return text.rstrip(".").strip()


def shorten(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """``text`` cut at a word to at most ``limit`` characters, ``...`` marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 3].rsplit(" ", 1)[0].rstrip(",;: ")
    return f"{cut}..."


def runnable_command(command: str, cwd: Path, *, own_name: str | None = None, own_file: str | None = None) -> str:
    """A header's command, to run from ``cwd``: each ``-c experiments/X.yaml`` becomes
    ``-c X`` (the shipped recipe, found from any directory), or ``-c own_file`` for the
    recipe ``own_name`` when a copy of it is what should run; any other argument that names
    a shipped file (``--prompts experiments/data/smoke_prompts.txt``) is written as the
    path that reaches it from ``cwd``: as in the header when ``cwd`` holds the same file
    (a checkout's root), else absolute."""
    words = shlex.split(command)
    out: list[str] = []
    for i, word in enumerate(words):
        after_config = i > 0 and words[i - 1] in _CONFIG_OPTIONS
        if after_config and find_recipe(word) is not None:
            name = normalize_name(word)
            out.append(own_file if own_file is not None and name == own_name else name)
        elif not word.startswith("-") and word.startswith(f"{RECIPES_FOLDER}/"):
            out.append(_reachable(word, cwd))
        else:
            out.append(word)
    return shlex.join(out)


def _reachable(value: str, cwd: Path) -> str:
    root = recipes_root()
    shipped = None if root is None else root / value
    if shipped is None or not shipped.exists():
        return value
    here = cwd / value
    if here.exists() and os.path.samefile(here, shipped):
        return value
    return str(shipped)
