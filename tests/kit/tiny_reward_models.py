"""Tiny random-init reward models, built offline and saved like the real checkpoints.

- :func:`save_tiny_clip`: a CLIP (vision + text) folder, ``CLIPModel`` + ``CLIPProcessor``
  (character-level CLIP tokenizer built on the spot), 16x16 images.
- :func:`save_aesthetic_head`: a LAION-aesthetic head state dict (v2 MLP or v1 linear).
- :func:`save_tiny_videoscore`: a VideoScore-layout folder: Idefics2 (tiny SigLIP tower,
  perceiver with 4 latents, 2-layer Mistral) + 5-output ``score`` head, and an
  ``Idefics2Processor`` whose Llama-style tokenizer has ``<fake_token_around_image>``,
  ``<image>`` and ``<end_of_utterance>``; 16x16 frames.
- :func:`save_tiny_mps`: MPS weights for a tiny CLIP folder, both in our layout
  (``.safetensors``) and as the authors ship it: ``torch.save`` of a whole module whose
  class (``trainer.models.clip_model.CLIPModel``) cannot be imported at load time.

Everything is seeded and the tokenizers are deterministic (the Llama-style BPE is trained
with ``tokenizers``; its merges do not depend on hash order): the same arguments give the
same files.
"""

from __future__ import annotations

import json
import string
import sys
import types
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from torch import nn

IMAGE_SIZE = 16
PROJECTION_DIM = 16
# Every printable character as a word of its own, so tiny BPEs never meet an unknown symbol.
_ALPHABET_LINE = " ".join(string.ascii_letters + string.digits + string.punctuation)


def _vocab_and_merges(tok: Tokenizer) -> tuple[dict[str, int], list[tuple[str, str]]]:
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges


# --- CLIP --------------------------------------------------------------------------------

def build_clip_tokenizer(model_max_length: int = 77):
    """A character-level ``CLIPTokenizer``: byte-level symbols, ``</w>`` word ends, no merges.

    Built rather than trained: the ``tokenizers`` BPE trainer numbers ``</w>`` symbols in
    hash-map order, so two sessions would get different token ids. With no merges every
    word is spelled out, which CLIP's BPE model handles like any vocabulary.
    """
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    symbols = ["<|startoftext|>", "<|endoftext|>", *alphabet, *(c + "</w>" for c in alphabet)]
    return CLIPTokenizer(vocab={s: i for i, s in enumerate(symbols)}, merges=[], model_max_length=model_max_length)


def save_tiny_clip(path, seed: int = 0) -> Path:
    """Save a random-init 1-layer CLIP (width 32, projection 16, 16x16 images, context 77) + processor."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    path = Path(path)
    tokenizer = build_clip_tokenizer()
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                 projection_dim=PROJECTION_DIM)
    config = CLIPConfig(
        text_config=dict(tower, vocab_size=len(tokenizer), max_position_embeddings=tokenizer.model_max_length,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(tower, image_size=IMAGE_SIZE, patch_size=8),
        projection_dim=PROJECTION_DIM,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                         crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    model.save_pretrained(path)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


# --- LAION aesthetic head ----------------------------------------------------------------

def aesthetic_head_state(input_dim: int = PROJECTION_DIM, kind: str = "mlp", seed: int = 0) -> dict[str, torch.Tensor]:
    """Random head weights in a published layout: ``mlp`` (v2 linearMSE: Linear layers at
    ``layers.{0,2,4,6,7}``), ``relu-mlp`` (v2 reluMSE: ``layers.{0,3,6,9,11}``) or ``linear`` (v1)."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "linear":
        return {"weight": torch.randn(1, input_dim, generator=gen), "bias": torch.randn(1, generator=gen)}
    indices = {"mlp": (0, 2, 4, 6, 7), "relu-mlp": (0, 3, 6, 9, 11)}[kind]
    widths = [input_dim, 1024, 128, 64, 16, 1]
    state = {}
    for index, (d_in, d_out) in zip(indices, zip(widths[:-1], widths[1:])):
        state[f"layers.{index}.weight"] = torch.randn(d_out, d_in, generator=gen) / d_in ** 0.5
        state[f"layers.{index}.bias"] = torch.randn(d_out, generator=gen) * 0.1
    return state


