"""Export of trained refiners: PEFT adapter and merged HF folder give the module's logits,
carry tokenizer, chat template and prompt; checkpoint -> `pav export` round trip."""

import json
from pathlib import Path

import pytest
import torch

from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec
from prompt_a_video.refiner.export import export_refiner, load_module_from_checkpoint, load_refiner
from prompt_a_video.refiner.generation import refine_with
from prompt_a_video.modules.sft import SFTRefiner

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

IDS = torch.tensor([[1, 40, 77, 123, 250, 9, 2, 1, 31]])  # any ids of the 600-token kit vocabulary


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def logits(model, ids=IDS):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(input_ids=ids).logits
    model.train(was_training)
    return out


def perturb(model, names, seed=0, std=0.1):
    """Random values for the parameters whose name contains one of ``names``, so that a
    fresh LoRA (B = 0) is not a no-op and a full fine-tune differs from its base."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(n in name for n in names):
                p.add_(torch.randn(p.shape, generator=generator) * std)


@pytest.fixture(scope="module")
def lora_module(tiny_llama_dir):
    module = SFTRefiner(backbone=CausalLMBackbone(model=str(tiny_llama_dir), lora=LoraSpec(r=4, alpha=8),
                                                  user_template="Prompt: {prompt}"))
    module.configure_model()
    perturb(module.model, ["lora_A", "lora_B"], std=0.3)
    return module


@pytest.fixture(scope="module")
def lora_export(lora_module, tmp_path_factory):
    before = logits(lora_module.model)
    out = export_refiner(lora_module, tmp_path_factory.mktemp("export") / "refiner")
    # the module keeps its adapter and weights: the merge ran on a copy
    assert torch.equal(logits(lora_module.model), before)
    return out


def test_lora_export_layout_settings_tokenizer_and_chat_template(lora_module, lora_export, tiny_llama_dir):
    from transformers import AutoTokenizer

    assert {p.name for p in lora_export.iterdir()} == {"adapter", "merged", "refiner.json"}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in (lora_export / "adapter").iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors"} <= {
        p.name for p in (lora_export / "merged").iterdir()}
    settings = json.loads((lora_export / "refiner.json").read_text())
    assert settings["user_template"] == "Prompt: {prompt}"
    assert settings["system_prompt"] == lora_module.backbone.system_prompt
    assert settings["base_model"] == str(tiny_llama_dir)
    assert settings["trained"]["method"] == "lora" and settings["trained"]["lora"]["r"] == 4
    original = AutoTokenizer.from_pretrained(tiny_llama_dir)
    chat = lora_module.backbone.messages("a dog")
    for part in ("adapter", "merged"):
        assert json.loads((lora_export / part / "refiner.json").read_text()) == settings
        tokenizer = AutoTokenizer.from_pretrained(lora_export / part)
        assert tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == \
            original.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    generation = json.loads((lora_export / "merged" / "generation_config.json").read_text())
    eos = generation["eos_token_id"]
    assert original.convert_tokens_to_ids("<|im_end|>") in (eos if isinstance(eos, list) else [eos])


def test_adapter_reloads_with_peft_on_the_base_and_gives_the_modules_logits(lora_module, lora_export,
                                                                              tiny_llama_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    base_logits = logits(base)
    model = PeftModel.from_pretrained(base, lora_export / "adapter")
    expected = logits(lora_module.model)
    assert not torch.allclose(base_logits, expected, atol=1e-2)  # the adapter changes the model
    torch.testing.assert_close(logits(model), expected, atol=1e-5, rtol=0)


def test_merged_folder_loads_with_auto_model_and_gives_the_modules_logits(lora_module, lora_export):
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(lora_export / "merged")
    assert not hasattr(merged, "peft_config")
    torch.testing.assert_close(logits(merged), logits(lora_module.model), atol=1e-4, rtol=0)


def test_load_refiner_refines_like_the_module_from_merged_and_from_adapter(lora_module, lora_export):
    prompts = ["a dog", "a red car in the rain"]
    expected = lora_module.refine(prompts, do_sample=False, max_new_tokens=8)
    assert expected[0] != expected[1] and all(group[0] for group in expected)
    for use in ("merged", "adapter"):
        model, tokenizer, backbone = load_refiner(lora_export, use=use)
        assert backbone.user_template == "Prompt: {prompt}" and not model.training
        assert refine_with(model, tokenizer, backbone, prompts, do_sample=False, max_new_tokens=8) == expected


def test_dpo_adapter_on_the_merged_sft_model_reloads_through_load_refiner(lora_module, lora_export,
                                                                          tiny_llama_dir, tmp_path):
    from prompt_a_video.modules.dpo import DPORefiner

    module = DPORefiner(backbone=CausalLMBackbone(model=str(tiny_llama_dir), lora=LoraSpec(r=4, alpha=8),
                                                  user_template="Prompt: {prompt}"),
                        sft_adapter=str(lora_export / "adapter"))
    module.configure_model()
    perturb(module.model, ["lora_B"], seed=1, std=0.3)
    expected = logits(module.model)
    assert not torch.allclose(expected, logits(lora_module.model), atol=1e-3)  # DPO's adapter is not a no-op
    out = export_refiner(module, tmp_path / "dpo")
    assert json.loads((out / "refiner.json").read_text())["base_adapter"] == str((lora_export / "adapter").resolve())
    for use in ("adapter", "merged"):  # adapter: base + SFT adapter merged, then the DPO adapter
        model, _, _ = load_refiner(out, use=use)
        torch.testing.assert_close(logits(model), expected, atol=1e-4, rtol=0)


def test_full_fine_tuning_exports_merged_only(tiny_llama_dir, tmp_path):
    module = SFTRefiner(backbone=CausalLMBackbone(model=str(tiny_llama_dir), lora=None))
    module.configure_model()
    perturb(module.model, ["mlp.down_proj"])
    with pytest.raises(ValueError, match="no LoRA adapter"):
        export_refiner(module, tmp_path / "none", merged=False)
    out = export_refiner(module, tmp_path / "full")
    assert {p.name for p in out.iterdir()} == {"merged", "refiner.json"}
    assert json.loads((out / "refiner.json").read_text())["trained"]["method"] == "full"
    model, _, _ = load_refiner(out)
    torch.testing.assert_close(logits(model), logits(module.model), atol=1e-5, rtol=0)


def test_export_refuses_a_non_empty_folder_unless_told_to_overwrite(lora_module, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_refiner(lora_module, out, merged=False)
    assert (out / "notes.txt").is_file()
    export_refiner(lora_module, out, merged=False, overwrite=True)
    assert {p.name for p in out.iterdir()} == {"adapter", "refiner.json"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind


@pytest.fixture(scope="module")
def fitted_checkpoint(tiny_llama_dir, tmp_path_factory):
    """A 2-step `pav fit` of the SFT experiment on the tiny llama: (workdir, checkpoint)."""
    from prompt_a_video import cli

    workdir = tmp_path_factory.mktemp("fit")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        assert cli.main([
            "fit", "-c", str(ROOT / "experiments/sft/smollm2-cpu.yaml"),
            "--model.init_args.backbone.model", str(tiny_llama_dir),
            "--model.init_args.max_length", "320", "--model.init_args.lr", "0.05",
            "--data.init_args.pools", f"[{ROOT / 'experiments/data/seed_sft_pairs.json'}]",
            "--trainer.max_steps", "2", "--trainer.val_check_interval", "2", "--trainer.limit_val_batches", "1",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        ]) == 0
    (checkpoint,) = sorted((workdir / "runs").rglob("*.ckpt"))
    return workdir, checkpoint


def _pav_export(args):
    from prompt_a_video import cli

    assert cli.main(["export", *args]) == 0


def test_checkpoint_exports_through_pav_export_and_seeds_the_next_round(fitted_checkpoint, tiny_llama_dir,
                                                                        tmp_path):
    from transformers import AutoModelForCausalLM

    _, checkpoint = fitted_checkpoint
    module = load_module_from_checkpoint(checkpoint)
    assert isinstance(module, SFTRefiner)
    expected = logits(module.model)
    assert not torch.allclose(expected, logits(AutoModelForCausalLM.from_pretrained(tiny_llama_dir)), atol=1e-3)

    _pav_export(["--ckpt_path", str(checkpoint), "--out", str(tmp_path / "sft")])
    settings = json.loads((tmp_path / "sft" / "refiner.json").read_text())
    assert settings["trained"]["checkpoint"]["global_step"] == 2
    assert settings["trained"]["lora"]["r"] == 8  # the experiment's LoRA, from the checkpoint
    torch.testing.assert_close(logits(AutoModelForCausalLM.from_pretrained(tmp_path / "sft" / "merged")), expected,
                               atol=1e-4, rtol=0)
    # iterated DPO: the merged folder is the backbone.model of the next round
    next_round = SFTRefiner(backbone=CausalLMBackbone(model=str(tmp_path / "sft" / "merged"), lora=LoraSpec(r=4)))
    next_round.configure_model()
    torch.testing.assert_close(logits(next_round.model), expected, atol=1e-4, rtol=0)  # fresh LoRA: B = 0


def test_checkpoint_loads_with_a_config_file_or_an_explicit_module_class(fitted_checkpoint, tiny_llama_dir,
                                                                         tmp_path):
    workdir, checkpoint = fitted_checkpoint
    expected = logits(load_module_from_checkpoint(checkpoint).model)
    config = tmp_path / "config.yaml"
    config.write_text(
        "model:\n  class_path: prompt_a_video.modules.sft.SFTRefiner\n  init_args:\n"
        f"    backbone:\n      model: {tiny_llama_dir}\n      lora: {{r: 8, alpha: 16}}\n")
    torch.testing.assert_close(logits(load_module_from_checkpoint(checkpoint, config).model), expected)

    # a checkpoint of a module trained outside `pav fit` has no class path in its hparams
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    module = SFTRefiner(backbone=CausalLMBackbone(model=str(tiny_llama_dir), lora=LoraSpec(r=8, alpha=16)))
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": saved["state_dict"], "hyper_parameters": dict(module.hparams)}, bare)
    with pytest.raises(ValueError, match="module_class"):
        load_module_from_checkpoint(bare)
    loaded = load_module_from_checkpoint(bare, module_class="prompt_a_video.modules.sft.SFTRefiner")
    torch.testing.assert_close(logits(loaded.model), expected)
