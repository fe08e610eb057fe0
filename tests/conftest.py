"""Test-wide settings: offline hub, shared fixtures of the test kit."""

import os

# Without this a missing local path makes transformers retry the hub for ~25 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DISABLE_MLFLOW_INTEGRATION", "TRUE")

pytest_plugins = ["tests.kit.model_fixtures", "tests.kit.asset_fixtures"]
