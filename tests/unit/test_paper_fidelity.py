"""docs/paper-fidelity.md against the GPU recipes: every row has a verdict, and every
value the table states as ours (`` `FILE: key.path = value` ``) is the value in that YAML,
so a recipe edited without the table (or the table without the recipe) fails here."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "paper-fidelity.md"
CHECK = re.compile(r"`(experiments/[\w./-]+\.yaml): ([\w.]+) = ([^`]+)`")
VERDICT = re.compile(r"^(same|different: \S.*)$")


def rows() -> list[list[str]]:
    lines = [line for line in TABLE.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    header, body = lines[0], lines[2:]  # lines[1] is the |---| rule
    assert [c.strip() for c in header.strip("|").split("|")] == ["Setting", "Official (source)", "Ours", "Verdict"]
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in body]


def checks() -> list[tuple[str, str, str, str]]:
    return [(row[0], *match.groups()) for row in rows() for match in CHECK.finditer(row[2])]


def lookup(data, key: str):
    for part in key.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def test_every_row_has_a_source_and_a_verdict():
    table = rows()
    assert len(table) >= 40
    for setting, official, ours, verdict in table:
        assert official and ours, setting
        assert VERDICT.match(verdict), f"{setting}: verdict {verdict!r} is not 'same' or 'different: <reason>'"
    assert len(checks()) >= 25  # most rows are values of the recipes


@pytest.mark.parametrize("setting, file, key, value", checks(), ids=lambda v: v if "." not in v else None)
def test_the_recipe_holds_the_value_the_table_states(setting, file, key, value):
    config = yaml.safe_load((ROOT / file).read_text(encoding="utf-8"))
    assert lookup(config, key) == yaml.safe_load(value), f"{setting}: {file} {key}"
