"""Evaluation statistics and text metrics, worked out by hand on toy runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from prompt_a_video.evaluation.statistics import compute_metrics, paired_comparison
from prompt_a_video.evaluation.text_metrics import text_metrics

PROMPTS = ["a dog", "a cat", "a car"]
SEEDS = [10, 11]

# Rewards per method, prompt and sample (sample i rendered with SEEDS[i]).
# sft vs original per prompt: a dog 3 vs 2 (win), a cat 2 vs 2 (tie: sample 1 failed),
# a car 2 vs 1 (win) -> win rate (2 + 0.5) / 3, mean diff 2/3.
# dpo is original + 0.5 on every prompt -> every paired difference is 0.5.
REWARDS = {
    "original": {"a dog": [1.0, 3.0], "a cat": [2.0, 2.0], "a car": [1.0, 1.0]},
    "sft": {"a dog": [3.0, 3.0], "a cat": [2.0, None], "a car": [2.0, 2.0]},
    "dpo": {"a dog": [2.5, 2.5], "a cat": [2.5, 2.5], "a car": [1.5, 1.5]},
    "broken": {"a dog": [None, None], "a cat": [None, None], "a car": [None, None]},
}


def toy_run():
    rewrites, records = [], []
    for method, by_prompt in REWARDS.items():
        for prompt in PROMPTS:
            for sample, reward in enumerate(by_prompt[prompt]):
                text = prompt if method == "original" else f"{prompt}, {method} take {sample}"
                rewrites.append({"method": method, "prompt": prompt, "sample": sample, "text": text})
                failed = reward is None
                records.append({
                    "method": method, "prompt": prompt, "sample": sample, "seed": SEEDS[sample], "text": text,
                    # A failed record may still carry junk numbers: `failure` alone must exclude it.
                    "scores": {"VQ": 99.0 if failed else reward / 2, "TVA": math.nan if failed else 1.0,
                               "passes_floors": 1.0},
                    "reward": 99.0 if method == "sft" and failed else (math.nan if failed else reward),
                    "failure": "render crashed" if failed else None,
                    "video": None if failed else f"videos/{method}-{prompt}-{sample}.mp4",
                })
    return records, rewrites


@pytest.fixture(scope="module")
def metrics():
    records, rewrites = toy_run()
    return compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=500, seed=0)


def test_per_method_means_count_only_successful_videos(metrics):
    assert list(metrics["methods"]) == ["original", "sft", "dpo", "broken"]
    assert metrics["n_prompts"] == 3 and metrics["seeds"] == SEEDS and metrics["prompt_set"] == "toy"
    assert metrics["dimensions"] == ["VQ", "TVA"], "the composite's floor indicator is not a dimension"
    original, sft = metrics["methods"]["original"], metrics["methods"]["sft"]
    assert original["reward"] == pytest.approx(10 / 6) and original["n"] == 6 and original["failed"] == 0
    # sft: 3, 3, 2, 2, 2 succeed; the failed record's 99.0 is left out.
    assert sft["reward"] == pytest.approx(12 / 5) and sft["n"] == 5 and sft["failed"] == 1
    assert sft["scores"]["VQ"] == pytest.approx(12 / 5 / 2) and sft["scores"]["TVA"] == pytest.approx(1.0)
    assert sft["n_prompts"] == 3
    broken = metrics["methods"]["broken"]
    assert broken["reward"] is None and broken["reward_ci95"] is None and broken["n"] == 0
    assert broken["failed"] == 6 and broken["n_prompts"] == 0 and broken["scores"] == {"VQ": None, "TVA": None}


def test_win_rates_count_a_tie_as_half(metrics):
    assert metrics["win_rate"]["sft_vs_original"] == pytest.approx(2.5 / 3)
    assert metrics["win_rate"]["original_vs_sft"] == pytest.approx(0.5 / 3)
    assert metrics["mean_diff"]["sft_vs_original"] == pytest.approx(2 / 3)
    assert metrics["win_rate"]["dpo_vs_original"] == 1.0 and metrics["win_rate"]["original_vs_dpo"] == 0.0
    assert metrics["n_paired"]["sft_vs_original"] == 3
    # Every ordered pair of distinct methods is present; pairs with no common prompt are null.
    assert len(metrics["win_rate"]) == 4 * 3
    assert metrics["win_rate"]["broken_vs_original"] is None and metrics["ci95"]["original_vs_broken"] is None


def test_bootstrap_interval_contains_the_mean_difference_and_mirrors(metrics):
    low, high = metrics["ci95"]["sft_vs_original"]
    # Paired differences are [1, 0, 1]: resampled means lie in {0, 1/3, 2/3, 1}.
    assert 0.0 <= low <= 2 / 3 <= high <= 1.0 and low < high
    back_low, back_high = metrics["ci95"]["original_vs_sft"]
    assert (back_low, back_high) == pytest.approx((-high, -low))
    reward_low, reward_high = metrics["methods"]["original"]["reward_ci95"]
    assert reward_low <= 10 / 6 <= reward_high


def test_interval_is_degenerate_when_every_paired_difference_is_equal(metrics):
    low, high = metrics["ci95"]["dpo_vs_original"]
    assert low == high == pytest.approx(0.5)
    assert metrics["mean_diff"]["dpo_vs_original"] == pytest.approx(0.5)


def test_metrics_are_deterministic_and_independent_of_the_other_methods(metrics):
    records, rewrites = toy_run()
    again = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=500, seed=0)
    assert again == metrics
    only_two = [r for r in records if r["method"] in ("original", "sft")]
    fewer = compute_metrics(only_two, [r for r in rewrites if r["method"] in ("original", "sft")],
                            seeds=SEEDS, prompt_set="toy", bootstrap=500, seed=0)
    assert fewer["ci95"]["sft_vs_original"] == metrics["ci95"]["sft_vs_original"]
    assert fewer["methods"]["sft"]["reward_ci95"] == metrics["methods"]["sft"]["reward_ci95"]


def test_metrics_serialise_as_json_without_nan(metrics):
    text = json.dumps(metrics, allow_nan=False)
    assert json.loads(text) == metrics


def test_bootstrap_zero_gives_null_intervals_and_negative_is_an_error():
    records, rewrites = toy_run()
    m = compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=0)
    assert m["ci95"]["sft_vs_original"] is None and m["methods"]["sft"]["reward_ci95"] is None
    assert m["win_rate"]["sft_vs_original"] == pytest.approx(2.5 / 3)
    with pytest.raises(ValueError, match="bootstrap"):
        compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy", bootstrap=-1)


def test_a_record_without_its_method_is_reported_with_its_index():
    records, rewrites = toy_run()
    del records[4]["method"]
    with pytest.raises(ValueError, match=r"records\[4\].*'method'"):
        compute_metrics(records, rewrites, seeds=SEEDS, prompt_set="toy")


def test_paired_comparison_treats_differences_within_tolerance_as_ties():
    a, b = {"p": 1.0 + 1e-8, "q": 2.0}, {"p": 1.0, "q": 1.0}
    result = paired_comparison(a, b, ["p", "q"], bootstrap=10, rng=np.random.default_rng(0), tie_tol=1e-6)
    assert result["win_rate"] == pytest.approx(0.75) and result["n"] == 2


# ------------------------------------------------------------------ text metrics
class OneHot:
    """Each distinct text its own basis vector: all texts mutually orthogonal."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return torch.eye(len(texts))


