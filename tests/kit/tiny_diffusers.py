"""Tiny random-init diffusers pipelines, built offline for tests.

Each ``save_tiny_*`` builds a pipeline whose every component is a few thousand parameters,
saves it with ``save_pretrained`` and returns the folder, which
``DiffusionPipeline.from_pretrained(folder)`` loads back. Text tokenizers are trained on
the spot with the ``tokenizers`` library (no hub). Configs follow the
``get_dummy_components`` of diffusers' own pipeline tests, shrunk where it was free.
Outputs are noise, of course: these pipelines exist to exercise shapes and code paths.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLCogVideoX,
    AutoencoderKLWan,
    CogVideoXDDIMScheduler,
    CogVideoXPipeline,
    CogVideoXTransformer3DModel,
    DDIMScheduler,
    FlowMatchEulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
    WanPipeline,
    WanTransformer3DModel,
)
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
    UMT5Config,
    UMT5EncoderModel,
)

from tests.kit.tiny_lm import default_corpus

# Width of every tiny text encoder; the denoisers' text_dim must match it.
TEXT_DIM = 32
# CogVideoX adds a positional table of exactly max_text_seq_length text rows, so the
# transformer must agree with the pipeline's default max_sequence_length (226).
COGVIDEOX_TEXT_LEN = 226
# CLIP pads every prompt to tokenizer.model_max_length; 77 as in real SD checkpoints.
CLIP_MAX_LEN = 77


def _corpus(corpus: Iterable[str] | None) -> list[str]:
    return default_corpus() if corpus is None else list(corpus)


# Why no tokenizers UnigramTrainer, and no BpeTrainer(end_of_word_suffix=...): both give a
# different vocabulary on every run (hash-map order breaks ties), which would make the
# tiny pipelines differ between sessions. A plain BpeTrainer is deterministic, so both
# tokenizers below are derived from one.


def _train_bpe(word_counts: Counter[str], vocab_size: int, alphabet: Iterable[str]) -> dict:
    """Train a plain BPE on words with their counts; return its JSON model."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=sorted(set(alphabet)), show_progress=False
    )
    tok.train_from_iterator((" ".join([w] * n) for w, n in word_counts.items()), trainer=trainer)
    return json.loads(tok.to_str())["model"]


@functools.lru_cache(maxsize=4)
def _unigram_vocab(corpus: tuple[str, ...], vocab_size: int) -> tuple[tuple[str, float], ...]:
    # Cached: CogVideoX and Wan both need it. Pieces are the subwords of a BPE trained on
    # T5's own "▁word" splits (WhitespaceSplit + Metaspace); each piece's score is the log
    # frequency with which that BPE uses it on the corpus, i.e. a one-step Unigram estimate.
    word_counts = Counter("▁" + w for text in corpus for w in text.split())
    model = _train_bpe(word_counts, vocab_size - 3, alphabet="".join(word_counts))
    bpe = Tokenizer(models.BPE(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]]))
    counts: Counter[str] = Counter()
    for word, enc in zip(word_counts, bpe.encode_batch(list(word_counts))):
        for piece in enc.tokens:
            counts[piece] += word_counts[word]
    total = sum(counts.values())
    pieces = sorted(model["vocab"], key=model["vocab"].get)
    scored = [(p, math.log(max(counts[p], 0.5) / total)) for p in pieces]
    return (("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *scored)


def train_t5_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 500) -> T5Tokenizer:
    """Build a SentencePiece-style Unigram tokenizer from ``corpus``, wrapped as T5Tokenizer.

    Ids follow T5: ``<pad>``=0, ``</s>``=1, ``<unk>``=2; no sentinel ``<extra_id_*>`` tokens.
    Characters never seen in the corpus map to ``<unk>``, as with a real SentencePiece model.
    Deterministic: the same corpus always gives the same vocabulary.
    """
    vocab = _unigram_vocab(tuple(_corpus(corpus)), vocab_size)
    # transformers 5 builds T5Tokenizer straight from a (piece, score) list.
    return T5Tokenizer(vocab=list(vocab), extra_ids=0, model_max_length=512)


# CLIP's BPE marks the last character of a word with "</w>". To learn such merges with a
# plain (deterministic) BpeTrainer, each word-final character c is first spelled as its
# own private-use character chr(_FINAL + ord(c)), then mapped back to c + "</w>".
_FINAL = 0xF0000


def _to_final(word: str) -> str:
    return word[:-1] + chr(_FINAL + ord(word[-1]))


def _from_final(piece: str) -> str:
    last = ord(piece[-1])
    return piece[:-1] + chr(last - _FINAL) + "</w>" if last >= _FINAL else piece


def train_clip_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 800) -> CLIPTokenizer:
    """Train a CLIP-style byte-level BPE (lowercase, ``</w>`` word ends) as CLIPTokenizer.

    Every byte is in the vocabulary both inside and at the end of a word, like real CLIP,
    so no input ever maps to unk. Deterministic for a given corpus.
    """
    bos, eos = "<|startoftext|>", "<|endoftext|>"
    # An untrained CLIPTokenizer carries exactly the normalizer and pre-tokenizer that
    # encoding will use; split the corpus with them so training sees the same words.
    backend = CLIPTokenizer().backend_tokenizer
    normalizer, pre_tokenizer = backend.normalizer, backend.pre_tokenizer
    # CLIP's split pattern never crosses a space: pre-tokenize each distinct chunk once.
    chunks = Counter(c for text in _corpus(corpus) for c in normalizer.normalize_str(text).split(" ") if c)
    word_counts: Counter[str] = Counter()
    for chunk, n in chunks.items():
        for w, _ in pre_tokenizer.pre_tokenize_str(chunk):
            word_counts[_to_final(w)] += n
    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    alphabet = byte_chars + [_to_final(c) for c in byte_chars]
    # The two special tokens come on top of the BPE's own vocabulary.
    model = _train_bpe(word_counts, max(vocab_size - 2, len(alphabet)), alphabet)
    vocab = {bos: 0, eos: 1}
    for piece in sorted(model["vocab"], key=model["vocab"].get):
        vocab.setdefault(_from_final(piece), len(vocab))
    merges = [(_from_final(a), _from_final(b)) for a, b in model["merges"]]
    return CLIPTokenizer(
        vocab=vocab, merges=merges, bos_token=bos, eos_token=eos, unk_token=eos, pad_token=eos,
        model_max_length=CLIP_MAX_LEN,
    )


