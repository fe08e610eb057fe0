"""The shipped recipes: `pav recipes list` / `cp`, `-c NAME`, and copies that run from anywhere.

In a checkout the shipped recipes are the checkout's own experiments/ (what an editable
install gives); tests/integration/test_recipes_wheel.py runs the same commands on a built
wheel, where they live in prompt_a_video/recipes/experiments/.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prompt_a_video import cli
from prompt_a_video.recipes import recipe_names, recipes_dir, recipes_root, resolve_config_argument
from prompt_a_video.recipes.header import MAX_DESCRIPTION, drop_asides, first_clause, read_header

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
NAMES = sorted(p.relative_to(EXPERIMENTS).with_suffix("").as_posix() for p in EXPERIMENTS.rglob("*.yaml"))


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory outside the checkout, as an installed package's user has."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def run(capsys, *argv) -> tuple[int, str, str]:
    """``pav ARGV``: its exit status (a parse error or --print_config exits), stdout, stderr."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as stop:
        status = 0 if stop.code is None else stop.code
    out, err = capsys.readouterr()
    return status, out, err


def printed_config(capsys, *argv) -> dict:
    status, out, err = run(capsys, *argv, "--print_config")
    assert status == 0, err
    return yaml.safe_load(out)


# --- where the recipes are ----------------------------------------------------------------

def test_a_checkout_ships_its_own_experiments_folder():
    assert recipes_root() == ROOT
    assert recipes_dir() == EXPERIMENTS
    assert recipe_names() == NAMES and "quickstart" in NAMES and "sft/smollm2-cpu" in NAMES


def test_list_shows_every_experiment_yaml_with_its_description_and_a_command(capsys, elsewhere):
    status, out, err = run(capsys, "recipes", "list")
    assert status == 0, err
    lines = out.splitlines()
    assert str(EXPERIMENTS) in lines[0]
    for name in NAMES:
        row = next((i for i, line in enumerate(lines) if line.split()[:1] == [name]), None)
        assert row is not None, f"{name} not listed:\n{out}"
        description = read_header(EXPERIMENTS / f"{name}.yaml").description
        assert description and len(description) <= MAX_DESCRIPTION and description in lines[row]
        command = lines[row + 1].split()
        assert command[0] == "pav" and name in command, lines[row + 1]
    assert "pav pipeline -c quickstart --workdir runs/quickstart" in out
    assert "pav pipeline -c pipeline/paper-base -c pipeline/cogvideox-5b --workdir runs/cogvideox-5b" in out
    # a file named on the command line is made reachable from the working directory
    assert f"--prompts {EXPERIMENTS / 'data/smoke_prompts.txt'}" in out


