"""Offline rewards: no hub weights, CPU, the defaults on machines without a model hub.

They mirror VideoScore's dimensions with classical measures, each in ``[0, 1]`` (higher
is better; see ``docs/rewards.md``):

- :class:`VisualQualityReward` (``VQ``): PIQE + sharpness + exposure + colourfulness.
- :class:`TemporalConsistencyReward` (``TC``): SSIM of consecutive frames (optionally flow-warped).
- :class:`DynamicDegreeReward` (``DD``): Farneback optical-flow speed.
- :class:`PromptFidelityReward` (``PF``): sentence-embedding cosine, original vs rendered prompt.
- :class:`SceneAlignmentReward` (``TVA``): what the synthetic backbone drew vs what was asked.

Heavy dependencies (OpenCV, transformers) are imported when a reward first scores.
"""

from prompt_a_video.rewards.offline.dynamic_degree import DynamicDegreeReward
from prompt_a_video.rewards.offline.prompt_fidelity import PromptFidelityReward
from prompt_a_video.rewards.offline.scene_alignment import SceneAlignmentReward
from prompt_a_video.rewards.offline.temporal_consistency import TemporalConsistencyReward
from prompt_a_video.rewards.offline.visual_quality import VisualQualityReward

__all__ = [
    "DynamicDegreeReward",
    "PromptFidelityReward",
    "SceneAlignmentReward",
    "TemporalConsistencyReward",
    "VisualQualityReward",
]
