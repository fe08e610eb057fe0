"""The token budget: `fit_to_budget` cuts worked out by hand, `resolve_budget` and the guard
judging the cut text (no model: hand-written samples and counters)."""

import math

import pytest

from prompt_a_video.refiner.budget import Budget, check_target, fit, fit_to_budget, resolve_budget, target_language
from prompt_a_video.refiner.guard import guard_samples
from prompt_a_video.rewards.text.checks import TextChecks


def words_plus_eos(text: str) -> int:
    """An exact counter worked out by hand: one token a whitespace word, plus an eos (as T5 adds)."""
    return len(text.split()) + 1


TEXT = "A dog runs on the beach. The sun sets behind it, painting the sky orange. Slow motion, cinematic."
# tokens of each whole-sentence prefix (words + 1): 7, 7 + 9 = 16, 16 + 3 = 19


def test_text_that_fits_is_returned_unchanged():
    assert fit_to_budget(TEXT, words_plus_eos, 19) == TEXT
    assert fit_to_budget(TEXT, words_plus_eos, 500) == TEXT
    padded = "  a dog  "  # not even stripped: nothing to cut
    assert fit_to_budget(padded, words_plus_eos, 3) == padded
    result = fit(TEXT, words_plus_eos, 19)
    assert (result.cut, result.tokens, result.original_tokens) == (None, 19, 19)


def test_sentence_cut_keeps_the_last_whole_sentence_that_fits():
    # 18 holds "A dog runs on the beach. The sun sets behind it, painting the sky orange." (16), not the rest (19)
    assert fit_to_budget(TEXT, words_plus_eos, 18) == "A dog runs on the beach. The sun sets behind it, painting the sky orange."
    assert fit_to_budget(TEXT, words_plus_eos, 16) == "A dog runs on the beach. The sun sets behind it, painting the sky orange."
    # 15: the second sentence no longer fits; a clause of it would, but a sentence end comes first
    result = fit(TEXT, words_plus_eos, 15)
    assert (result.text, result.cut, result.tokens, result.original_tokens) == \
        ("A dog runs on the beach.", "sentence", 7, 19)
    assert fit_to_budget(TEXT, words_plus_eos, 7) == "A dog runs on the beach."


def test_sentence_ends_need_a_space_after_and_keep_closing_quotes():
    text = 'A sign reads "Open 24/7." A neon glow at 3.5 meters high flickers on and off'
    # "3.5" ends no sentence; the quote closes the first sentence: 5 words + 1 = 6 (the whole text: 17)
    assert fit(text, words_plus_eos, 9) == fit(text, words_plus_eos, 7)
    assert fit_to_budget(text, words_plus_eos, 9) == 'A sign reads "Open 24/7."'
    assert fit(text, words_plus_eos, 9).cut == "sentence"


def test_clause_cut_when_the_first_sentence_is_over_budget():
    text = ("A golden-haired dog sprints along a sunlit beach, its fur glowing; waves roll in - seagulls "
            "circle overhead \u2014 slow motion.")
    # one sentence of 21 words (22 tokens; the dashes count as words); clause prefixes (words + 1):
    # "...beach" 9, "...glowing" 12, "...roll in" 15, "...overhead" 19
    assert fit(text, words_plus_eos, 20).text == "A golden-haired dog sprints along a sunlit beach, its fur glowing; " \
        "waves roll in - seagulls circle overhead"
    assert fit_to_budget(text, words_plus_eos, 17) == ("A golden-haired dog sprints along a sunlit beach, its fur "
                                                      "glowing; waves roll in")
    result = fit(text, words_plus_eos, 14)
    assert (result.text, result.cut, result.tokens) == \
        ("A golden-haired dog sprints along a sunlit beach, its fur glowing", "clause", 12)
    # the hyphen of golden-haired is no clause boundary: 9 is the shortest clause
    assert fit_to_budget(text, words_plus_eos, 9) == "A golden-haired dog sprints along a sunlit beach"


