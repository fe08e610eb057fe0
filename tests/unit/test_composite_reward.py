"""CompositeReward: the paper's formulas worked out by hand, floors, normalisation, failures.

Members are stub rewards that return fixed per-item values, so every expected number
below is plain arithmetic on the table.
"""

from __future__ import annotations

import math

import pytest
import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.composite import CompositeReward
from prompt_a_video.video import Video


class Fixed(Reward):
    """Returns ``table[dim][video.meta["i"]]``; a video with ``meta["fail"]`` raises that text."""

    def __init__(self, table: dict[str, list[float]], tag: str = "") -> None:
        self.table = table
        self.tag = tag
        self.dimensions = tuple(table)

    @property
    def fingerprint(self) -> str:
        return f"Fixed{self.tag}({sorted(self.table)})"

    def score_batch(self, videos, prompts):
        for v in videos:
            if "fail" in v.meta:
                raise RuntimeError(v.meta["fail"])
        return {d: torch.tensor([vals[v.meta["i"]] for v in videos]) for d, vals in self.table.items()}


def items(n: int, fail: dict[int, str] | None = None) -> tuple[list[Video], list[str]]:
    fail = fail or {}
    videos = [
        Video(torch.zeros(1, 2, 2, 3, dtype=torch.uint8), 8.0, {"i": i, **({"fail": fail[i]} if i in fail else {})})
        for i in range(n)
    ]
    return videos, [f"prompt {i}" for i in range(n)]


# Two items on the paper's scales: VideoScore dims 1-4, AES 1-10, MPS ~0-15.
VIDEOSCORE = {"VQ": [3.0, 2.0], "TC": [2.5, 3.0], "DD": [2.0, 3.0], "TVA": [2.8, 3.2], "FC": [3.5, 2.6]}
AES_MPS = {"AES": [6.0, 4.0], "MPS": [12.0, 9.0]}


# Text-quality and intent scores above every text floor (REP > 0.75, FLU > -8.5, LEAK > 0.8, INT > 0.7, LEX > 0.5,
# TAG > 0.5).
CLEAN_TEXT = {"REP": [1.0, 1.0, 1.0], "FLU": [-3.0, -3.0, -3.0], "LEAK": [1.0, 1.0, 1.0], "INT": [1.0, 1.0, 1.0],
              "LEX": [1.0, 1.0, 1.0], "TAG": [1.0, 1.0, 1.0]}


def text_member(**override) -> Reward:
    return Fixed({**CLEAN_TEXT, **override}, "T")


def paper_members() -> list[Reward]:
    return [Fixed(VIDEOSCORE, "VS"), Fixed({"AES": AES_MPS["AES"]}, "A"), Fixed({"MPS": AES_MPS["MPS"]}, "M"),
            text_member()]


def test_evolution_preset_by_hand():
    s = CompositeReward.evolution(paper_members()).score(*items(2))
    # VQ + TC + 0.5*DD + FC + TVA + AES*5/8 + MPS/4
    item0 = 3.0 + 2.5 + 0.5 * 2.0 + 3.5 + 2.8 + 6.0 * 5 / 8 + 12.0 / 4  # = 19.55
    item1 = 2.0 + 3.0 + 0.5 * 3.0 + 2.6 + 3.2 + 4.0 * 5 / 8 + 9.0 / 4  # = 17.05
    torch.testing.assert_close(s["reward"], torch.tensor([item0, item1]))
    assert s["passes_floors"].tolist() == [1.0, 1.0]  # the paper's evolution has no floors, the text ones pass
    for dim, values in {**VIDEOSCORE, **AES_MPS}.items():  # members' raw scores are passed through
        torch.testing.assert_close(s[dim], torch.tensor(values))


def test_pair_filtering_preset_by_hand_and_strict_floors():
    # item 0: every dim exactly at its floor -> fails (strict >);
    # item 1: every dim a hair above -> passes; item 2: as item 1 but DD below -> fails.
    floors = {"VQ": 2.6, "TC": 2.6, "FC": 2.55, "AES": 5.5, "TVA": 2.9, "MPS": 8.5, "DD": 2.65}
    eps = 1e-3
    table = {d: [f, f + eps, f + eps] for d, f in floors.items()}
    table["DD"][2] = 2.0
    videoscore = Fixed({d: table[d] for d in ("VQ", "TC", "FC", "DD", "TVA")})
    members = [videoscore, Fixed({"AES": table["AES"], "MPS": table["MPS"]}), text_member()]
    s = CompositeReward.pair_filtering(members).score(*items(3))
    assert s["passes_floors"].tolist() == [0.0, 1.0, 0.0]

    def formula(v):  # VQ + TC + FC + 1.1*DD + 1.3*TVA + 0.8*AES + MPS/3
        return v["VQ"] + v["TC"] + v["FC"] + 1.1 * v["DD"] + 1.3 * v["TVA"] + 0.8 * v["AES"] + v["MPS"] / 3

    at_floors = 2.6 + 2.6 + 2.55 + 1.1 * 2.65 + 1.3 * 2.9 + 0.8 * 5.5 + 8.5 / 3  # = 21.815 + 2.8333...
    assert formula(floors) == pytest.approx(at_floors)
    expected = [at_floors, formula({d: table[d][1] for d in table}), formula({d: table[d][2] for d in table})]
    torch.testing.assert_close(s["reward"], torch.tensor(expected, dtype=torch.float32))


