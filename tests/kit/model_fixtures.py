"""Session fixtures of the test kit: tiny models saved once per session, as folders.

Each fixture returns the Path of a folder written by ``save_pretrained``; tests load it
back with ``from_pretrained`` so the real loading path runs. Folders are shared by the
whole session: tests must not write into them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kit import tiny_diffusers, tiny_lm


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``<repo>/../shared/data``, the folder with the VBench prompt refinements."""
    if not tiny_lm.REFINEMENTS_FILE.is_file():
        pytest.fail(
            f"Shared test data missing: expected {tiny_lm.REFINEMENTS_FILE} "
            f"(the folder {tiny_lm.SHARED_DATA_DIR} next to the repo root).",
            pytrace=False,
        )
    return tiny_lm.SHARED_DATA_DIR


@pytest.fixture(scope="session")
def kit_corpus(shared_data_dir) -> list[str]:
    """Prompts and refinements every tiny tokenizer is trained on."""
    return tiny_lm.default_corpus()


@pytest.fixture(scope="session")
def tiny_chat_tokenizer_dir(tmp_path_factory, kit_corpus) -> Path:
    """A ChatML byte-level BPE tokenizer (vocab 600) saved on its own."""
    path = tmp_path_factory.mktemp("tiny-chat-tokenizer")
    tiny_lm.train_chat_tokenizer(kit_corpus).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, kit_corpus) -> Path:
    """A 2-layer random LlamaForCausalLM with its chat tokenizer, seed 0."""
    return tiny_lm.save_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"), "llama", seed=0, corpus=kit_corpus)


@pytest.fixture(scope="session")
def tiny_qwen2_dir(tmp_path_factory, kit_corpus) -> Path:
    """A 2-layer random Qwen2ForCausalLM with its chat tokenizer, seed 0."""
    return tiny_lm.save_tiny_causal_lm(tmp_path_factory.mktemp("tiny-qwen2"), "qwen2", seed=0, corpus=kit_corpus)


@pytest.fixture(scope="session")
def tiny_cogvideox_dir(tmp_path_factory, kit_corpus) -> Path:
    """A tiny CogVideoXPipeline; its defaults generate 9 frames of 16x16."""
    return tiny_diffusers.save_tiny_cogvideox(tmp_path_factory.mktemp("tiny-cogvideox"), corpus=kit_corpus)


@pytest.fixture(scope="session")
def tiny_wan_dir(tmp_path_factory, kit_corpus) -> Path:
    """A tiny WanPipeline; call it with height=width=16, num_frames=9."""
    return tiny_diffusers.save_tiny_wan(tmp_path_factory.mktemp("tiny-wan"), corpus=kit_corpus)


@pytest.fixture(scope="session")
def tiny_t2i_dir(tmp_path_factory, kit_corpus) -> Path:
    """A tiny StableDiffusionPipeline; call it with height=width=16."""
    return tiny_diffusers.save_tiny_text_to_image(tmp_path_factory.mktemp("tiny-t2i"), corpus=kit_corpus)


@pytest.fixture(scope="session")
def tiny_refiner_export_dir(tiny_llama_dir, tmp_path_factory) -> Path:
    """`pav export` of a fully fine-tuned tiny Llama (user template ``Prompt: {prompt}``)
    whose matrices are re-drawn with std 0.3: the kit's model (std 0.02) answers every
    prompt with the same few tokens, this one writes prompt-dependent text."""
    import torch

    from prompt_a_video.modules.backbone import CausalLMBackbone
    from prompt_a_video.refiner.export import export_refiner
    from prompt_a_video.modules.sft import SFTRefiner

    module = SFTRefiner(backbone=CausalLMBackbone(model=str(tiny_llama_dir), lora=None,
                                                  user_template="Prompt: {prompt}"))
    module.configure_model()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    return export_refiner(module, tmp_path_factory.mktemp("refiner") / "export")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread (and leave the other core to parallel work)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
