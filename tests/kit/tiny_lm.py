"""Tiny causal LMs and a chat tokenizer, built offline for tests.

Nothing here touches a model hub: the tokenizer is a byte-level BPE trained on the spot
with the ``tokenizers`` library, the models are random-init Llama/Qwen2 configs. Saving
with ``save_pretrained`` and loading back with ``from_pretrained`` makes tests run the
same loading path as real checkpoints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|pad|>"
ENDOFTEXT = "<|endoftext|>"
# Order fixes the ids: <|endoftext|>=0, <|im_start|>=1, <|im_end|>=2, <|pad|>=3.
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END, PAD]

# ChatML. The assistant turn is wrapped in {% generation %} so that
# apply_chat_template(..., return_assistant_tokens_mask=True) marks it: the mask covers
# the assistant content *and* its closing <|im_end|>, because an SFT loss must teach the
# model to stop. The role header and the newline after <|im_end|> stay unmasked.
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

LLM_ARCHS = ("llama", "qwen2")

# Repo root = parent of tests/; the shared data lives next to the repo.
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
REFINEMENTS_FILE = SHARED_DATA_DIR / "vbench_prompt_refinements.jsonl"


def default_corpus() -> list[str]:
    """Return the prompts and all their refinements from the shared VBench jsonl file.

    Raises FileNotFoundError naming the expected path if the file is missing.
    """
    if not REFINEMENTS_FILE.is_file():
        raise FileNotFoundError(
            f"Test corpus not found: {REFINEMENTS_FILE} (expected at <repo>/../shared/data/). "
            "The tiny tokenizers of the test kit are trained on it."
        )
    texts: list[str] = []
    with REFINEMENTS_FILE.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            texts.append(row["prompt"])
            texts.extend(v for v in row.get("refinements", {}).values() if v)
    return texts


def train_chat_tokenizer(corpus: Iterable[str], vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``corpus`` and wrap it as a ChatML chat tokenizer.

    Special tokens: ``<|endoftext|>`` (bos and unk), ``<|im_start|>``, ``<|im_end|>``
    (eos) and ``<|pad|>`` (pad). Padding side stays right; callers set left themselves.
    """
    tok = Tokenizer(models.BPE())
    # Exactly the pipeline Qwen2Tokenizer rebuilds from vocab/merges: AutoTokenizer loads a
    # qwen2 folder with that class whatever tokenizer_class says, so any other
    # pre-tokenizer would tokenize differently after the save/load round trip.
    # Byte-level: every string is encodable, so no unk ever appears at test time.
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=ENDOFTEXT,
        unk_token=ENDOFTEXT,
        eos_token=IM_END,
        pad_token=PAD,
        additional_special_tokens=[IM_START],
        chat_template=CHATML_TEMPLATE,
        model_max_length=512,
        padding_side="right",
    )


def build_tiny_causal_lm(arch: str, tokenizer, seed: int = 0) -> PreTrainedModel:
    """Build a random-init 2-layer causal LM (hidden 32, 4 heads, 2 kv heads).

    ``arch`` is "llama" or "qwen2". The same seed gives identical weights.
    """
    if arch not in LLM_ARCHS:
        raise ValueError(f"Unknown arch {arch!r}; expected one of {LLM_ARCHS}")
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    config_cls, model_cls = (LlamaConfig, LlamaForCausalLM) if arch == "llama" else (Qwen2Config, Qwen2ForCausalLM)
    config = config_cls(**common)
    torch.manual_seed(seed)
    model = model_cls(config)
    model.eval()
    return model


def save_tiny_causal_lm(path, arch: str, seed: int = 0, corpus: Iterable[str] | None = None) -> Path:
    """Save a tiny causal LM, its chat tokenizer and a generation config into ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = train_chat_tokenizer(default_corpus() if corpus is None else corpus)
    model = build_tiny_causal_lm(arch, tokenizer, seed=seed)
    # Explicit generation config so generate() stops at <|im_end|> and pads without warnings.
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_lm_of_type(model_type: str, vocab_size: int = 96, attn: str = "sdpa", seed: int = 0,
                    **config) -> PreTrainedModel:
    """A random-init 2-layer model of any transformers ``model_type`` (hidden 32), fp32, eval mode.

    For code that must hold for every architecture it accepts; ``config`` overrides or adds
    fields (e.g. ``logits_scaling=4.0`` for Granite, ``sliding_window=8``).
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                  pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **{**fields, **config}),
                                             attn_implementation=attn)
    return model.float().eval()


def randomize_lora_b(model, seed: int, std: float) -> None:
    """Give every ``lora_B`` matrix seeded normal values (in parameter-name order).

    At init B = 0, so "adapter on" would equal "adapter off" and hide adapter bugs (and
    every DPO loss would be exactly log 2).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * std)


def with_random_lora(model: PreTrainedModel, seed: int = 3, std: float = 0.3):
    """``model`` wrapped in a rank-4 all-linear LoRA whose B matrices are seeded random."""
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    randomize_lora_b(model, seed, std)
    return model