def test_offline_preset_by_hand():
    members = [
        Fixed({"VQ": [0.8, 0.9], "TC": [0.9, 0.9], "DD": [0.4, 0.6]}),
        Fixed({"PF": [0.7, 0.3], "TVA": [1.0, 0.9]}),
        text_member(),
    ]
    s = CompositeReward.offline(members).score(*items(2))
    # VQ + TC + 0.5*DD + 1.3*TVA (PF is a floor only); floors PF > 0.35, TVA > 0.5
    expected = [0.8 + 0.9 + 0.2 + 1.3, 0.9 + 0.9 + 0.3 + 1.3 * 0.9]
    torch.testing.assert_close(s["reward"], torch.tensor(expected))
    assert s["passes_floors"].tolist() == [1.0, 0.0]  # item 1 drifted from the prompt (PF 0.3)


@pytest.mark.parametrize("dim, value", [("REP", 0.75), ("FLU", -8.5), ("LEAK", 0.8), ("INT", 0.7), ("INT", 0.2),
                                        ("LEX", 0.5), ("LEX", 0.0), ("TAG", 0.5), ("TAG", 0.0)])
@pytest.mark.parametrize("preset", ["evolution", "pair_filtering", "offline"])
def test_every_preset_fails_a_rewrite_at_or_below_a_text_floor(preset, dim, value):
    """Degenerate text can never be best or chosen: each text floor is strict in every preset."""
    scores = {d: [3.5, 3.5, 3.5] for d in ("VQ", "TC", "DD", "TVA", "FC")}
    scores.update(AES=[9.0] * 3, MPS=[12.0] * 3, PF=[0.9] * 3)
    text = {**CLEAN_TEXT, dim: [CLEAN_TEXT[dim][0], value, CLEAN_TEXT[dim][0]]}
    s = CompositeReward([Fixed(scores), Fixed(text, "T")], preset=preset).score(*items(3))
    assert s["passes_floors"].tolist() == [1.0, 0.0, 1.0]


def test_normalisation_maps_lo_hi_to_unit_range_and_clamps():
    members = [Fixed({"VQ": [0.5, 0.5, 0.5]}), Fixed({"AES": [5.5, 10.0, 12.0]})]
    comp = CompositeReward(members, weights={"VQ": 1.0, "AES": 2.0}, normalize={"AES": (1.0, 10.0)})
    s = comp.score(*items(3))
    # AES 5.5 -> (5.5-1)/9 = 0.5; 10 -> 1; 12 -> clamped to 1
    torch.testing.assert_close(s["reward"], torch.tensor([0.5 + 2 * 0.5, 0.5 + 2 * 1.0, 0.5 + 2 * 1.0]))
    torch.testing.assert_close(s["AES"], torch.tensor([5.5, 10.0, 12.0]))  # raw scores are returned
    with pytest.raises(ValueError, match="lo < hi"):
        CompositeReward(members, weights={"VQ": 1.0}, normalize={"AES": (10.0, 1.0)})


def test_floors_apply_to_raw_scores_even_when_normalised():
    members = [Fixed({"AES": [5.6, 5.4]})]
    comp = CompositeReward(members, weights={"AES": 1.0}, floors={"AES": 5.5}, normalize={"AES": (1.0, 10.0)})
    assert comp.score(*items(2))["passes_floors"].tolist() == [1.0, 0.0]


def test_member_failure_propagates_with_reason():
    members = [Fixed({"VQ": [1.0, 2.0, 3.0]}), Fixed({"TC": [1.0, 1.0, 1.0]})]
    comp = CompositeReward(members, weights={"VQ": 1.0, "TC": 1.0})
    s = comp.score(*items(3, fail={1: "decoder exploded"}))
    assert set(s.failures) == {1}
    # both members fail on item 1: both reasons travel
    assert s.failures[1].count("decoder exploded") == 2 and "Fixed" in s.failures[1]
    for dim in comp.dimensions:
        assert math.isnan(float(s[dim][1])), dim
    assert s["reward"][[0, 2]].tolist() == [2.0, 4.0]
    assert s["passes_floors"][[0, 2]].tolist() == [1.0, 1.0]


