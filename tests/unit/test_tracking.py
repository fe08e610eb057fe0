"""Tracking defaults and secret redaction: what reaches MLflow."""

from prompt_a_video import tracking


def test_tracking_uri_precedence_and_sqlite_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.resolve_tracking_uri() == f"sqlite:///{tmp_path}/mlruns.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.team:5000")
    assert tracking.resolve_tracking_uri() == "http://mlflow.team:5000"
    assert tracking.resolve_tracking_uri("sqlite:////data/runs.db") == "sqlite:////data/runs.db"
    assert tracking.resolve_tracking_uri("sqlite:///other.db") == f"sqlite:///{tmp_path}/other.db"


def test_redact_hides_secret_keys_and_key_like_values_only():
    config = {
        "operator": {"class_path": "x.ChatOperator",
                     "init_args": {"api_key": "abc", "base_url": "http://localhost:8000", "max_tokens": 512}},
        "hub": {"HF_TOKEN": "hf_abcdefghijklmnopqrstuvwx", "password": None},
        "notes": ["sk-ABCDEFGHIJKLMNOPQRSTUV", "a dog running"],
        "model": {"max_new_tokens": 200, "pad_token": "<|pad|>"},
    }
    red = tracking.redact(config)
    assert red["operator"]["init_args"] == {"api_key": "***", "base_url": "http://localhost:8000", "max_tokens": 512}
    assert red["hub"] == {"HF_TOKEN": "***", "password": None}
    assert red["notes"] == ["***", "a dog running"]
    assert red["model"] == {"max_new_tokens": 200, "pad_token": "<|pad|>"}
    assert config["operator"]["init_args"]["api_key"] == "abc"  # the input is not modified


def test_config_params_are_flat_short_and_redacted():
    config = {"model": {"class_path": "m.SFT", "init_args": {"lr": 0.001, "backbone": {"lora": {"r": 8}},
                                                            "api_key": "secret"}},
              "seed_everything": 0, "ckpt_path": None}
    params = tracking.config_params(config)
    assert params == {"model.class_path": "m.SFT", "model.lr": "0.001", "model.backbone.lora.r": "8",
                      "model.api_key": "***", "seed_everything": "0", "ckpt_path": ""}