def test_word_cut_when_even_the_first_clause_is_over_budget_never_mid_word():
    text = "A golden-haired dog sprints along a sunlit beach, its fur glowing."
    result = fit(text, words_plus_eos, 6)  # 5 words + eos
    assert (result.text, result.cut, result.tokens) == ("A golden-haired dog sprints along", "word", 6)
    assert fit_to_budget(text, words_plus_eos, 2) == "A"
    # words are what whitespace separates: "(golden" is one, so no cut ends inside the brackets' phrase
    assert fit_to_budget("A dog (golden retriever breed) sprints", words_plus_eos, 4) == "A dog (golden"
    assert fit_to_budget("A dog (golden retriever breed) sprints", words_plus_eos, 3) == "A dog"
    # a word cut drops the punctuation it would end on: "Scene:" -> "Scene"
    result = fit("Scene: a dog sprints along the beach", words_plus_eos, 2)
    assert (result.text, result.cut) == ("Scene", "word")


def test_never_empty_when_not_even_one_word_fits():
    result = fit(TEXT, words_plus_eos, 1)  # "A" is 2 tokens with the eos
    assert (result.text, result.cut, result.tokens) == ("A", "first word", 2)


def test_cjk_cuts_at_the_full_stop_then_the_comma_then_a_character():
    text = "一只狗在海滩上奔跑，阳光明媚。毛发闪闪发光。"
    chars = len  # one token a character
    assert fit_to_budget(text, chars, 20) == "一只狗在海滩上奔跑，阳光明媚。"  # 15 characters
    assert fit_to_budget(text, chars, 12) == "一只狗在海滩上奔跑"  # the clause before the comma, 9
    assert fit(text, chars, 5).text == "一只狗在海" and fit(text, chars, 5).cut == "word"


def test_exact_counting_with_a_subword_tokenizer(tiny_chat_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_tokenizer_dir)

    def count(text):
        return len(tokenizer(text, add_special_tokens=True)["input_ids"])

    sentences = ["A dog runs on the beach.", "The sun sets behind it, painting the sky orange.",
                 "Slow motion, cinematic."]
    text = " ".join(sentences)
    two = " ".join(sentences[:2])
    # a limit between the counts of the first two sentences and of all three: the cut is at the second's end
    limit = count(two) + (count(text) - count(two)) // 2
    assert count(two) <= limit < count(text)
    result = fit(text, count, limit)
    assert (result.text, result.cut, result.tokens) == (two, "sentence", count(two))
    # every cut the budget makes is a non-empty prefix within it
    for limit in range(count("A"), count(text)):
        cut = fit_to_budget(text, count, limit)
        assert count(cut) <= limit and text.startswith(cut) and cut


def test_a_bad_limit_is_refused():
    for bad in (0, -3, 2.5, True, None):
        with pytest.raises(ValueError, match="token limit must be an int >= 1"):
            fit("a dog", words_plus_eos, bad)


# ---------------------------------------------------------------------------- resolve_budget


def test_resolve_budget_from_a_family_a_limit_or_the_export():
    budget = resolve_budget("cogvideox")
    assert (budget.limit, budget.exact, budget.target) == (226, False, "cogvideox")
    text = "a dog runs on the beach at sunset"
    assert budget.count(text) == math.ceil(1.3 * 8)
    assert budget.describe(11) == "about 11/226 tokens (estimate: 1.3 per word)"
    assert resolve_budget("cogvideox", token_limit=40).limit == 40
    assert resolve_budget(None, settings={"target": {"name": "mine", "prompt_token_limit": 99}}).limit == 99
    assert resolve_budget(None, settings={"target": "ltx"}).limit == 128
    assert resolve_budget(None) is None and resolve_budget(None, settings={"system_prompt": "x"}) is None
    synthetic = resolve_budget("synthetic:short-strict")
    assert synthetic.exact and synthetic.limit == 60


