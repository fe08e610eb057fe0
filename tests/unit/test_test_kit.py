"""The test kit's tiny models load back from disk and work, deterministically."""

from __future__ import annotations

import pytest
import torch
from diffusers import CogVideoXPipeline, DiffusionPipeline, StableDiffusionPipeline, WanPipeline
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM, Qwen2ForCausalLM

from tests.kit import tiny_diffusers, tiny_lm

CHAT = [
    {"role": "system", "content": "You refine prompts for video models."},
    {"role": "user", "content": "a cat on a beach"},
    {"role": "assistant", "content": "A ginger cat strolls along a sunlit beach.\nWaves roll in."},
    {"role": "user", "content": "shorter"},
    {"role": "assistant", "content": "A cat walks on a sunny beach."},
]


@pytest.fixture(scope="module")
def chat_tokenizer(tiny_chat_tokenizer_dir):
    return AutoTokenizer.from_pretrained(tiny_chat_tokenizer_dir)


def test_chat_tokenizer_special_tokens(chat_tokenizer):
    tok = chat_tokenizer
    assert tok.eos_token == "<|im_end|>"
    assert tok.pad_token == "<|pad|>"
    assert tok.bos_token == "<|endoftext|>"
    assert tok.padding_side == "right"
    # Special tokens are single ids, never split by the BPE.
    for t in ("<|im_start|>", "<|im_end|>", "<|pad|>", "<|endoftext|>"):
        assert len(tok.encode(t, add_special_tokens=False)) == 1
    text = "A weathered stop sign, at twilight. Ünïcode 🎉"
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_chat_template_renders_chatml(chat_tokenizer):
    rendered = chat_tokenizer.apply_chat_template(CHAT[:3], tokenize=False)
    assert rendered == (
        "<|im_start|>system\nYou refine prompts for video models.<|im_end|>\n"
        "<|im_start|>user\na cat on a beach<|im_end|>\n"
        "<|im_start|>assistant\nA ginger cat strolls along a sunlit beach.\nWaves roll in.<|im_end|>\n"
    )
    prompt = chat_tokenizer.apply_chat_template(CHAT[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_assistant_mask_covers_exactly_assistant_content(chat_tokenizer):
    tok = chat_tokenizer
    out = tok.apply_chat_template(CHAT, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert len(ids) == len(mask)
    # Expected: each assistant content's own tokens plus its closing <|im_end|>, nothing else.
    expected = []
    for msg in CHAT:
        if msg["role"] == "assistant":
            expected += tok.encode(msg["content"], add_special_tokens=False) + [tok.eos_token_id]
    assert [i for i, m in zip(ids, mask) if m] == expected
    # Two assistant turns give exactly two masked runs.
    runs = sum(1 for k in range(len(mask)) if mask[k] and (k == 0 or not mask[k - 1]))
    assert runs == 2


@pytest.mark.parametrize("arch, cls", [("llama", LlamaForCausalLM), ("qwen2", Qwen2ForCausalLM)])
def test_tiny_lm_loads_and_gives_logits(request, chat_tokenizer, arch, cls):
    path = request.getfixturevalue(f"tiny_{arch}_dir")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert type(model) is cls and model.config.model_type == arch
    assert model.config.vocab_size == len(tok) == len(chat_tokenizer)
    assert (model.config.hidden_size, model.config.num_hidden_layers, model.config.num_key_value_heads) == (32, 2, 2)
    assert model.generation_config.eos_token_id == tok.eos_token_id
    assert model.generation_config.pad_token_id == tok.pad_token_id
    # The tokenizer round-trips unchanged, whatever class AutoTokenizer picks for the arch.
    text = CHAT[2]["content"]
    assert tok.encode(text) == chat_tokenizer.encode(text)

    batch = tok(["a cat", "a red stop sign at dusk"], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (2, batch["input_ids"].shape[1], len(tok))
    assert torch.isfinite(logits).all()

    tok.padding_side = "left"
    prompt = tok.apply_chat_template([CHAT[1]], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    gen = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    assert gen.shape[0] == 1 and prompt["input_ids"].shape[1] < gen.shape[1] <= prompt["input_ids"].shape[1] + 4


@pytest.mark.parametrize("arch", tiny_lm.LLM_ARCHS)
def test_same_seed_gives_identical_weights(request, chat_tokenizer, arch):
    a = tiny_lm.build_tiny_causal_lm(arch, chat_tokenizer, seed=0).state_dict()
    b = tiny_lm.build_tiny_causal_lm(arch, chat_tokenizer, seed=0).state_dict()
    c = tiny_lm.build_tiny_causal_lm(arch, chat_tokenizer, seed=1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    # The saved seed-0 model is that same model.
    loaded = AutoModelForCausalLM.from_pretrained(request.getfixturevalue(f"tiny_{arch}_dir")).state_dict()
    assert all(torch.equal(a[k], loaded[k]) for k in loaded)


def test_tokenizers_are_deterministic(kit_corpus):
    tiny_diffusers._unigram_vocab.cache_clear()
    first = tiny_diffusers.train_t5_tokenizer(kit_corpus).backend_tokenizer.to_str()
    tiny_diffusers._unigram_vocab.cache_clear()
    assert tiny_diffusers.train_t5_tokenizer(kit_corpus).backend_tokenizer.to_str() == first
    clip = [tiny_diffusers.train_clip_tokenizer(kit_corpus).backend_tokenizer.to_str() for _ in range(2)]
    assert clip[0] == clip[1]
    chat = [tiny_lm.train_chat_tokenizer(kit_corpus).backend_tokenizer.to_str() for _ in range(2)]
    assert chat[0] == chat[1]


PIPELINES = [
    # fixture, class, call kwargs, output attribute, expected shape
    ("tiny_cogvideox_dir", CogVideoXPipeline, {}, "frames", (1, 9, 3, 16, 16)),
    ("tiny_wan_dir", WanPipeline, {"height": 16, "width": 16, "num_frames": 9}, "frames", (1, 9, 3, 16, 16)),
    ("tiny_t2i_dir", StableDiffusionPipeline, {"height": 16, "width": 16}, "images", (1, 3, 16, 16)),
]


@pytest.mark.parametrize("fixture, cls, kwargs, attr, shape", PIPELINES, ids=[p[0] for p in PIPELINES])
def test_tiny_pipeline_generates_deterministically(request, fixture, cls, kwargs, attr, shape):
    pipe = DiffusionPipeline.from_pretrained(request.getfixturevalue(fixture))
    assert type(pipe) is cls
    pipe.set_progress_bar_config(disable=True)

    def run():
        out = pipe(
            "a ginger cat strolls along a sunlit beach",
            num_inference_steps=2,
            generator=torch.Generator("cpu").manual_seed(0),
            output_type="pt",
            **kwargs,
        )
        return getattr(out, attr)

    first, second = run(), run()
    assert tuple(first.shape) == shape
    assert torch.isfinite(first).all() and 0.0 <= first.min() and first.max() <= 1.0
    assert torch.equal(first, second)