def save_aesthetic_head(path, input_dim: int = PROJECTION_DIM, kind: str = "mlp", seed: int = 0) -> Path:
    """Write :func:`aesthetic_head_state` to ``path`` (``.safetensors`` or ``.pth`` by suffix)."""
    path = Path(path)
    state = aesthetic_head_state(input_dim, kind, seed)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


# --- VideoScore (Idefics2 + regression head) ---------------------------------------------

def train_llama_tokenizer(corpus: Iterable[str], vocab_size: int = 400):
    """A ``LlamaTokenizer`` (metaspace BPE, ``<unk>``/``<s>``/``</s>``, pad = ``<unk>``) trained on ``corpus``."""
    from transformers import LlamaTokenizer

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    tok.train_from_iterator([*corpus, _ALPHABET_LINE], trainer=trainer)
    vocab, merges = _vocab_and_merges(tok)
    return LlamaTokenizer(vocab=vocab, merges=merges, pad_token="<unk>", padding_side="right")


def save_tiny_videoscore(path, corpus: Iterable[str], seed: int = 0) -> Path:
    """Save a tiny VideoScore-layout checkpoint + ``Idefics2Processor`` (4 image tokens per 16x16 frame)."""
    from transformers import Idefics2Config, Idefics2Processor, MistralConfig
    from transformers.models.idefics2.configuration_idefics2 import Idefics2PerceiverConfig, Idefics2VisionConfig

    try:  # the PIL backend needs no torchvision; the default one does
        from transformers.models.idefics2.image_processing_pil_idefics2 import Idefics2ImageProcessorPil as ImageProc
    except ImportError:
        from transformers import Idefics2ImageProcessor as ImageProc

    from prompt_a_video.rewards.real.videoscore_model import VideoScoreRegressionModel

    path = Path(path)
    tokenizer = train_llama_tokenizer(corpus)
    image_processor = ImageProc(size={"shortest_edge": IMAGE_SIZE, "longest_edge": IMAGE_SIZE},
                                do_image_splitting=False)
    n_latents = 4
    processor = Idefics2Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=n_latents)
    tokenizer = processor.tokenizer  # now with <fake_token_around_image>, <image>, <end_of_utterance>
    text = MistralConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    vision = Idefics2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                  image_size=IMAGE_SIZE, patch_size=4)
    perceiver = Idefics2PerceiverConfig(hidden_size=32, resampler_n_latents=n_latents, resampler_depth=1,
                                        resampler_n_heads=2, resampler_head_dim=8, num_key_value_heads=1)
    config = Idefics2Config(text_config=text, vision_config=vision, perceiver_config=perceiver,
                            image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                            id2label={i: d for i, d in enumerate(("VQ", "TC", "DD", "TVA", "FC"))},
                            pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = VideoScoreRegressionModel(config).eval()
    with torch.no_grad():  # outputs near the real 1-4 range, so a test can see a sane scale
        model.score.bias.fill_(2.5)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# --- MPS -----------------------------------------------------------------------------------

def save_tiny_mps(clip_dir, out_dir, seed: int = 0, layers: int = 2, heads: int = 2, dim_head: int = 8,
                  ff_mult: int = 2) -> dict[str, Path]:
    """Random MPS weights over the CLIP in ``clip_dir``, in two files with the same weights.

    Returns ``{"ours": <out_dir>/mps.safetensors, "authors": <out_dir>/MPS_overall_checkpoint.pth}``.
    The authors' file is what their ``torch.save(model)`` produces: a pickled module rooted
    in ``trainer.models.clip_model.CLIPModel`` (importable only while saving), holding a
    transformers ``CLIPModel`` (with its config objects) as ``model`` and the fusion as
    ``cross_model.layers.{i}.{0,1}.fn``, with their extra buffers: all-zero ``norm.bias``,
    ``rotary_emb.inv_freq``, a non-persistent rotary cache and, as transformers < 4.31
    saved it, a persistent ``position_ids`` in CLIP's text embeddings.
    """
    from safetensors.torch import save_file
    from transformers import CLIPModel

    from prompt_a_video.rewards.real.mps_model import FusionSpec, MPSModel

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    clip = CLIPModel.from_pretrained(clip_dir)
    spec = FusionSpec(dim=clip.config.projection_dim, layers=layers, heads=heads, dim_head=dim_head,
                      ff_inner=ff_mult * clip.config.projection_dim)
    model = MPSModel(clip, spec)
    for name, p in model.fusion.named_parameters():  # random, not identity-like, norm gains near 1
        with torch.no_grad():
            p.copy_(1.0 + 0.1 * torch.randn_like(p) if name.endswith("norm.weight") else 0.3 * torch.randn_like(p))
    ours = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(ours, str(out_dir / "mps.safetensors"))

    authors_path = out_dir / "MPS_overall_checkpoint.pth"
    try:
        torch.save(_authors_module(model, spec), authors_path)
    finally:
        _forget_authors_module()
    return {"ours": out_dir / "mps.safetensors", "authors": authors_path}


_AUTHORS_MODULE = "trainer.models.clip_model"
_AUTHORS_PACKAGES = ("trainer", "trainer.models", _AUTHORS_MODULE)


def _authors_module(model, spec) -> nn.Module:
    """``model`` (an ``MPSModel``) rebuilt in the authors' module layout (see :func:`save_tiny_mps`)."""
    if any(name in sys.modules for name in _AUTHORS_PACKAGES):
        raise RuntimeError(f"{_AUTHORS_PACKAGES} is already imported: cannot stand in for the authors' class")
    module = types.ModuleType(_AUTHORS_MODULE)
    root_cls = type("CLIPModel", (nn.Module,), {"__module__": _AUTHORS_MODULE})
    module.CLIPModel = root_cls
    for name in _AUTHORS_PACKAGES[:-1]:
        sys.modules[name] = types.ModuleType(name)
    sys.modules[_AUTHORS_MODULE] = module

    root = root_cls()
    root.add_module("model", model.clip)
    positions = model.clip.text_model.embeddings.position_ids
    model.clip.text_model.embeddings.register_buffer("position_ids", positions.clone(), persistent=True)
    layers = nn.ModuleList()
    inv_freq = 1.0 / (10000 ** (torch.arange(0, spec.dim_head, 2).float() / spec.dim_head))
    for i, layer in enumerate(model.fusion):
        blocks = nn.ModuleList([nn.Module(), nn.Module()])
        for block, ours in zip(blocks, (layer.cross, layer.self_ff)):
            fn = nn.Module()
            for name, child in ours.named_children():
                if name == "ff_out":  # theirs: Sequential(SwiGLU, Linear)
                    child = nn.Sequential(nn.Identity(), child)
                fn.add_module(name, child)
            fn.norm.register_buffer("bias", torch.zeros(spec.dim))
            block.add_module("fn", fn)
        blocks[1].fn.add_module("rotary_emb", nn.Module())
        blocks[1].fn.rotary_emb.register_buffer("inv_freq", inv_freq.clone())
        if i == 0:
            blocks[1].fn.register_buffer("pos_emb", torch.zeros(3, spec.dim_head), persistent=False)
        layers.append(blocks)
    root.add_module("cross_model", nn.Module())
    root.cross_model.add_module("layers", layers)
    return root


def _forget_authors_module() -> None:
    for name in _AUTHORS_PACKAGES:
        sys.modules.pop(name, None)