def test_missing_dimension_is_named_at_construction():
    offline_only = [Fixed({"VQ": [1.0], "TC": [1.0]})]
    expected = r"weights names dimension\(s\) \['AES', 'DD', 'FC', 'MPS', 'TVA'\] .*Fixed -> \['VQ', 'TC'\]"
    with pytest.raises(ValueError, match=expected):
        CompositeReward.evolution(offline_only)
    with pytest.raises(ValueError, match=r"floors names dimension\(s\) \['PF'\]"):
        CompositeReward(offline_only, weights={"VQ": 1.0}, floors={"PF": 0.5})
    with pytest.raises(ValueError, match="'VQ' is provided by both"):
        CompositeReward([Fixed({"VQ": [1.0]}), Fixed({"VQ": [1.0]})], weights={"VQ": 1.0})
    with pytest.raises(ValueError, match="unknown composite reward preset 'nope'"):
        CompositeReward(offline_only, preset="nope")


def test_explicit_settings_replace_the_presets():
    members = [Fixed({"PF": [0.1], "TVA": [0.2], "VQ": [0.0], "TC": [0.0], "DD": [0.0]}), text_member()]
    s = CompositeReward.offline(members, floors={}).score(*items(1))
    assert s["passes_floors"].tolist() == [1.0]  # {} removed the preset's floors
    torch.testing.assert_close(s["reward"], torch.tensor([1.3 * 0.2]))  # PF is not weighted


def test_fingerprint_covers_members_weights_floors_and_normalisation():
    def make(**kw):
        return CompositeReward([Fixed({"VQ": [1.0], "AES": [1.0]}, kw.pop("tag", ""))], **kw)

    base = dict(weights={"VQ": 1.0, "AES": 0.5}, floors={"VQ": 2.0}, normalize={"AES": (1.0, 10.0)})
    fps = {
        make(**base).fingerprint,
        make(**{**base, "weights": {"VQ": 1.0, "AES": 0.6}}).fingerprint,
        make(**{**base, "floors": {"VQ": 2.1}}).fingerprint,
        make(**{**base, "normalize": {"AES": (0.0, 10.0)}}).fingerprint,
        make(**base, tag="other").fingerprint,
    }
    assert len(fps) == 5
    assert make(**base).fingerprint == make(**base).fingerprint


def test_combine_reaggregates_stored_scores():
    comp = CompositeReward([Fixed({"VQ": [0.0], "TVA": [0.0]})], weights={"VQ": 1.0, "TVA": 2.0}, floors={"TVA": 0.5})
    out = comp.combine({"VQ": 0.25, "TVA": 0.5})  # a pool record's plain floats
    assert float(out["reward"]) == pytest.approx(1.25) and float(out["passes_floors"]) == 0.0
    with pytest.raises(KeyError, match="TVA"):
        comp.combine({"VQ": 0.25})


def test_composite_is_built_from_yaml_by_class_path():
    """Members are chosen in YAML by class_path; the offline preset wires the offline rewards."""
    import yaml
    from jsonargparse import ArgumentParser

    text = """
reward:
  class_path: prompt_a_video.rewards.composite.CompositeReward
  init_args:
    preset: offline
    members:
      - class_path: prompt_a_video.rewards.offline.VisualQualityReward
        init_args: {num_frames: 4}
      - class_path: prompt_a_video.rewards.offline.TemporalConsistencyReward
      - class_path: prompt_a_video.rewards.offline.DynamicDegreeReward
      - class_path: prompt_a_video.rewards.offline.PromptFidelityReward
      - class_path: prompt_a_video.rewards.offline.SceneAlignmentReward
      - class_path: prompt_a_video.rewards.text.RepetitionReward
      - class_path: prompt_a_video.rewards.text.FluencyReward
      - class_path: prompt_a_video.rewards.text.LeakageReward
      - class_path: prompt_a_video.rewards.text.IntentReward
      - class_path: prompt_a_video.rewards.text.LexiconReward
      - class_path: prompt_a_video.rewards.text.TagListReward
    normalize: {DD: [0.0, 0.5]}
"""
    parser = ArgumentParser()
    parser.add_argument("--reward", type=Reward)
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # renamed in 4.49
    reward = instantiate(parser.parse_object(yaml.safe_load(text))).reward
    assert isinstance(reward, CompositeReward)
    assert reward.dimensions == ("VQ", "TC", "DD", "PF", "TVA", "REP", "FLU", "LEAK", "INT", "LEX", "TAG", "reward",
                                 "passes_floors")
    assert reward.members[0].num_frames == 4 and reward.normalize == {"DD": (0.0, 0.5)}
    assert reward.fingerprint == CompositeReward.offline(normalize={"DD": (0.0, 0.5)}).fingerprint.replace(
        "num_frames=8", "num_frames=4"
    )