def test_listed_command_of_a_checkout_root_keeps_the_headers_paths(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    status, out, _ = run(capsys, "recipes")  # `list` is the default
    assert status == 0
    assert "--prompts experiments/data/smoke_prompts.txt" in out


def test_description_is_the_first_clause_without_asides():
    assert drop_asides("The quickstart at a larger size (docs/results.md), still offline (2 (two) cores).") \
        == "The quickstart at a larger size, still offline."
    assert first_clause("GPU recipe: CogVideoX-5B scored by the rewards. More.") \
        == "GPU recipe: CogVideoX-5B scored by the rewards"
    assert first_clause("The whole method, small, offline, on CPU: the synthetic backbone") \
        == "The whole method, small, offline, on CPU"
    quickstart = read_header(EXPERIMENTS / "quickstart.yaml")
    assert quickstart.description == "The whole method, small, offline, on CPU"  # the "(about 9.5 min...)" aside skipped
    assert read_header(EXPERIMENTS / "pipeline/cogvideox-5b.yaml").facts["gpu-hours"].startswith("324")


# --- pav recipes cp -----------------------------------------------------------------------

def test_cp_writes_the_recipe_and_refuses_to_overwrite_it(capsys, elsewhere):
    status, out, err = run(capsys, "recipes", "cp", "quickstart", "my.yaml")
    assert status == 0, err
    copy = elsewhere / "my.yaml"
    assert copy.read_bytes() == (EXPERIMENTS / "quickstart.yaml").read_bytes()
    assert "run it with: pav pipeline -c my.yaml --workdir runs/quickstart" in out

    copy.write_text("# edited\n")
    status, _, err = run(capsys, "recipes", "cp", "quickstart", "my.yaml")
    assert status == 2
    assert err.strip().splitlines() == ["pav recipes: my.yaml exists; add --force to overwrite it"]
    assert copy.read_text() == "# edited\n"

    status, _, err = run(capsys, "recipes", "cp", "quickstart", "my.yaml", "--force")
    assert status == 0, err
    assert copy.read_bytes() == (EXPERIMENTS / "quickstart.yaml").read_bytes()
    assert [p.name for p in elsewhere.iterdir()] == ["my.yaml"]  # no temporary file left


def test_cp_into_a_folder_keeps_the_file_name(capsys, elsewhere):
    (elsewhere / "mine").mkdir()
    status, out, err = run(capsys, "recipes", "cp", "sft/smollm2-cpu", "mine")
    assert status == 0, err
    assert (elsewhere / "mine/smollm2-cpu.yaml").read_bytes() == (EXPERIMENTS / "sft/smollm2-cpu.yaml").read_bytes()
    assert "pav fit -c mine/smollm2-cpu.yaml" in out
    status, _, err = run(capsys, "recipes", "cp", "pipeline/cogvideox-5b", "new/")  # a folder to make
    assert status == 0, err
    assert (elsewhere / "new/cogvideox-5b.yaml").is_file()


def test_cp_of_an_unknown_recipe_names_it_and_the_list(capsys, elsewhere):
    status, _, err = run(capsys, "recipes", "cp", "quickstat", "my.yaml")
    assert status == 2
    assert err.strip().splitlines() == [
        "pav recipes: no shipped recipe named 'quickstat' (did you mean quickstart?); `pav recipes list` shows them"]
    assert not (elsewhere / "my.yaml").exists()


def test_recipes_without_list_or_cp_is_one_line(capsys, elsewhere):
    status, _, err = run(capsys, "recipes", "cp", "quickstart")
    assert status == 2
    assert err.strip().splitlines() == [
        "pav recipes: expected `list` or `cp NAME DEST [--force]`, got 'cp quickstart'"]


# --- -c NAME ------------------------------------------------------------------------------

def test_config_argument_names_a_shipped_recipe(elsewhere):
    shipped = str(EXPERIMENTS / "quickstart.yaml")
    assert resolve_config_argument("quickstart", elsewhere) == shipped
    assert resolve_config_argument("quickstart.yaml", elsewhere) == shipped
    assert resolve_config_argument("experiments/quickstart.yaml", elsewhere) == shipped  # the README's form
    # from a checkout's root: the path such a run always recorded
    assert resolve_config_argument("quickstart", ROOT) == "experiments/quickstart.yaml"
    for not_a_name in ("{trainer: {max_steps: 2}}", "/no/such/file.yaml", "./quickstart.yaml", "../x"):
        assert resolve_config_argument(not_a_name, elsewhere) is None


def test_pipeline_and_fit_take_a_recipe_by_name(capsys, elsewhere):
    config = printed_config(capsys, "pipeline", "-c", "quickstart", "--workdir", "runs/q")
    assert config["workdir"] == "runs/q"
    assert config["sft"]["config"] == str(EXPERIMENTS / "sft/smollm2-cpu.yaml")
    config = printed_config(capsys, "fit", "-c", "sft/smollm2-cpu")
    assert config["data"]["init_args"]["pools"] == [str(EXPERIMENTS / "data/seed_sft_pairs.json")]


def test_a_real_file_wins_over_a_recipe_of_that_name(capsys, elsewhere):
    text = (EXPERIMENTS / "quickstart.yaml").read_text().replace("  limit: 48\n", "  limit: 7\n")
    assert "limit: 7" in text
    (elsewhere / "quickstart").write_text(text)
    config = printed_config(capsys, "pipeline", "-c", "quickstart", "--workdir", "w")
    assert config["evolve"]["limit"] == 7


def test_an_unknown_name_is_one_line_naming_it_and_the_list(capsys, elsewhere):
    status, _, err = run(capsys, "pipeline", "-c", "quickstat", "--workdir", "w", "--print_config")
    assert status == 2
    assert err.strip().splitlines() == [
        "pav pipeline: -c quickstat: file not found, and no shipped recipe is named 'quickstat' (did you mean "
        "quickstart?); `pav recipes list` shows them"]
    status, _, err = run(capsys, "fit", "-c", "sft/nothing", "--print_config")
    assert status == 2
    assert "'sft/nothing'" in err and "`pav recipes list`" in err and len(err.strip().splitlines()) == 1


# --- a copied recipe runs from anywhere ---------------------------------------------------

def test_a_copied_recipe_parses_from_another_directory(capsys, tmp_path, monkeypatch):
    copies, other = tmp_path / "copies", tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "recipes", "cp", "quickstart", "copies/")[0] == 0
    assert run(capsys, "recipes", "cp", "sft/smollm2-cpu", "copies/sft.yaml")[0] == 0
    monkeypatch.chdir(other)
    # the copy names the other shipped files from the root (experiments/...): found in the shipped recipes
    config = printed_config(capsys, "pipeline", "-c", copies / "quickstart.yaml", "--workdir", "w")
    assert config["sft"]["config"] == str(EXPERIMENTS / "sft/smollm2-cpu.yaml")
    assert config["dpo"]["config"] == str(EXPERIMENTS / "dpo/smollm2-cpu.yaml")
    config = printed_config(capsys, "fit", "-c", "../copies/sft.yaml")
    assert config["data"]["init_args"]["pools"] == [str(EXPERIMENTS / "data/seed_sft_pairs.json")]


