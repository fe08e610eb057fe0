"""The Reward contract: shapes checked, one bad item never sinks the batch."""

import pytest
import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.video import Video


def _video(value: int) -> Video:
    return Video(torch.full((2, 4, 4, 3), value, dtype=torch.uint8), fps=8.0)


class Brightness(Reward):
    """Mean pixel value / 255; a video of value 13 raises, one of value 99 gives NaN."""

    dimensions = ("B",)
    fingerprint = "brightness-v1"

    def score_batch(self, videos, prompts):
        values = []
        for v in videos:
            if int(v.frames[0, 0, 0, 0]) == 13:
                raise RuntimeError("decoder exploded")
            values.append(float("nan") if int(v.frames[0, 0, 0, 0]) == 99 else v.frames.float().mean() / 255)
        return {"B": torch.tensor(values)}


def test_scores_per_item_in_order():
    scores = Brightness().score([_video(0), _video(255)], ["a", "b"])
    assert scores["B"].tolist() == [0.0, 1.0] and scores.failures == {}
    assert scores.item(1) == {"B": 1.0}


def test_an_exception_fails_only_its_item_with_the_reason():
    scores = Brightness().score([_video(0), _video(13), _video(255)], ["a", "b", "c"])
    assert scores["B"][0] == 0.0 and scores["B"][2] == 1.0 and torch.isnan(scores["B"][1])
    assert list(scores.failures) == [1] and "decoder exploded" in scores.failures[1]


def test_non_finite_scores_fail_the_item_and_tensors_stay_editable():
    scores = Brightness().score([_video(99), _video(255)], ["a", "b"])
    assert list(scores.failures) == [0] and "non-finite B" in scores.failures[0]
    scores["B"][1] = 0.5  # a caller may edit the result (no inference-mode tensor leaks out)


def test_mismatched_lengths_and_wrong_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="2 videos but 1 prompts"):
        Brightness().score([_video(0), _video(0)], ["a"])

    class Short(Brightness):
        def score_batch(self, videos, prompts):
            return {"B": torch.zeros(len(videos) + 1)}

    scores = Short().score([_video(0), _video(0)], ["a", "b"])  # always the wrong count: every item fails, with the reason
    assert set(scores.failures) == {0, 1} and "returned 2 B scores for 1 videos" in scores.failures[0]


def test_video_validates_its_frames():
    with pytest.raises(TypeError, match="uint8"):
        Video(torch.zeros(1, 4, 4, 3), fps=8)
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\]"):
        Video(torch.zeros(4, 4, 3, dtype=torch.uint8), fps=8)
    assert _video(0).content_hash() != _video(1).content_hash()
    assert _video(0).content_hash() == _video(0).content_hash()
