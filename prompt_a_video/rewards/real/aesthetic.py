"""LAION aesthetic predictor (v2, "improved aesthetic predictor") as a video reward: ``AES``.

The predictor rates how beautiful an image looks, on the 1-10 scale of the AVA / LAION
aesthetic ratings it was trained on (most real images land in 4-7; generated frames of
good quality around 5-6.5). It is a head on a frozen CLIP image embedding:

1. CLIP ViT-L/14 image embedding (OpenAI weights; ``encode_image`` = projection of the
   post-layernormed class token = transformers ``CLIPVisionModelWithProjection.image_embeds``),
   preprocessed by the checkpoint's CLIP processor (resize 224, centre crop, CLIP mean/std).
2. L2 normalisation of the embedding (the head was trained on unit vectors, so scale
   must not matter).
3. The head: the improved predictor's MLP ``768 -> 1024 -> 128 -> 64 -> 16 -> 1`` with
   dropouts; the default ``*-linearMSE.pth`` heads have no activations (as published),
   the ``*-reluMSE.pth`` ones a ReLU after each of the first four layers. Or the older v1
   single linear layer. Which one is read from the state dict's keys.

A video's score is the mean over ``num_frames`` uniformly sampled frames.
"""

from __future__ import annotations

import torch
from torch import nn

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

# The published heads are nn.Sequential state dicts; the indices of their five Linear
# layers tell the two v2 variants apart: "linearMSE" (the default predictor, no
# activations) and "reluMSE" (ReLU after each of the first four Linears).
MLP_LAYOUTS = {(0, 2, 4, 6, 7): False, (0, 3, 6, 9, 11): True}  # Linear indices -> relu
MLP_DROPOUTS = (0.2, 0.2, 0.1)  # after the first three Linears (inactive in eval)


class AestheticHead(nn.Module):
    """Embedding -> aesthetic rating: ``float [N, D]`` (any norm) -> ``[N]``, ~1-10.

    Normalises its input to unit L2 norm first. ``layers`` is either one ``Linear(D, 1)``
    (v1 heads) or a v2 MLP laid out like the published state dicts (``layers.0.weight``...).
    """

    def __init__(self, widths: list[int], relu: bool = False) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        n_linear = len(widths) - 1
        for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
            modules.append(nn.Linear(d_in, d_out))
            if relu and i < n_linear - 1:
                modules.append(nn.ReLU())
            if n_linear > 1 and i < len(MLP_DROPOUTS):
                modules.append(nn.Dropout(MLP_DROPOUTS[i]))  # keeps the published indices
        self.layers = nn.Sequential(*modules)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], owner: str) -> AestheticHead:
        """Build the head the state dict describes (v1 linear, v2 linear or ReLU MLP) and load it."""
        if set(state) == {"weight", "bias"}:  # v1: a bare nn.Linear(D, 1)
            w = state["weight"]
            head = cls([int(w.shape[1]), int(w.shape[0])])
            head.layers[0].load_state_dict(state)
        else:
            layouts = {indices: {f"layers.{i}.{p}" for i in indices for p in ("weight", "bias")}
                       for indices in MLP_LAYOUTS}
            indices = next((ix for ix, keys in layouts.items() if set(state) == keys), None)
            if indices is None:
                raise ValueError(
                    f"{owner}: unrecognised aesthetic head: keys {sorted(state)[:6]}...; expected a v1 linear head "
                    f"('weight', 'bias') or a v2 MLP (Linear layers at layers.{{0,2,4,6,7}} or layers.{{0,3,6,9,11}})"
                )
            widths = [int(state[f"layers.{indices[0]}.weight"].shape[1])]
            widths += [int(state[f"layers.{i}.weight"].shape[0]) for i in indices]
            head = cls(widths, relu=MLP_LAYOUTS[indices])
            head.load_state_dict(state)
        if head.layers[-1].out_features != 1:
            raise ValueError(f"{owner}: the head must output one rating, not {head.layers[-1].out_features}")
        return head.eval()

    @property
    def input_dim(self) -> int:
        return self.layers[0].in_features

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        x = embeds / embeds.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return self.layers(x.to(self.layers[0].weight.dtype)).squeeze(-1)


