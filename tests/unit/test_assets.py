"""Offline assets: names resolve to folders, a missing one says what to run, never the hub."""

import json

import pytest

from prompt_a_video import assets


def test_missing_asset_error_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path))
    with pytest.raises(assets.AssetNotInstalledError, match="pav assets install smollm2-135m-instruct"):
        assets.resolve_model("smollm2-135m-instruct")


def test_resolve_model_leaves_paths_and_hub_ids_alone(tmp_path):
    assert assets.resolve_model(str(tmp_path)) == str(tmp_path)
    assert assets.resolve_model("meta-llama/Meta-Llama-3-8B-Instruct") == "meta-llama/Meta-Llama-3-8B-Instruct"


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv(assets.CACHE_ENV, raising=False)
    assert str(assets.cache_dir()).endswith(".cache/prompt-a-video")
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path / "env"))
    assert assets.cache_dir() == tmp_path / "env"
    assert assets.cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_unknown_asset_name_lists_known_ones():
    with pytest.raises(KeyError, match="vbench"):
        assets.require_asset("vbnech")


def test_installed_vbench_asset_is_the_real_prompt_list(vbench_installed):
    folder = assets.require_asset("vbench")
    marker = json.loads((folder / assets.MARKER).read_text())
    assert marker["package"] == "vbench" and marker["version"] == "0.1.5"
    prompts = json.loads((folder / "VBench_full_info.json").read_text())
    assert len(prompts) == 946
    assert assets.is_installed("vbench") and not assets.is_installed("all-minilm-l6-v2")


def test_install_is_idempotent_and_leaves_no_temporary_folders(asset_cache):
    before = (asset_cache / "assets" / "vbench" / assets.MARKER).stat().st_mtime_ns
    assets.install_asset("vbench", asset_cache)  # already there: nothing is fetched again
    assert (asset_cache / "assets" / "vbench" / assets.MARKER).stat().st_mtime_ns == before
    assert sorted(p.name for p in (asset_cache / "assets").iterdir()) == ["vbench"]


@pytest.mark.slow
def test_smollm2_asset_converts_to_a_loadable_chat_model(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = assets.install_asset("smollm2-135m-instruct", tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.config.model_type == "llama" and tokenizer.chat_template
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "a dog running"}],
                                        add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
