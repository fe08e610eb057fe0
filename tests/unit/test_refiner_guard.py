"""The refiner's guard: `guard_samples` on hand-written samples, and `Refiner.refine(guard=...)`
on the tiny exported refiner (whose random-weight samples are gibberish: they lose every
content word, so the default guard answers with the original prompt)."""

import logging

import pytest

from prompt_a_video.refiner.guard import GuardedRewrite, guard_samples
from prompt_a_video.rewards.text.checks import TextChecks

# content words: brown, dog, running, beach, sunset (5)
ORIGINAL = "a brown dog running on the beach at sunset"
A = "a dog runs on the beach at sunset"  # INT 4/5 = 0.8 (brown lost) > 0.7: passes
A2 = "a dog runs along the beach at sunset"  # the same scores as A
B = "a brown dog runs along the beach at sunset, golden light"  # INT 1, REP 1: passes
LEAKED = "Here is the refined prompt: a brown dog running on the beach at sunset"  # LEAK 0
# brown dog run beach sunset dog dog dog: m = 8, allowed 2 + 8 // 25 = 2, "dog" 4 uses -> 2 too many
# -> 1 - 2/8 = 0.75; distinct-2 6/7 ((dog,dog) twice), distinct-3 6/6; and "dog, dog, dog" holds 2
# stutters -> 1 - 0.5 * 2 = 0: REP = min(0.75, 6/7, 1, 0) = 0 <= 0.75
REPEATS = "a brown dog running on the beach at sunset, dog, dog, dog"
LOST = "a cat on the beach"  # INT 1/5 = 0.2


class CountingChecks(TextChecks):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen: list[str] = []

    def __call__(self, originals, rewrites):
        self.seen.extend(rewrites)
        return super().__call__(originals, rewrites)


# ---------------------------------------------------------------------------- guard_samples


def test_passing_samples_best_first_and_the_failed_ones_explained():
    out = guard_samples(ORIGINAL, [A, LEAKED, B, REPEATS], n=2, checks=TextChecks())
    # B (INT 1.0) before A (INT 0.8); LEAKED and REPEATS fail
    assert [r.text for r in out] == [B, A] and not any(r.fallback for r in out)
    assert out[0].verdict.passes and out[0].verdict.scores["INT"] == 1.0
    assert out[1].verdict.scores["INT"] == pytest.approx(0.8)
    rejected = out[0].rejected
    assert len(rejected) == 2
    assert rejected[0].startswith(repr(LEAKED)) and "echoes instructions (LEAK 0.00 <= 0.8)" in rejected[0]
    assert rejected[1].startswith(repr(REPEATS)) and "repeats itself (REP 0.00 <= 0.75)" in rejected[1]


def test_fewer_passing_than_n_fills_with_the_original_marked():
    out = guard_samples(ORIGINAL, [A, LEAKED, B, REPEATS], n=3, checks=TextChecks())
    assert [r.text for r in out] == [B, A, ORIGINAL] and [r.fallback for r in out] == [False, False, True]
    # the fallback carries the verdict on the best failed sample: LEAKED ranks (INT 1, REP 1) over
    # REPEATS (INT 1, REP 0)
    assert out[2].verdict.leaked and out[2].verdict.scores["REP"] == 1.0


def test_no_passing_sample_gives_the_original_every_time():
    out = guard_samples(ORIGINAL, [LOST, REPEATS, LEAKED], n=2, checks=TextChecks())
    assert out == [out[0]] * 2 and out[0] == GuardedRewrite(ORIGINAL, True, out[0].verdict, out[0].rejected)
    assert out[0].verdict.leaked  # the best failed: LEAKED (INT 1, REP 1)
    assert len(out[0].rejected) == 3 and "loses the user's content (INT 0.20 <= 0.7: brown, dog, running, sunset)" \
        in out[0].rejected[0]
    empty = guard_samples(ORIGINAL, ["", "  "], n=1, checks=TextChecks())
    assert empty[0].fallback and empty[0].rejected[0].startswith("'': empty rewrite")
    assert guard_samples(ORIGINAL, [], n=1, checks=TextChecks()) == [GuardedRewrite(ORIGINAL, True, None, ())]


def test_samples_are_deduplicated_before_checking():
    checks = CountingChecks()
    out = guard_samples(ORIGINAL, [B, f"  {B} ", f"{B}\n", A], n=3, checks=checks)
    assert checks.seen == [B, A]  # whitespace-stripped duplicates are checked once
    assert [r.text for r in out] == [B, A, ORIGINAL] and out[2].fallback  # B is not handed out twice


