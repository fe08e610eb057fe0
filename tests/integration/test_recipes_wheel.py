"""A built wheel carries the recipes: installed with no checkout in sight, `pav recipes cp`
copies one out and the copy runs (`--print_config`) from a directory that is not the repo.

The wheel is built from a copy of the sources (building in the checkout would write
build/ and *.egg-info into a working tree others use) and installed with ``--no-deps`` into
a fresh venv that sees this venv's site-packages through a ``.pth`` line: torch and the
rest are not downloaded again. A plain path in a ``.pth`` does not run the ``.pth`` files
found there, so the checkout's editable install stays inactive in that venv: the test
checks that ``prompt_a_video`` is imported from the wheel.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "prompt_a_video", "experiments")


def call(argv: list, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv holding only the built wheel (its dependencies seen through a .pth line)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    # pip's own build (isolated: setuptools from PyPI when this venv has none)
    call([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", base / "dist", source], cwd=base)
    wheel, = (base / "dist").glob("prompt_a_video-*.whl")

    venv = base / "venv"
    call([sys.executable, "-m", "venv", "--without-pip", venv], cwd=base)
    python = venv / "bin" / "python"
    site = Path(call([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=base)
                .stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "pav-test-dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(ours)))
    # --ignore-installed: pip sees this venv's editable prompt-a-video and must not touch it
    call([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", wheel], cwd=base)
    return venv


def test_wheel_holds_every_recipe_and_its_data(installed):
    python = installed / "bin" / "python"
    where = call([python, "-c", "import prompt_a_video, prompt_a_video.recipes as r;"
                                "print(prompt_a_video.__file__); print(r.recipes_dir())"], cwd=installed.parent)
    module, folder = where.stdout.split()
    assert Path(module).is_relative_to(installed), f"prompt_a_video imported from {module}, not the wheel"
    shipped = Path(folder)
    assert shipped == Path(module).parent / "recipes" / "experiments"
    expected = sorted(p.relative_to(ROOT / "experiments").as_posix() for p in (ROOT / "experiments").rglob("*")
                      if p.is_file() and (p.suffix == ".yaml" or p.parent.name == "data") and "__pycache__" not in p.parts)
    got = sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.is_file()
                 and "__pycache__" not in p.parts)
    assert got == expected


def test_installed_recipes_name_their_data_from_their_root(installed, tmp_path):
    """The project-root rule finds prompt_a_video/recipes/ as the root of the shipped YAMLs,
    so ``experiments/data/...`` in an installed recipe is the installed data file."""
    code = ("from pathlib import Path; import prompt_a_video.recipes as r;"
            "from prompt_a_video.commands.yaml_paths import project_root, resolve_path;"
            "sft = r.find_recipe('sft/smollm2-cpu'); print(project_root(sft) == r.recipes_root());"
            "print(resolve_path('experiments/data/seed_sft_pairs.json', sft, Path.cwd()))")
    same_root, data = call([installed / "bin" / "python", "-c", code], cwd=tmp_path).stdout.split()
    assert same_root == "True"
    assert Path(data).is_relative_to(installed) and Path(data).is_file(), data


def test_copied_recipe_runs_from_a_directory_that_is_not_the_repo(installed, tmp_path):
    pav = installed / "bin" / "pav"
    cwd = tmp_path / "somewhere"
    cwd.mkdir()
    listed = call([pav, "recipes", "list"], cwd=cwd).stdout
    assert "pav pipeline -c quickstart --workdir runs/quickstart" in listed and str(installed) in listed

    copied = call([pav, "recipes", "cp", "quickstart", "my-quickstart.yaml"], cwd=cwd)
    assert (cwd / "my-quickstart.yaml").read_bytes() == (ROOT / "experiments/quickstart.yaml").read_bytes()
    assert "pav pipeline -c my-quickstart.yaml" in copied.stdout

    printed = call([pav, "pipeline", "-c", "my-quickstart.yaml", "--workdir", "w", "--print_config"], cwd=cwd).stdout
    config = yaml.safe_load(printed)
    assert config["workdir"] == "w"
    for section in ("sft", "dpo"):  # experiments/<fit>.yaml of the copy: found in the installed recipes
        fit = Path(config[section]["config"])
        assert fit.is_relative_to(installed) and fit.is_file(), fit

