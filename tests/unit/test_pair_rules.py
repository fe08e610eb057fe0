"""Pair rules on hand-built score tables, with the paper's margin, floors and word limit."""

import math

import pytest

from prompt_a_video.evolution.pair_rules import BestVsWorstRule, PaperPairRule, ScoredCandidate
from prompt_a_video.rewards.presets import get_preset

PAPER_FLOORS = get_preset("pair_filtering").floors
# Comfortably above every paper floor (VQ/TC/FC/TVA/DD on VideoScore's 1-4, AES 1-10, MPS).
GOOD = {"VQ": 3.0, "TC": 3.0, "FC": 3.0, "DD": 3.0, "TVA": 3.2, "AES": 6.0, "MPS": 9.0,
        # and above the text floors: no repetition, fluent, nothing leaked, the intent kept
        "REP": 1.0, "FLU": -3.0, "LEAK": 1.0, "INT": 1.0, "LEX": 1.0, "TAG": 1.0}


def cand(text, reward, passes=None, **scores):
    return ScoredCandidate(text, {**GOOD, **scores}, reward, passes)


def sides(pairs):
    return [(p.chosen, p.rejected) for p in pairs]


def test_default_floors_are_the_paper_pair_filtering_floors():
    rule = PaperPairRule()
    assert (rule.margin, rule.max_chosen_words, rule.top_chosen) == (1.4, 130, 2)
    assert rule.floors == PAPER_FLOORS and len(rule.floors) == 7 + 6  # the paper's 7 and the 6 text floors
    assert {d: rule.floors[d] for d in ("REP", "FLU", "LEAK", "INT", "LEX", "TAG")} == {
        "REP": 0.75, "FLU": -8.5, "LEAK": 0.8, "INT": 0.7, "LEX": 0.5, "TAG": 0.5}


def test_top_two_are_chosen_and_each_pairs_with_every_candidate_lower_by_more_than_the_margin():
    table = [cand("b", 19.5), cand("d", 17.0), cand("a", 20.0), cand("c", 18.0)]
    pairs = PaperPairRule().pairs("a dog", table)
    # a-b = 0.5 (no); a-c = 2.0, a-d = 3.0; b-c = 1.5, b-d = 2.5; c is third: never chosen
    assert sides(pairs) == [("a", "c"), ("a", "d"), ("b", "c"), ("b", "d")]
    first = pairs[0]
    assert (first.prompt, first.chosen_reward, first.rejected_reward) == ("a dog", 20.0, 18.0)
    assert first.chosen_scores == GOOD and first.rejected_scores == GOOD


def test_the_third_candidate_is_never_chosen_even_with_a_large_gap_below_it():
    table = [cand("a", 20.0), cand("b", 19.9), cand("c", 19.8), cand("d", 10.0)]
    assert sides(PaperPairRule().pairs("p", table)) == [("a", "d"), ("b", "d")]
    assert sides(PaperPairRule(top_chosen=3).pairs("p", table)) == [("a", "d"), ("b", "d"), ("c", "d")]


def test_the_second_chosen_can_also_be_rejected_against_the_first():
    table = [cand("a", 20.0), cand("b", 18.0), cand("c", 16.0)]
    assert sides(PaperPairRule().pairs("p", table)) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_exactly_the_margin_apart_is_not_a_pair():
    hi, lo = 1.4, 0.0
    assert hi - lo == PaperPairRule().margin  # the premise: the gap is exactly the margin
    assert PaperPairRule().pairs("p", [cand("a", hi), cand("b", lo)]) == []
    assert len(PaperPairRule().pairs("p", [cand("a", math.nextafter(hi, 2.0)), cand("b", lo)])) == 1
    # and with a margin whose sums are exact in binary
    rule = PaperPairRule(margin=1.5)
    assert rule.pairs("p", [cand("a", 20.0), cand("b", 18.5)]) == []
    assert sides(rule.pairs("p", [cand("a", 20.0), cand("b", 18.25)])) == [("a", "b")]


@pytest.mark.parametrize("dim", sorted(PAPER_FLOORS))
def test_a_candidate_exactly_at_a_floor_is_not_chosen(dim):
    floor = PAPER_FLOORS[dim]
    at_floor = [cand("a", 20.0, **{dim: floor}), cand("b", 19.0), cand("c", 15.0)]
    # a fails its floor: only b is chosen; a is above b, so b cannot reject it
    assert sides(PaperPairRule().pairs("p", at_floor)) == [("b", "c")]
    just_above = [cand("a", 20.0, **{dim: math.nextafter(floor, 100.0)}), cand("b", 19.0), cand("c", 15.0)]
    assert sides(PaperPairRule().pairs("p", just_above)) == [("a", "c"), ("b", "c")]