def test_the_working_directorys_file_comes_before_the_shipped_one(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "recipes", "cp", "sft/smollm2-cpu", "sft.yaml")[0] == 0
    (tmp_path / "experiments/data").mkdir(parents=True)
    (tmp_path / "experiments/data/seed_sft_pairs.json").write_text("[]")
    config = printed_config(capsys, "fit", "-c", "sft.yaml")
    assert config["data"]["init_args"]["pools"] == ["experiments/data/seed_sft_pairs.json"]


# --- what the wheel ships -----------------------------------------------------------------

def test_pyproject_ships_every_package_and_every_experiments_folder():
    tomllib = pytest.importorskip("tomllib")
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = set(setuptools["packages"])
    code = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "prompt_a_video").rglob("__init__.py")}
    folders = [EXPERIMENTS, *(p for p in EXPERIMENTS.iterdir() if p.is_dir() and p.name != "__pycache__")]
    recipes = {".".join(["prompt_a_video.recipes", *p.relative_to(ROOT).parts]) for p in folders}
    assert packages == code | recipes
    assert setuptools["package-dir"] == {"prompt_a_video.recipes.experiments": "experiments"}
    data = setuptools["package-data"]
    for folder, package in zip(folders, (".".join(["prompt_a_video.recipes", *p.relative_to(ROOT).parts])
                                         for p in folders)):
        shipped = {f for pattern in data.get(package, []) for f in folder.glob(pattern) if f.is_file()}
        wanted = {f for f in folder.iterdir() if f.is_file() and (f.suffix == ".yaml" or folder.name == "data")}
        assert wanted and wanted <= shipped, f"{folder}: not shipped: {sorted(wanted - shipped)}"


def test_recipes_import_no_heavy_library():
    code = ("import sys, prompt_a_video.commands.recipes, prompt_a_video.recipes.header;"
            "print([m for m in ('torch', 'lightning', 'transformers', 'mlflow', 'jsonargparse') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