class AestheticReward(LazyLoaded, Reward):
    """LAION aesthetic score of a video: mean over sampled frames; dimension ``AES``, ~1-10, higher is better.

    Args:
        head: path to the head's state dict: ``.pth`` (e.g. ``sac+logos+ava1-l14-linearMSE.pth``
            from the improved-aesthetic-predictor repository) or ``.safetensors``; v1
            linear, v2 linear and v2 ReLU heads are told apart by their keys.
        clip_model: CLIP checkpoint (hub id or local folder) whose image embedding the head
            was trained on: ViT-L/14 for the published heads. Only the vision tower and
            its projection are loaded.
        revision: hub revision of ``clip_model`` (None = default branch).
        num_frames: frames sampled uniformly per video (all frames if the clip is shorter).
        batch_size: frames per CLIP forward pass.
        device: ``cuda``, ``cuda:1``, ``cpu``...; None = CUDA when available.
        dtype: CLIP weights dtype; the head always runs in float32.
    """

    dimensions = ("AES",)

    def __init__(
        self,
        head: str,
        clip_model: str = "openai/clip-vit-large-patch14",
        revision: str | None = None,
        num_frames: int = 8,
        batch_size: int = 32,
        device: str | None = None,
        dtype: str = "float32",
    ) -> None:
        self.head = str(head)
        self.clip_model = clip_model
        self.revision = revision
        self.num_frames = check_positive("AestheticReward", "num_frames", num_frames)
        self.batch_size = check_positive("AestheticReward", "batch_size", batch_size)
        self.device = device
        self.dtype = check_dtype("AestheticReward", dtype)

    @property
    def fingerprint(self) -> str:
        return (f"AestheticReward(head={self.head}, clip_model={self.clip_model}, revision={self.revision}, "
                f"num_frames={self.num_frames}, dtype={self.dtype})")

    def _build(self):
        """(processor, vision tower with projection, head) on the device."""
        from transformers import AutoImageProcessor, CLIPVisionModelWithProjection

        from prompt_a_video.rewards.real.checkpoint import load_state_dict

        device = resolve_device(self.device)
        owner = "AestheticReward.head"
        head = AestheticHead.from_state_dict(load_state_dict(self.head, owner), owner)
        processor = AutoImageProcessor.from_pretrained(self.clip_model, revision=self.revision,
                                                       backend=PIXELS_BACKEND)
        vision = CLIPVisionModelWithProjection.from_pretrained(
            self.clip_model, revision=self.revision, dtype=torch_dtype(self.dtype)
        ).to(device).eval()
        if vision.config.projection_dim != head.input_dim:
            raise ValueError(
                f"AestheticReward.head: {self.head} takes {head.input_dim}-d embeddings but "
                f"clip_model {self.clip_model} projects to {vision.config.projection_dim}"
            )
        return processor, vision, head.to(device)

    def image_embeddings(self, images: list) -> torch.Tensor:
        """CLIP image embeddings (un-normalised) of PIL images: ``[N, D]`` float32."""
        processor, vision, _ = self._load()
        out = []
        for start in range(0, len(images), self.batch_size):
            pixels = processor(images=images[start:start + self.batch_size], return_tensors="pt")["pixel_values"]
            pixels = pixels.to(vision.device, vision.dtype)
            out.append(vision(pixel_values=pixels).image_embeds.float())
        return torch.cat(out)

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        _, _, head = self._load()
        frames = [sampled_pil_frames(v, self.num_frames, "AestheticReward") for v in videos]
        ratings = head(self.image_embeddings([f for fs in frames for f in fs])).cpu()
        return {"AES": split_means(ratings, [len(fs) for fs in frames])}