def test_rejected_candidates_need_not_clear_the_floors():
    table = [cand("a", 20.0), cand("b", 10.0, VQ=1.0, AES=2.0)]
    assert sides(PaperPairRule().pairs("p", table)) == [("a", "b")]


def test_a_chosen_over_130_words_is_dropped_and_not_replaced_by_the_third():
    long_text = " ".join(["word"] * 131)
    limit_text = " ".join(["word"] * 130)
    table = [cand(long_text, 20.0), cand("b", 19.0), cand("c", 18.9), cand("d", 10.0)]
    assert sides(PaperPairRule().pairs("p", table)) == [("b", "d")]
    table[0] = cand(limit_text, 20.0)
    assert sides(PaperPairRule().pairs("p", table)) == [(limit_text, "d"), ("b", "d")]
    # a long candidate may still be rejected
    table = [cand("a", 20.0), cand(long_text, 10.0)]
    assert sides(PaperPairRule().pairs("p", table)) == [("a", long_text)]


def test_failed_candidates_are_never_chosen_nor_rejected():
    nan = float("nan")
    table = [cand("x", nan), cand("y", 25.0, TVA=nan), cand("a", 20.0), cand("b", 19.0), cand("z", nan, VQ=nan),
             cand("c", 15.0)]
    pairs = PaperPairRule().pairs("p", table)
    assert sides(pairs) == [("a", "c"), ("b", "c")]
    assert sides(BestVsWorstRule().pairs("p", table)) == [("a", "c")]
    assert PaperPairRule().pairs("p", [cand("x", nan), cand("y", nan)]) == []


def test_repeated_texts_count_once_and_never_pair_with_themselves():
    table = [cand("a", 20.0), cand("a", 10.0), cand(" a ", 12.0), cand("b", 15.0)]
    assert sides(PaperPairRule().pairs("p", table)) == [("a", "b")]
    assert sides(BestVsWorstRule().pairs("p", table)) == [("a", "b")]


def test_floors_are_configurable_and_must_exist_in_the_scores():
    offline = PaperPairRule(margin=0.2, floors={"PF": 0.35, "TVA": 0.5})
    table = [ScoredCandidate("a", {"PF": 0.35, "TVA": 0.9}, 2.0), ScoredCandidate("b", {"PF": 0.8, "TVA": 0.6}, 1.9),
             ScoredCandidate("c", {"PF": 0.2, "TVA": 0.1}, 1.0)]
    assert sides(offline.pairs("p", table)) == [("b", "c")]
    assert sides(PaperPairRule(margin=0.2, floors={}).pairs("p", table)) == [("a", "c"), ("b", "c")]
    with pytest.raises(KeyError, match=r"'VQ'\] that the candidate scores lack"):
        PaperPairRule().pairs("p", table)
    with pytest.raises(ValueError, match=r"PaperPairRule.floors .*\['AES', 'DD'.*set `floors`"):
        PaperPairRule().check_dimensions(("VQ", "TC", "PF", "TVA", "reward", "passes_floors"))
    offline.check_dimensions(("PF", "TVA", "reward"))


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="margin"):
        PaperPairRule(margin=-1.0)
    with pytest.raises(ValueError, match="top_chosen"):
        PaperPairRule(top_chosen=0)
    with pytest.raises(ValueError, match="margin"):
        BestVsWorstRule(margin=float("nan"))


def test_best_vs_worst_gives_one_pair_over_a_strict_margin():
    table = [cand("b", 1.2), cand("a", 2.0), cand("c", 0.5)]
    [pair] = BestVsWorstRule().pairs("p", table)
    assert (pair.chosen, pair.rejected, pair.chosen_reward, pair.rejected_reward) == ("a", "c", 2.0, 0.5)
    assert BestVsWorstRule(margin=1.5).pairs("p", table) == []  # 2.0 - 0.5 is exactly 1.5
    assert len(BestVsWorstRule(margin=1.25).pairs("p", table)) == 1
    assert BestVsWorstRule().pairs("p", [cand("a", 1.0), cand("b", 1.0)]) == []  # a tie carries no preference
    assert BestVsWorstRule().pairs("p", [cand("a", 1.0)]) == []


def test_best_vs_worst_with_floors_chooses_the_best_that_clears_them():
    table = [cand("a", 2.0, passes=False), cand("b", 1.5, passes=True), cand("c", 0.5, passes=False)]
    assert sides(BestVsWorstRule().pairs("p", table)) == [("a", "c")]
    assert sides(BestVsWorstRule(require_floors=True).pairs("p", table)) == [("b", "c")]
    nobody = [cand("a", 2.0, passes=False), cand("c", 0.5, passes=False)]
    assert BestVsWorstRule(require_floors=True).pairs("p", nobody) == []
    with pytest.raises(ValueError, match="passes_floors"):
        BestVsWorstRule(require_floors=True).pairs("p", [cand("a", 2.0), cand("b", 1.0)])