def test_orthogonal_texts_give_fidelity_0_and_diversity_1_while_original_gives_1_and_0():
    _, rewrites = toy_run()
    embed = OneHot()
    out = text_metrics(rewrites, embed)
    assert out["original"]["fidelity"] == pytest.approx(1.0) and out["original"]["diversity"] == pytest.approx(0.0)
    assert out["sft"]["fidelity"] == pytest.approx(0.0) and out["sft"]["diversity"] == pytest.approx(1.0)
    # One batched call, every distinct text once: 3 prompts + 3 methods x 3 prompts x 2 samples.
    assert len(embed.calls) == 1 and len(embed.calls[0]) == len(set(embed.calls[0])) == 3 + 18


def test_fidelity_and_diversity_by_hand_on_2d_vectors():
    vectors = {"a dog": [1.0, 0.0], "x": [0.6, 0.8], "y": [0.8, 0.6], "z z z": [3.0, 0.0]}
    rewrites = [
        {"method": "m", "prompt": "a dog", "sample": 0, "text": "x"},
        {"method": "m", "prompt": "a dog", "sample": 1, "text": "y"},
        {"method": "same", "prompt": "a dog", "sample": 0, "text": "z z z"},  # unnormalised: cos 1
        {"method": "same", "prompt": "a dog", "sample": 1, "text": "z z z"},
    ]
    out = text_metrics(rewrites, lambda texts: np.array([vectors[t] for t in texts]))
    assert out["m"]["fidelity"] == pytest.approx((0.6 + 0.8) / 2)
    assert out["m"]["diversity"] == pytest.approx(1 - (0.6 * 0.8 + 0.8 * 0.6))
    assert out["same"]["fidelity"] == pytest.approx(1.0)
    assert out["same"]["diversity"] == pytest.approx(0.0), "identical samples are not diverse"
    assert out["m"]["length_words"] == 1.0 and out["same"]["length_words"] == 3.0
    assert out["same"]["length_chars"] == 5.0


def test_diversity_averages_over_prompts_with_a_single_sample_counting_0():
    rewrites = [{"method": "m", "prompt": "p", "sample": 0, "text": "a"},
                {"method": "m", "prompt": "p", "sample": 1, "text": "b"},
                {"method": "m", "prompt": "q", "sample": 0, "text": "c"}]
    assert text_metrics(rewrites, OneHot())["m"]["diversity"] == pytest.approx((1.0 + 0.0) / 2)


def test_without_embed_only_lengths_are_computed_and_metrics_carry_them():
    records, rewrites = toy_run()
    out = text_metrics(rewrites, None)
    assert out["sft"]["fidelity"] is None and out["sft"]["diversity"] is None
    # "a dog, sft take 0": 5 words, and so every other sft rewrite.
    assert out["sft"]["length_words"] == 5.0 and out["original"]["length_words"] == 2.0
    m = compute_metrics(records, rewrites, OneHot(), seeds=SEEDS, prompt_set="toy", bootstrap=0)
    assert m["methods"]["original"]["fidelity"] == pytest.approx(1.0)
    assert m["methods"]["dpo"]["length_words"] == 5.0


def test_embed_of_the_wrong_shape_is_a_clear_error():
    _, rewrites = toy_run()
    with pytest.raises(ValueError, match=r"embed: expected an array \[N=21, D\]"):
        text_metrics(rewrites, lambda texts: np.ones((2, 4)))


def test_identical_unit_vectors_are_exactly_0_diverse_despite_rounding():
    import numpy as np

    from prompt_a_video.evaluation.text_metrics import diversity

    v = np.array([0.1, 0.7, 0.3, 0.2, 0.9], dtype=np.float32)
    v = v / np.linalg.norm(v)  # 1 - v.v is ~1e-8 in float32, not 0
    assert diversity(np.stack([v, v, v])) == 0.0
