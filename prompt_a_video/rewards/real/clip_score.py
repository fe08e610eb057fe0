"""CLIPScore (text-frame alignment) as a video reward: ``CLIP``, 0-100.

Computed by ``torchmetrics.multimodal.CLIPScore``: ``max(100 * cos(E_image, E_text), 0)``
with CLIP's projected embeddings. Per video, the frames sampled uniformly are scored
against the ORIGINAL prompt and averaged (torchmetrics averages, then clips at 0). With
CLIP ViT-L/14, frames that match their prompt typically score 25-35; unrelated pairs
15-20. Prompts longer than CLIP's 77 tokens are truncated by torchmetrics (it warns).

The model is loaded by us (``CLIPModel``/``CLIPProcessor.from_pretrained``) and handed to
torchmetrics through its callable ``model_name_or_path``: torchmetrics itself only accepts
a fixed list of hub names, so a local folder would be rejected. A thin adapter also
returns plain tensors from ``get_image_features``/``get_text_features``, which
transformers 5 wraps in a ``BaseModelOutputWithPooling`` that torchmetrics <= 1.9 cannot
normalise.
"""

from __future__ import annotations

import torch
from torch import nn

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.real._frames import checked_frames, uniform_indices
from prompt_a_video.rewards.real._runtime import PIXELS_BACKEND, LazyLoaded, check_positive, resolve_device
from prompt_a_video.video import Video


class _TensorFeaturesCLIP(nn.Module):
    """A ``CLIPModel`` whose ``get_*_features`` return the projected embeddings as tensors."""

    def __init__(self, clip) -> None:
        super().__init__()
        self.clip = clip
        self.config = clip.config

    @staticmethod
    def _tensor(out) -> torch.Tensor:
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self._tensor(self.clip.get_image_features(pixel_values=pixel_values.to(self.clip.dtype)))

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self._tensor(self.clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask))


class CLIPScoreReward(LazyLoaded, Reward):
    """Mean CLIPScore of sampled frames against the original prompt; dimension ``CLIP``, 0-100.

    Args:
        model_name_or_path: CLIP checkpoint, hub id or local folder (weights + processor).
        revision: hub revision (None = default branch).
        num_frames: frames sampled uniformly per video (all frames if the clip is shorter).
        device: ``cuda``, ``cpu``...; None = CUDA when available. Weights stay float32
            (torchmetrics feeds float32 pixels to the model).
    """

    dimensions = ("CLIP",)

    def __init__(
        self,
        model_name_or_path: str = "openai/clip-vit-large-patch14",
        revision: str | None = None,
        num_frames: int = 8,
        device: str | None = None,
    ) -> None:
        self.model_name_or_path = model_name_or_path
        self.revision = revision
        self.num_frames = check_positive("CLIPScoreReward", "num_frames", num_frames)
        self.device = device

    @property
    def fingerprint(self) -> str:
        return (f"CLIPScoreReward(model={self.model_name_or_path}, revision={self.revision}, "
                f"num_frames={self.num_frames})")

    def _load_model_and_processor(self):
        from transformers import CLIPModel, CLIPProcessor

        model = CLIPModel.from_pretrained(self.model_name_or_path, revision=self.revision).eval()
        processor = CLIPProcessor.from_pretrained(self.model_name_or_path, revision=self.revision,
                                                  backend=PIXELS_BACKEND)
        return _TensorFeaturesCLIP(model).eval(), processor

    def _build(self):
        """The torchmetrics ``CLIPScore`` holding our model, on the device."""
        from torchmetrics.multimodal import CLIPScore

        metric = CLIPScore(model_name_or_path=self._load_model_and_processor)
        return metric.to(resolve_device(self.device))

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        metric = self._load()
        out = []
        for video, prompt in zip(videos, prompts):
            frames = checked_frames(video, "CLIPScoreReward")
            idx = uniform_indices(int(frames.shape[0]), self.num_frames)
            images = frames[idx].permute(0, 3, 1, 2).to(metric.device)  # uint8 [N, 3, H, W]: all frames in one pass
            metric.reset()
            metric.update(images, [prompt] * len(idx))
            out.append(metric.compute().float().cpu())
        metric.reset()
        return {"CLIP": torch.stack(out)}