def _t5_encoder(vocab_size: int, umt5: bool = False):
    """A 2-layer T5 (or UMT5) encoder of width TEXT_DIM."""
    kwargs = dict(
        vocab_size=vocab_size, d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    torch.manual_seed(0)
    if umt5:
        return UMT5EncoderModel(UMT5Config(**kwargs)).eval()
    return T5EncoderModel(T5Config(**kwargs)).eval()


def _save(pipe, path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(path)
    return path


def save_tiny_cogvideox(path, corpus: Iterable[str] | None = None) -> Path:
    """Save a tiny CogVideoXPipeline (T5 text encoder, 1-layer transformer, 4-block VAE).

    The VAE compresses 8x in space and 4x in time, so the defaults (16x16, 9 frames)
    give a 2x2x3 latent: one 2x2 patch per latent frame.
    """
    tokenizer = train_t5_tokenizer(corpus)
    text_encoder = _t5_encoder(len(tokenizer))
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4, attention_head_dim=8,  # inner dim 32, divisible by 16 for 3D sincos
        in_channels=4, out_channels=4, time_embed_dim=8, text_embed_dim=TEXT_DIM, num_layers=1,
        sample_width=2, sample_height=2, sample_frames=9, patch_size=2, temporal_compression_ratio=4,
        max_text_seq_length=COGVIDEOX_TEXT_LEN,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    # The CogVideoX-2b scheduler settings (v-prediction, zero-SNR, trailing spacing).
    scheduler = CogVideoXDDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True,
        snr_shift_scale=3.0, timestep_spacing="trailing",
    )
    pipe = CogVideoXPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
    )
    return _save(pipe, path)


def save_tiny_wan(path, corpus: Iterable[str] | None = None) -> Path:
    """Save a tiny WanPipeline (Wan2.1 text-to-video: UMT5 encoder, 2-layer transformer).

    The Wan VAE compresses 8x in space and 4x in time: 16x16 with 9 frames is a
    2x2x3 latent. Pass height/width/num_frames explicitly, the pipeline defaults are 480p.
    """
    tokenizer = train_t5_tokenizer(corpus)
    text_encoder = _t5_encoder(len(tokenizer), umt5=True)
    torch.manual_seed(0)
    # z_dim stays 16 because the VAE's default latents_mean/std have 16 entries.
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=TEXT_DIM, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(shift=5.0)
    pipe = WanPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer
    )
    return _save(pipe, path)


def save_tiny_text_to_image(path, corpus: Iterable[str] | None = None) -> Path:
    """Save a tiny StableDiffusionPipeline (CLIP text encoder, 2-level UNet, 2-level VAE).

    The VAE compresses 2x, so a 16x16 image is an 8x8 latent. No safety checker.
    """
    tokenizer = train_clip_tokenizer(corpus)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=TEXT_DIM, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=CLIP_MAX_LEN, layer_norm_eps=1e-5,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_DIM, norm_num_groups=2,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(4, 8), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=2,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, sample_size=16,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False,
    )
    return _save(pipe, path)
