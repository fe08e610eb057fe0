"""VideoScore (TIGER-Lab, EMNLP 2024): the paper's main reward, five dimensions on a 1-4 scale.

VideoScore is Mantis-8B-Idefics2 (SigLIP vision tower + perceiver resampler + Mistral-7B)
fine-tuned on VideoFeedback (37.6K generated videos rated by people) to regress five
scores from frames and the text prompt:

====  ===========================  =================================================
dim   name                         what it judges
====  ===========================  =================================================
VQ    visual quality               clearness, resolution, brightness, colour
TC    temporal consistency         consistency of objects/people, smoothness of motion
DD    dynamic degree               how much changes
TVA   text-to-video alignment      does the video show the (ORIGINAL) prompt
FC    factual consistency          common sense and physics
====  ===========================  =================================================

Scale: the human ratings were 1 (bad) .. 4 (perfect / like a real video); the regression
outputs are unbounded but land in roughly 1-4 (generated videos mostly 2-3.5).

Versions (same architecture, same query text, different weights):

- ``v1``: ``TIGER-Lab/VideoScore``, trained and run on 16 frames.
- ``v1.1``: ``TIGER-Lab/VideoScore-v1.1``, better text-to-video alignment, run on up to
  48 frames.
- ``TIGER-Lab/VideoScore-anno-only`` is v1 trained without real videos: ``version="v1"``
  with ``model`` set to it.

(``TIGER-Lab/VideoScore-Qwen2-VL`` and VideoScore2 are different architectures: not
supported here.)

Inputs, as the reference inference builds them: ``num_frames`` frames sampled at equal
strides (all frames when the clip is shorter), the regression query below with the
ORIGINAL prompt, followed by one ``<image>`` per frame; the checkpoint's
``Idefics2Processor`` resizes frames (shortest edge 378, longest 980) and expands each
``<image>`` into 64 perceiver tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.real._frames import sampled_pil_frames
from prompt_a_video.rewards.real._runtime import (
    PIXELS_BACKEND,
    LazyLoaded,
    check_dtype,
    check_positive,
    resolve_device,
    torch_dtype,
)
from prompt_a_video.video import Video

DIMENSIONS = ("VQ", "TC", "DD", "TVA", "FC")  # order of the checkpoint's five outputs

# The regression query VideoFeedback's training conversations use (verbatim, including the
# trailing space on one line: it is model input, not prose).
QUERY_TEMPLATE = (
    "\n"
    "Suppose you are an expert in judging and evaluating the quality of AI-generated videos,\n"
    "please watch the following frames of a given video and see the text prompt for generating the video,\n"
    "then give scores from 5 different dimensions:\n"
    "(1) visual quality: the quality of the video in terms of clearness, resolution, brightness, and color\n"
    "(2) temporal consistency, both the consistency of objects or humans and the smoothness of motion or movements\n"
    "(3) dynamic degree, the degree of dynamic changes\n"
    "(4) text-to-video alignment, the alignment between the text prompt and the video content\n"
    "(5) factual consistency, the consistency of the video content with the common-sense and factual knowledge\n"
    "\n"
    "for each dimension, output a float number from 1.0 to 4.0,\n"
    "the higher the number is, the better the video performs in that sub-score, \n"
    "the lowest 1.0 means Bad, the highest 4.0 means Perfect/Real (the video is like a real video)\n"
    "Here is an output example:\n"
    "visual quality: 3.2\n"
    "temporal consistency: 2.7\n"
    "dynamic degree: 4.0\n"
    "text-to-video alignment: 2.3\n"
    "factual consistency: 1.8\n"
    "\n"
    'For this video, the text prompt is "{text_prompt}",\n'
    "all the frames of video are as follows:\n"
)
IMAGE_TOKEN = "<image>"


@dataclass(frozen=True)
class VideoScoreVersion:
    """What differs between VideoScore releases: the default checkpoint and the frame count."""

    model: str
    num_frames: int


VERSIONS = {
    "v1": VideoScoreVersion(model="TIGER-Lab/VideoScore", num_frames=16),
    "v1.1": VideoScoreVersion(model="TIGER-Lab/VideoScore-v1.1", num_frames=48),
}


def build_query(prompt: str, num_images: int) -> str:
    """The model's text input: the query around the ORIGINAL ``prompt``, then one ``<image> `` per frame.

    A literal ``<image>`` inside the prompt would be taken for a frame slot, so it is defused.
    """
    prompt = prompt.replace(IMAGE_TOKEN, "image")
    return QUERY_TEMPLATE.format(text_prompt=prompt) + f"{IMAGE_TOKEN} " * num_images


class VideoScoreReward(LazyLoaded, Reward):
    """VideoScore's five scores of each video; dimensions ``VQ, TC, DD, TVA, FC``, ~1-4, higher is better.

    Args:
        version: ``"v1"`` or ``"v1.1"``; sets the default ``model`` and ``num_frames``.
        model: checkpoint (hub id or local folder) in the VideoScore layout; None = the
            version's (``TIGER-Lab/VideoScore`` / ``TIGER-Lab/VideoScore-v1.1``).
        revision: hub revision of ``model`` (None = default branch).
        num_frames: frames per video; None = the version's (16 / 48).
        batch_size: videos per forward pass (each brings ``num_frames`` x 64 image tokens).
        device: ``cuda``, ``cuda:1``, ``cpu``...; None = CUDA when available.
        dtype: weights dtype; the checkpoints are bfloat16.
        attn_implementation: ``sdpa``, ``eager``, ``flash_attention_2``; None = transformers' default.
    """

    dimensions = DIMENSIONS

    def __init__(
        self,
        version: str = "v1",
        model: str | None = None,
        revision: str | None = None,
        num_frames: int | None = None,
        batch_size: int = 1,
        device: str | None = None,
        dtype: str = "bfloat16",
        attn_implementation: str | None = None,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"VideoScoreReward.version must be one of {sorted(VERSIONS)}, got {version!r}")
        defaults = VERSIONS[version]
        self.version = version
        self.model = model or defaults.model
        self.revision = revision
        self.num_frames = check_positive("VideoScoreReward", "num_frames",
                                         defaults.num_frames if num_frames is None else num_frames)
        self.batch_size = check_positive("VideoScoreReward", "batch_size", batch_size)
        self.device = device
        self.dtype = check_dtype("VideoScoreReward", dtype)
        self.attn_implementation = attn_implementation

    @property
    def fingerprint(self) -> str:
        return (f"VideoScoreReward(version={self.version}, model={self.model}, revision={self.revision}, "
                f"num_frames={self.num_frames}, dtype={self.dtype})")

    def _build(self):
        """(processor with right padding, model) on the device."""
        from transformers import AutoProcessor

        try:
            model = self._load_model()
        except (OSError, RuntimeError, ValueError) as err:
            raise ValueError(f"VideoScoreReward.model: cannot load {self.model} as a VideoScore checkpoint "
                             f"(Idefics2 + a {len(DIMENSIONS)}-output score head): {err}") from err
        processor = AutoProcessor.from_pretrained(self.model, revision=self.revision, backend=PIXELS_BACKEND)
        tokenizer = processor.tokenizer
        # Right padding keeps every real token's position (and so its output) the same
        # as in an unpadded forward; the pad token only fills masked positions.
        tokenizer.padding_side = "right"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
        return processor, model.eval()

    def _load_model(self):
        from transformers import Idefics2Config

        from prompt_a_video.rewards.real.videoscore_model import VideoScoreRegressionModel

        # The head size comes from the config's label map; name the five outputs explicitly
        # so a config saved without one still builds Linear(hidden, 5). A checkpoint whose
        # head is not 5 wide then fails on the weight shapes.
        config = Idefics2Config.from_pretrained(self.model, revision=self.revision)
        config.id2label = dict(enumerate(DIMENSIONS))
        config.label2id = {d: i for i, d in enumerate(DIMENSIONS)}
        # device_map loads the shards straight onto the device: no 17 GB staging in RAM.
        kwargs = {"revision": self.revision, "dtype": torch_dtype(self.dtype), "config": config,
                  "device_map": str(resolve_device(self.device))}
        if self.attn_implementation:
            kwargs["attn_implementation"] = self.attn_implementation
        return VideoScoreRegressionModel.from_pretrained(self.model, **kwargs)

    def build_inputs(self, videos: list[Video], prompts: list[str]):
        """The processor's batch for ``videos``: ``input_ids``/``attention_mask`` ``[B, S]``,
        ``pixel_values`` ``[B, frames, 3, H, W]``, ``pixel_attention_mask``. Loads the model on first use."""
        processor, _ = self._load()
        frames = [sampled_pil_frames(v, self.num_frames, "VideoScoreReward") for v in videos]
        texts = [build_query(p, len(fs)) for p, fs in zip(prompts, frames)]
        return processor(text=texts, images=frames, padding=True, return_tensors="pt")

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        _, model = self._load()
        out = []
        for start in range(0, len(videos), self.batch_size):
            batch = self.build_inputs(videos[start:start + self.batch_size], prompts[start:start + self.batch_size])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
            out.append(model(**batch).float().cpu())
        scores = torch.cat(out)  # [B, 5]
        return {dim: scores[:, i] for i, dim in enumerate(DIMENSIONS)}
