"""Rewards backed by real pretrained models (the paper's metrics).

- :class:`VideoScoreReward` (``VQ, TC, DD, TVA, FC``, ~1-4): TIGER-Lab VideoScore v1 / v1.1.
- :class:`AestheticReward` (``AES``, ~1-10): LAION aesthetic predictor v2 on CLIP ViT-L/14.
- :class:`MPSReward` (``MPS``): Kwai-Kolors Multi-dimensional Preference Score (CLIP-H + fusion).
- :class:`CLIPScoreReward` (``CLIP``, 0-100): torchmetrics CLIPScore.

Each loads its weights on first use (building one from a YAML reads nothing) by hub id or
local folder; `docs/real-rewards.md` lists checkpoints, scales and memory. Importing this
package is cheap: transformers is imported when a model is loaded.
"""

from prompt_a_video.rewards.real.aesthetic import AestheticReward
from prompt_a_video.rewards.real.clip_score import CLIPScoreReward
from prompt_a_video.rewards.real.mps import MPSReward
from prompt_a_video.rewards.real.videoscore import VideoScoreReward

__all__ = ["AestheticReward", "CLIPScoreReward", "MPSReward", "VideoScoreReward"]