def test_a_tokenizer_folder_counts_exactly_and_gives_its_limit(tiny_cogvideox_dir):
    from transformers import AutoTokenizer

    budget = resolve_budget(tiny_cogvideox_dir)  # a pipeline folder: its tokenizer/
    tokenizer = AutoTokenizer.from_pretrained(tiny_cogvideox_dir / "tokenizer")
    assert budget.exact and budget.limit == tokenizer.model_max_length and budget.target is None
    assert budget.count("a dog runs") == len(tokenizer("a dog runs")["input_ids"])
    assert budget.describe(7) == f"7/{budget.limit} tokens"
    assert resolve_budget(tiny_cogvideox_dir, token_limit=12).limit == 12


def test_unknown_targets_are_refused_with_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown target 'cogvideo': expected one of cogvideox, wan.*tokenizer folder"):
        check_target("cogvideo")
    with pytest.raises(ValueError, match="unknown target"):
        resolve_budget(str(tmp_path / "missing"))
    with pytest.raises(TypeError, match="target must be"):
        check_target(226)
    check_target(tmp_path)  # an existing folder: checked when its tokenizer loads
    with pytest.raises(ValueError, match="--target .*not a tokenizer folder"):
        resolve_budget(tmp_path)


def test_target_language_defaults():
    assert target_language("wan", None) == "en" and target_language("cogvideox", None) == "en"
    assert target_language(None, {"target": {"name": "cogvideox", "prompt_token_limit": 226}}) == "en"
    assert target_language(None, {"target": {"name": "x", "prompt_token_limit": 9, "language": "zh"}}) == "zh"
    assert target_language(None, None) is None


# ---------------------------------------------------------------------------- the guard judges the cut text

ORIGINAL = "a brown dog running on the beach at sunset"
# content words: brown dog running beach sunset
# 9 + 5 words: the first sentence is 10 tokens, both 15
KEEPS = "A brown dog runs on the beach at sunset. Golden light, slow motion, cinematic."
# 5 + 11 words: cut to its first sentence (6 tokens), which keeps only "dog" of the 5 content words
LOSES = "A dog on the shore. A brown dog runs on the beach at sunset, golden light."


def test_the_guard_judges_and_returns_samples_as_cut():
    budget = Budget(11, words_plus_eos, True, "11 tokens")
    cut = lambda text: budget.fit(text).text  # noqa: E731
    out = guard_samples(ORIGINAL, [LOSES, KEEPS], n=1, checks=TextChecks(), fit=cut)
    (answer,) = out
    # LOSES cuts to its first sentence, "A dog on the shore." (6 tokens), which loses brown, running, beach, sunset
    assert answer.text == "A brown dog runs on the beach at sunset." and answer.uncut == KEEPS
    assert not answer.fallback and words_plus_eos(answer.text) <= 11
    assert len(answer.rejected) == 1 and answer.rejected[0].startswith("'A dog on the shore.'")
    assert "loses the user's content" in answer.rejected[0]
    # uncut, LOSES keeps every word and is the better sample
    assert guard_samples(ORIGINAL, [LOSES, KEEPS], n=1, checks=TextChecks())[0].text == LOSES


def test_samples_that_cut_to_the_same_text_are_one_candidate_and_the_original_is_cut_too():
    budget = Budget(11, words_plus_eos, True, "11 tokens")
    cut = lambda text: budget.fit(text).text  # noqa: E731
    twin = "A brown dog runs on the beach at sunset. Waves, gulls."
    out = guard_samples(ORIGINAL, [KEEPS, twin], n=2, checks=TextChecks(), fit=cut)
    assert [a.text for a in out] == ["A brown dog runs on the beach at sunset.", ORIGINAL]
    assert out[1].fallback and out[1].uncut is None  # the original fits
    long_original = "a brown dog running on the beach at sunset. " * 3
    (back,) = guard_samples(long_original.strip(), ["a cat"], n=1, checks=TextChecks(), fit=cut)
    assert back.fallback and back.text == "a brown dog running on the beach at sunset."
    assert back.uncut == long_original.strip()