def test_ties_keep_the_sample_order():
    checks = TextChecks()
    assert [r.text for r in guard_samples(ORIGINAL, [A2, A], 2, checks)] == [A2, A]
    assert [r.text for r in guard_samples(ORIGINAL, [A, A2], 2, checks)] == [A, A2]


# ---------------------------------------------------------------------------- Refiner.refine

PROMPTS = ["a dog running on the beach", "an old man reading a book in the rain"]
FAST = dict(max_new_tokens=6, seed=1)
ANYTHING = TextChecks(floors={})  # no floor: only an empty rewrite fails
NOTHING = TextChecks(floors={"INT": 1.0})  # INT > 1.0 never holds: every sample fails


@pytest.fixture(scope="module")
def refiner(tiny_refiner_export_dir, one_torch_thread):
    from prompt_a_video import Refiner

    return Refiner(tiny_refiner_export_dir)


def test_unguarded_returns_what_the_model_writes_guarded_returns_the_originals(refiner, caplog):
    raw = refiner.refine(PROMPTS, n=2, guard=False, **FAST)
    assert all(len(r) == 2 and p not in r for p, r in zip(PROMPTS, raw))
    with caplog.at_level(logging.WARNING, logger="prompt_a_video.refiner"):
        guarded = refiner.refine(PROMPTS, n=2, **FAST)  # guard=True is the default
    assert guarded == [[p, p] for p in PROMPTS]
    warnings = [r.getMessage() for r in caplog.records if "guard:" in r.getMessage()]
    assert len(warnings) == 2 and "2 of 2 answers for 'a dog running on the beach' are the original" in warnings[0]
    assert "loses the user's content" in warnings[0]
    assert refiner.refine(PROMPTS[0], **FAST) == [PROMPTS[0]]  # a str: a flat list


def test_refine_guarded_says_why(refiner):
    (answers,) = refiner.refine_guarded(PROMPTS[:1], 1, guard_samples=3, **FAST)
    (answer,) = answers
    assert answer.fallback and answer.text == PROMPTS[0] and not answer.verdict.intent_kept
    drawn = refiner.refine(PROMPTS[:1], n=3, guard=False, **FAST)[0]
    assert len(answer.rejected) == len(set(drawn))  # every distinct sample, with its reasons
    assert all("loses the user's content" in line for line in answer.rejected)


def test_guard_picks_the_best_of_guard_samples_seeded_samples(refiner):
    drawn = refiner.refine(PROMPTS, n=4, guard=False, **FAST)  # what the guard draws: max(n, guard_samples)
    guarded = refiner.refine(PROMPTS, n=1, checks=ANYTHING, **FAST)
    for original, samples, (answer,) in zip(PROMPTS, drawn, guarded):
        assert answer in samples and answer != original
        assert answer == guard_samples(original, samples, 1, ANYTHING)[0].text
    assert refiner.refine(PROMPTS, n=1, checks=ANYTHING, **FAST) == guarded  # seeded
    # n above guard_samples: n samples are drawn
    three = refiner.refine(PROMPTS[:1], n=3, guard_samples=1, checks=ANYTHING, **FAST)[0]
    drawn3 = refiner.refine(PROMPTS[:1], n=3, guard=False, **FAST)[0]
    assert three == [r.text for r in guard_samples(PROMPTS[0], drawn3, 3, ANYTHING)]


def test_floors_that_fail_every_sample_give_back_the_original(refiner):
    assert refiner.refine(PROMPTS, n=2, checks=NOTHING, **FAST) == [[p, p] for p in PROMPTS]
    # greedy decoding draws one sample; it too is checked
    greedy = refiner.refine(PROMPTS, temperature=0, max_new_tokens=6, guard=False)
    assert refiner.refine(PROMPTS, temperature=0, max_new_tokens=6, checks=ANYTHING) == greedy
    assert refiner.refine(PROMPTS, temperature=0, max_new_tokens=6, checks=NOTHING) == [[p] for p in PROMPTS]


def test_guard_settings_are_checked_and_ignored_unguarded(refiner):
    with pytest.raises(ValueError, match="guard_samples must be an int >= 1"):
        refiner.refine(PROMPTS, guard_samples=0)
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        refiner.refine(PROMPTS, n=0)
    # guard_samples and checks mean nothing without the guard: accepted, unused
    assert refiner.refine(PROMPTS, guard=False, guard_samples=0, checks=NOTHING, **FAST) == \
        refiner.refine(PROMPTS, guard=False, **FAST)
