"""MPS (Multi-dimensional Preference Score, Kwai-Kolors, CVPR 2024) as a video reward: ``MPS``.

A per-image human-preference score conditioned on a preference aspect (the released
checkpoint is the "overall" one); the network is described in
:mod:`prompt_a_video.rewards.real.mps_model`. A video's score is the mean over
``num_frames`` uniformly sampled frames of the image score against the ORIGINAL prompt.

Scale: ``logit_scale.exp() * cosine``, bounded by +-100 (CLIP caps the logit scale at
100). Its absolute level carries little meaning: it was trained on pairwise preferences
(a softmax over the scores of two images for one prompt), so compare scores of videos for
the same prompt and let the composite reward normalise it; measure its spread on your own
renders before setting a floor.

Checkpoint: ``MPS_overall_checkpoint.pth`` (Google Drive link in the Kwai-Kolors/MPS
README; not on the hub). It is a pickled whole module, read here without the authors'
code (:mod:`prompt_a_video.rewards.real.checkpoint`); a ``.safetensors``/``.pth`` state
dict in either the authors' or our key layout loads as well. The CLIP configuration,
image processor and tokenizer come from ``clip_model`` (no weights are read from it: the
checkpoint holds the fine-tuned CLIP).
"""

from __future__ import annotations

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.real._frames import sampled_pil_frames, split_means
from prompt_a_video.rewards.real._runtime import (
    PIXELS_BACKEND,
    LazyLoaded,
    check_dtype,
    check_positive,
    resolve_device,
    torch_dtype,
)
from prompt_a_video.video import Video

# The condition of the released "overall" MPS model (verbatim: it is an input the model
# was trained with).
OVERALL_CONDITION = (
    "light, color, clarity, tone, style, ambiance, artistry, shape, face, hair, hands, limbs, "
    "structure, instance, texture, quantity, attributes, position, number, location, word, things."
)


class MPSReward(LazyLoaded, Reward):
    """Mean MPS of sampled frames against the original prompt; dimension ``MPS``, higher is better.

    Args:
        checkpoint: the MPS weights file (``MPS_overall_checkpoint.pth``, or a state dict
            as ``.safetensors``/``.pth``).
        clip_model: CLIP configuration + processor + tokenizer the checkpoint was trained
            with (hub id or local folder): ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``.
        revision: hub revision of ``clip_model``.
        condition: the preference condition text; the overall model's by default.
        condition_threshold: prompt tokens whose normalised relevance to the condition is
            at most this are hidden from the image. 0.3 is the authors' evaluation value
            (their training code used 0.01).
        num_frames: frames sampled uniformly per video (all frames if the clip is shorter).
        batch_size: frames per forward pass.
        device: ``cuda``, ``cpu``...; None = CUDA when available.
        dtype: weights dtype; the authors ran it in float16.
    """

    dimensions = ("MPS",)

    def __init__(
        self,
        checkpoint: str,
        clip_model: str = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        revision: str | None = None,
        condition: str = OVERALL_CONDITION,
        condition_threshold: float = 0.3,
        num_frames: int = 8,
        batch_size: int = 16,
        device: str | None = None,
        dtype: str = "float16",
    ) -> None:
        if not condition.strip():
            raise ValueError("MPSReward.condition must be a non-empty text")
        if not 0.0 <= condition_threshold < 1.0:
            raise ValueError(f"MPSReward.condition_threshold must be in [0, 1), got {condition_threshold}")
        self.checkpoint = str(checkpoint)
        self.clip_model = clip_model
        self.revision = revision
        self.condition = condition
        self.condition_threshold = float(condition_threshold)
        self.num_frames = check_positive("MPSReward", "num_frames", num_frames)
        self.batch_size = check_positive("MPSReward", "batch_size", batch_size)
        self.device = device
        self.dtype = check_dtype("MPSReward", dtype)

    @property
    def fingerprint(self) -> str:
        import hashlib

        condition = hashlib.sha256(self.condition.encode()).hexdigest()[:12]
        return (f"MPSReward(checkpoint={self.checkpoint}, clip_model={self.clip_model}, revision={self.revision}, "
                f"condition={condition}, threshold={self.condition_threshold}, num_frames={self.num_frames}, "
                f"dtype={self.dtype})")

    def _build(self):
        """(processor, MPSModel) on the device."""
        from transformers import CLIPConfig, CLIPModel, CLIPProcessor

        from prompt_a_video.rewards.real.checkpoint import load_state_dict
        from prompt_a_video.rewards.real.mps_model import FusionSpec, MPSModel, map_mps_keys

        owner = "MPSReward.checkpoint"
        state = map_mps_keys(load_state_dict(self.checkpoint, owner))
        try:
            spec = FusionSpec.from_state_dict(state)
        except (KeyError, ValueError) as err:
            raise ValueError(f"{owner}: {self.checkpoint} is not an MPS checkpoint: {err}") from None
        config = CLIPConfig.from_pretrained(self.clip_model, revision=self.revision)
        processor = CLIPProcessor.from_pretrained(self.clip_model, revision=self.revision, backend=PIXELS_BACKEND)
        with _skip_init():  # every weight comes from the checkpoint
            model = MPSModel(CLIPModel(config), spec)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{owner}: {self.checkpoint} does not match CLIP {self.clip_model} + fusion {spec}: "
                             f"missing {missing[:5]}, unexpected {unexpected[:5]}")
        model = model.to(resolve_device(self.device), torch_dtype(self.dtype)).eval()
        return processor, model

    def _ids(self, processor, texts: list[str], device) -> torch.Tensor:
        # Padded to the full context without attention mask, as MPS was trained.
        tok = processor.tokenizer
        return tok(texts, max_length=tok.model_max_length, padding="max_length", truncation=True,
                   return_tensors="pt").input_ids.to(device)

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        processor, model = self._load()
        device = next(model.parameters()).device
        frames = [sampled_pil_frames(v, self.num_frames, "MPSReward") for v in videos]
        images = [f for fs in frames for f in fs]
        owners = torch.tensor([i for i, fs in enumerate(frames) for _ in fs], device=device)
        condition_ids = self._ids(processor, [self.condition], device)
        scores = []
        for start in range(0, len(images), self.batch_size):
            rows = owners[start:start + self.batch_size]
            used = rows.unique()  # encode only the prompts of this chunk
            pixels = processor.image_processor(images=images[start:start + self.batch_size],
                                               return_tensors="pt")["pixel_values"]
            prompt_ids = self._ids(processor, [prompts[i] for i in used.tolist()], device)
            scores.append(model(pixels.to(device, model.clip.dtype), prompt_ids, condition_ids,
                                torch.searchsorted(used, rows), self.condition_threshold).cpu())
        return {"MPS": split_means(torch.cat(scores), [len(fs) for fs in frames])}


def _skip_init():
    """Skip random initialisation of weights that a checkpoint overwrites (transformers' helper when present)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # older transformers
        from contextlib import nullcontext

        return nullcontext()
    return no_init_weights()
