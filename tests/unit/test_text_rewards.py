"""The text-quality and intent rewards (REP, INT, LEAK, FLU, LEX, TAG) and `TextChecks`, worked out
by hand on small texts: each expected number is computed in the comment next to it.

Content words are the words minus ``STOPWORDS`` (function words and request words);
inflections are merged by lemma (``details`` -> ``detail``, ``2`` -> ``two``).
"""

import math

import pytest
import torch

from prompt_a_video.rewards.text import (
    TEXT_FLOORS, FluencyReward, FluencyScorer, IntentReward, LeakageReward, LexiconReward, RepetitionReward,
    TagListReward, coined_words, intent_score, leakage_score, lexicon_score, missing_words, repetition_score,
    list_shape, tag_list_score, tag_run,
)
from prompt_a_video.rewards.text.checks import TextChecks
from prompt_a_video.rewards.text.tag_list import trailing_list
from prompt_a_video.rewards.text.intent import same_stem, within_one_edit
from prompt_a_video.rewards.text.leakage import covered_share
from prompt_a_video.rewards.text.repetition import distinct, excess_repeats, stutters
from prompt_a_video.rewards.text.words import canonical, content_words, lemmas
from prompt_a_video.video import Video

CRAB = ("a crab hiding in the sand at dawn, light, detail, details, detail, detail, detail, detail, detail, "
        "detail, detail")
ECHO = ("The subject's appearance, action, motion, lighting, camera and style, detailed, concise, "
        "detail-perfect description.")


def video(prompt=None) -> Video:
    meta = {} if prompt is None else {"prompt": prompt}
    return Video(torch.zeros((1, 2, 2, 3), dtype=torch.uint8), fps=8.0, meta=meta)


# ---------------------------------------------------------------------------- words


def test_words_merge_inflections_and_numbers():
    assert canonical("details") == canonical("detailed") == canonical("detail") == "detail"
    assert canonical("running") == canonical("runs") == "run"
    assert {"2", "two"} <= lemmas("two") and {"2", "two"} <= lemmas("2")
    # "can u make a video of" are request words: nothing of them is content
    assert content_words("can u make a video of a cat sleeping pls") == ["cat", "sleeping"]


# ---------------------------------------------------------------------------- REP


def test_rep_on_a_repeated_word_with_inflections_merged():
    text = "a dog, detail, details, detailed, detail"
    tokens = [canonical(w) for w in content_words(text)]
    assert tokens == ["dog", "detail", "detail", "detail", "detail"]  # details/detailed -> detail
    # m = 5 content words: each may occur 2 + 5 // 25 = 2 times; "detail" 4 times -> 2 extra uses
    assert excess_repeats(tokens) == pytest.approx(2 / 5)  # 1 - excess = 0.6
    # bigrams: (dog,detail), (detail,detail) x3 -> 2 distinct / 4
    assert distinct(tokens, 2) == pytest.approx(2 / 4)
    # trigrams: (dog,detail,detail), (detail,detail,detail) x2 -> 2 distinct / 3
    assert distinct(tokens, 3) == pytest.approx(2 / 3)
    # no stutter: no word is the very same as the one before (detail, details, detailed, detail)
    assert stutters(text) == 0
    assert repetition_score(text) == pytest.approx(0.5)  # min(0.6, 0.5, 0.667, 1 - 0.5 * 0)


def test_rep_allows_two_uses_plus_one_per_25_content_words():
    # allowed = 2 + m // 25: "x" three times is one use too many among 24 words, none among 25
    tokens = ["x"] * 3 + [f"w{i}" for i in range(21)]  # m = 24: allowed 2 + 24 // 25 = 2
    assert excess_repeats(tokens) == pytest.approx(1 / 24)  # one extra use of x
    assert excess_repeats(tokens + ["w21"]) == 0.0  # m = 25: allowed 2 + 25 // 25 = 3
    # a word three times in a short text: dog chase dog dog, m = 4, allowed 2 -> excess 1/4;
    # bigrams (dog,chase), (chase,dog), (dog,dog) and trigrams (dog,chase,dog), (chase,dog,dog) all
    # distinct; no stutter ("a" between each dog) -> REP = 1 - 1/4 = 0.75
    assert stutters("a dog chases a dog past a dog") == 0
    assert repetition_score("a dog chases a dog past a dog") == pytest.approx(0.75)


def test_rep_of_the_calibration_crab():
    # content: crab hide sand dawn light + detail x9 (details merged) = 14 words, allowed 2 + 14 // 25 = 2
    tokens = [canonical(w) for w in content_words(CRAB)]
    assert len(tokens) == 14
    assert excess_repeats(tokens) == pytest.approx(7 / 14)  # 9 - 2 = 7 extra uses: 1 - excess = 0.5
    # distinct-2: (crab,hide) ... (light,detail), then (detail,detail) x8 -> 6 distinct of 13;
    # distinct-3: 6 distinct of 12
    assert distinct(tokens, 2) == pytest.approx(6 / 13) and distinct(tokens, 3) == pytest.approx(6 / 12)
    # "detail, details, detail x7": the 7 plain "detail" make 6 stutters -> 1 - 0.5 * 6 = -2, clamped
    assert stutters(CRAB) == 6
    assert repetition_score(CRAB) == 0.0


def test_rep_stutters_are_the_very_same_content_word_twice_in_a_row():
    # smooth smooth motion cat: m = 4, allowed 2 -> excess 0; n-grams distinct; one stutter -> 1 - 0.5 = 0.5
    assert stutters("smooth smooth motion of a cat") == 1
    assert repetition_score("smooth smooth motion of a cat") == pytest.approx(0.5)
    # the smallest stutter: detail detail, m = 2 (excess 0, no trigram, one bigram: 1/1), one stutter
    # -> 1 - 0.5 = 0.5, under the 0.75 floor
    assert stutters("detail, detail") == 1
    assert repetition_score("detail, detail") == pytest.approx(0.5)
    assert TextChecks().check("detail", "detail, detail").degenerate
    assert stutters("the the cat sleeps") == 0  # function words are not counted
    assert repetition_score("the the cat sleeps") == 1.0
    # a sentence boundary is not a stutter: red canyon canyon rise river, m = 5, allowed 2 -> excess 0,
    # n-grams distinct -> 1.0 ...
    assert stutters("Red canyons. Canyons rise over the river") == 0
    assert repetition_score("Red canyons. Canyons rise over the river") == 1.0
    assert stutters("Red canyons\ncanyons rise") == stutters("canyons; canyons: canyons") == 0  # so are \n ; :
    # ... a comma is none: "canyons, canyons" is one stutter -> 1 - 0.5 = 0.5
    assert stutters("Red canyons, canyons rise over the river") == 1
    assert repetition_score("Red canyons, canyons rise over the river") == pytest.approx(0.5)


def test_rep_stutters_need_the_same_word_not_the_same_lemma():
    # "Tower towering": tower and towering share the lemma tower (eiffel tower tower paris: m = 4, tower
    # twice, allowed 2 -> excess 0; bigrams (eiffel,tower), (tower,tower), (tower,paris) and both trigrams
    # distinct), but they are not the same word: no stutter -> 1.0, passes
    assert canonical("towering") == canonical("tower") == "tower"
    assert stutters("the Eiffel Tower towering over Paris") == 0
    assert repetition_score("the Eiffel Tower towering over Paris") == 1.0
    assert TextChecks().check("the Eiffel Tower", "the Eiffel Tower towering over Paris").passes


def test_rep_reads_a_hyphenated_word_as_one_word():
    # pom-pom -> pompom: content words pompom, hat (m = 2, all distinct), no "pom pom" stutter -> 1.0
    assert content_words("a pom-pom on a hat") == ["pom", "pom", "hat"]  # what words() alone would see
    assert stutters("a pom-pom on a hat") == 0
    assert repetition_score("a pom-pom on a hat") == 1.0
    assert TextChecks().check("a pom-pom hat", "a pom-pom on a hat").passes


def test_rep_of_fluent_rewrites():
    # "dog chase ball dog jump": m = 5, allowed 2, "dog" twice -> excess 0; bigrams (dog,chase),
    # (chase,ball), (ball,dog), (dog,jump) and the 3 trigrams all distinct -> 1.0
    assert repetition_score("a dog chases a ball, the dog jumps") == 1.0
    # "dog chase dog": m = 3, dog twice is allowed (2 + 3 // 25 = 2); bigrams (dog,chase), (chase,dog)
    # distinct, one trigram; no stutter -> 1.0 (it scored 0.67 when one use was allowed)
    assert repetition_score("a dog chases another dog") == 1.0
    # A 20-content-word caption: soft light red barn soft light green hill farmer walk slowly two brown
    # horse old wooden fence tall pine tree. Allowed uses 2 + 20 // 25 = 2, so soft x2 and light x2 are
    # no excess (0 -> 1.0); the phrase "soft light" repeats: bigrams 19, distinct 18 (one (soft,light)
    # twice) -> 18/19 = 0.947; trigrams 18, all distinct (1.0); no stutter -> REP = 18/19
    text = ("soft light on a red barn, soft light on green hills, a farmer walks slowly with two brown horses "
            "past old wooden fences under tall pine trees")
    tokens = [canonical(w) for w in content_words(text)]
    assert len(tokens) == 20 and excess_repeats(tokens) == 0.0
    assert distinct(tokens, 2) == pytest.approx(18 / 19) and distinct(tokens, 3) == 1.0
    assert repetition_score(text) == pytest.approx(18 / 19)
    # No repetition, and too short for n-grams: 1.0
    assert repetition_score("A golden retriever sprints along a sunlit beach, slow motion.") == 1.0
    assert repetition_score("a dog") == 1.0 and repetition_score("") == 1.0


def test_rep_of_a_repeated_phrase():
    # "soft light soft light cat": m = 5, allowed 2, soft and light twice each -> excess 0;
    # bigrams (soft,light) x2, (light,soft), (light,cat) -> 3/4; trigrams all 3 distinct -> REP = 0.75
    assert repetition_score("soft light, soft light, a cat") == pytest.approx(0.75)


# ---------------------------------------------------------------------------- INT


def test_int_on_a_dropped_subject():
    # content of the original: cat, dog, playing (3); the rewrite keeps dog and playing -> 2/3
    assert intent_score("a cat and a dog playing", "a dog playing in the garden") == pytest.approx(2 / 3)
    assert missing_words("a cat and a dog playing", "a dog playing in the garden") == ["cat"]
    # "cat" is a dictionary word, so "car" (one edit away) does not keep it: cat, sofa -> 1/2
    assert intent_score("a cat on a sofa", "a car on a sofa") == pytest.approx(1 / 2)


def test_int_a_swapped_subject_is_lost():
    # content of "a cat": cat (1). "car" shares no lemma with it, no stem (a common prefix "ca" of 2 < 5
    # letters), names no person, and "cat" is a dictionary word (so one edit does not count) -> 0/1
    assert not same_stem("cat", "car")
    assert intent_score("a cat", "a car") == 0.0 and missing_words("a cat", "a car") == ["cat"]
    # a person word only stands for a person: "a car" names none -> person lost, 0/1
    assert intent_score("a person", "a car") == 0.0


def test_int_same_stem_and_person_words_keep_the_subject():
    # same_stem: a common prefix of >= 5 letters that leaves <= 3 letters of the shorter word
    assert same_stem("cheerleading", "cheerleader")  # prefix cheerlead (9 >= 5), cheerleader 11 - 9 = 2 left
    assert same_stem("laughing", "laughter")  # prefix laugh (5), 8 - 5 = 3 left of either
    assert not same_stem("photograph", "photosynthesis")  # prefix photo (5), but photograph 10 - 5 = 5 left
    assert not same_stem("tower", "towel")  # prefix towe: 4 < 5 letters
    # content of "A person is cheerleading": person, cheerleading (2). The rewrite keeps both, and by the
    # new rules only: cheerleading ~ cheerleader by stem (no shared lemma), person ~ woman (a person
    # word, and the rewrite names a person) -> 2/2
    rewrite = "A young woman, a cheerleader, jumps"
    assert not lemmas("cheerleading") & lemmas("cheerleader") and not lemmas("person") & lemmas("woman")
    assert intent_score("A person is cheerleading", rewrite) == 1.0
    assert missing_words("A person is cheerleading", rewrite) == []
    # the rewrite without its person: person lost, cheerleading kept by stem -> 1/2
    assert intent_score("A person is cheerleading", "A cheerleader jumps") == pytest.approx(1 / 2)


def test_int_counts_digits_and_words_alike_but_not_other_numbers():
    assert intent_score("two cats on a sofa", "2 cats curled up on a sofa") == 1.0
    assert intent_score("2 cats on a sofa", "two cats curled up on a sofa") == 1.0
    # three, cats, sofa: "three" lost -> 2/3
    assert intent_score("three cats on a sofa", "two cats on a sofa") == pytest.approx(2 / 3)


def test_int_keeps_a_typo_the_rewrite_fixed():
    assert within_one_edit("dgo", "dog")  # a swap
    assert within_one_edit("runing", "running")  # an insertion
    assert not within_one_edit("dgo", "good")
    # dgo, runing, park: the first two are no dictionary words and one edit from dog/running -> 3/3
    assert intent_score("a dgo runing in the park", "a dog running through a green park") == 1.0
    assert intent_score("a dgo in the park", "a cat in the park") == pytest.approx(1 / 2)  # dgo lost


def test_int_ignores_request_words_and_matches_lemmas():
    # content of "can u make a video of a cat sleeping": cat, sleeping (request words are no content)
    assert intent_score("can u make a video of a cat sleeping", "A cat sleeps on a sunny windowsill") == 1.0
    assert intent_score("dogs running", "a dog runs") == 1.0
    assert intent_score("can you make a video please", "a sunset") == 1.0  # no content words at all


# ---------------------------------------------------------------------------- LEAK


INSTRUCTIONS = ["describe the subject its motion and the lighting in detail"]


def test_leak_of_a_leaked_instruction_run():
    text = "a cat, describe the subject its motion"
    # words: a cat describe the subject its motion (7). 4-word runs in the instruction:
    # (describe,the,subject,its) covers words 2-5, (the,subject,its,motion) covers 3-6 -> 5 of 7 covered
    assert covered_share(text, INSTRUCTIONS) == pytest.approx(5 / 7)
    assert leakage_score(text, "a cat", INSTRUCTIONS) == pytest.approx(2 / 7)
    assert leakage_score("a cat sleeping in the sun", "a cat", INSTRUCTIONS) == 1.0


def test_leak_of_the_system_prompt_echo_with_the_default_instructions():
    # 14 words; only "lighting camera and style" is a 4-word run of the refiner's system prompt
    # ("..., the scene, lighting, camera and style") -> 1 - 4/14 = 0.714, under the 0.8 floor
    assert leakage_score(ECHO) == pytest.approx(10 / 14)
    assert leakage_score(ECHO) <= TEXT_FLOORS["LEAK"]


@pytest.mark.parametrize("text", [
    "Sure! Here is the refined prompt: a dog running on the beach",
    "a dog running on the beach<|im_end|>",
    "assistant: a dog running on the beach",
    "a dog running\nuser: make it longer",
    "[INST] a dog [/INST]",
    "As an AI, I cannot render videos.",
    "<PROMPT>a dog running on the beach</PROMPT>",
])
def test_leak_is_zero_for_chat_markup_and_assistant_talk(text):
    assert leakage_score(text, "a dog running on the beach", INSTRUCTIONS) == 0.0


def test_a_user_prompt_that_holds_a_marker_or_the_instructions_is_not_penalised():
    original = "a neon sign that says here is the new prompt"
    rewrite = "a flickering neon sign that says here is the new prompt, rainy street at night"
    assert leakage_score(rewrite, original, INSTRUCTIONS) == 1.0
    # ... but a marker the user did not write still is one
    assert leakage_score(rewrite + "<|im_end|>", original, INSTRUCTIONS) == 0.0
    assert leakage_score("Sure! Here is the refined prompt: <|im_end|> my cat", "here is my cat") == 0.0
    # runs of the instructions that the original itself holds are not counted
    quoting = "a teacher says describe the subject its motion"
    assert leakage_score(quoting + " on a blackboard", quoting, INSTRUCTIONS) == 1.0


# ---------------------------------------------------------------------------- FLU


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory):
    """A tiny random Llama with a BPE tokenizer trained on a few captions, saved and loaded by path."""
    from tests.kit.tiny_lm import save_tiny_causal_lm

    corpus = ["a dog running on the beach", "an old man reading a book in the rain",
              "a red car driving at night, neon lights", "soft light on a red barn"] * 4
    return save_tiny_causal_lm(tmp_path_factory.mktemp("flu-lm"), "llama", seed=3, corpus=corpus)


def hand_flu(path, text: str, max_length: int = 256) -> float:
    """(1/T) sum_t log p(x_t | x_<t), x_0 = BOS, from the model's own logits, log-softmax by hand."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ids = [tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"][:max_length]
    with torch.no_grad():
        logits = lm(input_ids=torch.tensor([ids])).logits[0].double()
    total = 0.0
    for t in range(1, len(ids)):
        row = logits[t - 1].tolist()  # the logits that predict token t
        top = max(row)
        log_z = top + math.log(sum(math.exp(v - top) for v in row))
        total += row[ids[t]] - log_z
    return total / (len(ids) - 1)


def test_flu_is_the_mean_token_log_likelihood(tiny_lm_dir):
    texts = ["a dog running on the beach", "a red car", "neon"]
    scorer = FluencyScorer(str(tiny_lm_dir), batch_size=8)
    got = scorer(texts)  # one padded batch
    expected = [hand_flu(tiny_lm_dir, t) for t in texts]
    assert got.tolist() == pytest.approx(expected, abs=1e-4)
    # right padding changes nothing: one text a batch gives the same numbers
    assert FluencyScorer(str(tiny_lm_dir), batch_size=1)(texts).tolist() == pytest.approx(expected, abs=1e-4)
    # a random LM over a vocabulary of V tokens scores about -log V: far below 0, above -2 log V
    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(tiny_lm_dir))
    assert all(-2 * math.log(vocab) < v < 0 for v in expected)


def test_flu_truncates_to_max_length_and_empty_text_is_minus_inf(tiny_lm_dir):
    text = "an old man reading a book in the rain"
    assert FluencyScorer(str(tiny_lm_dir), max_length=2)([text])[0].item() == pytest.approx(
        hand_flu(tiny_lm_dir, text, max_length=2), abs=1e-4)
    scores = FluencyScorer(str(tiny_lm_dir))(["", "a dog"])
    assert scores[0].item() == float("-inf") and math.isfinite(scores[1].item())
    with pytest.raises(ValueError, match="max_length must be >= 2"):
        FluencyScorer(str(tiny_lm_dir), max_length=1)


# ---------------------------------------------------------------------------- LEX

# The cpu-full GRPO refiner's tail (issue 15): "lifelike" and "lifeless" are words, the rest coined.
LIFE = "a crab hiding in the sand at dawn, crisp, lifelike, lifeless, lifetacular, lifely, lifepersonal"


def test_lex_finds_the_coined_words_of_a_stem_stacked_tail():
    assert coined_words("a crab hiding in the sand at dawn", LIFE) == ["lifetacular", "lifely", "lifepersonal"]
    assert lexicon_score("a crab hiding in the sand at dawn", LIFE) == 0.0  # 1 - 0.5 * 3, clamped
    assert lexicon_score("a dog", "a dog on a beach, lifely") == 0.5  # one coinage: 1 - 0.5
    assert lexicon_score("a dog", "a dog runs along a sunny beach at dawn, soft light, bokeh, 4k") == 1.0


def test_lex_leaves_the_users_words_names_plurals_and_other_scripts_alone():
    # the user's own typo is theirs; a name is capitalised at every use; wordfreq lacks "pegboards" but
    # has "pegboard"; digits and CJK are not judged.
    assert coined_words("a squirel on a brnch", "a squirel on a brnch near the Jinmao Tower, pegboards, 8k") == []
    assert coined_words("一只猫", "一只猫在窗台上 sleeping") == []
    # a name written in lower case somewhere is judged as a word
    assert coined_words("a tower", "the Jinmao tower, jinmao light") == ["jinmao"]


def test_lex_reads_a_word_in_the_rewrites_own_language():
    # Portuguese words are listed in Portuguese; an invented one is coined in any language
    original = "um gato dormindo no sofá"
    assert coined_words(original, "um gato dormindo no sofá da sala, luz suave da manhã") == []
    assert coined_words(original, "um gato dormindo no sofá, luz suave, cálpeura envoluntamente") == [
        "cálpeura", "envoluntamente"]


def test_checks_call_a_coined_word_degenerate_and_name_it():
    verdict = TextChecks().check("a crab hiding in the sand at dawn", LIFE)
    assert verdict.scores["LEX"] == 0.0 and verdict.scores["REP"] == 1.0  # REP sees no repeated word
    assert verdict.degenerate and not verdict.passes
    assert "coins words (LEX 0.00 <= 0.5: lifetacular, lifely, lifepersonal)" in verdict.reasons
    assert TEXT_FLOORS["LEX"] == 0.5


# ---------------------------------------------------------------------------- TAG

STOP_SIGN = ("In a still frame, a stop sign, with clear and precise motion, shot from a telephoto lens with a crisp "
             "and lifelike quality, capturing every detail, with a professional camera style, with soft and fine "
             "brushstrokes, with minimal background clutter, with realistic lighting, with careful composition")

# A best-rewarded rollout of the cpu-full GRPO refiner (issue 15): twelve items after the
# subject; "realistic motion throughout film" has 4 words and ends a run, the 10 after it are tags.
DISHES = ("a student washing dishes in the kitchen, clear fine detail, realistic motion throughout film, "
          "continuous camera flow, high dynamic range, crisp tone, consistent facial expression, professional, "
          "polished and lifelike, carefully composed, focused upon subject, real, authentic")


def test_tag_run_counts_short_comma_items_in_a_row_worked_by_hand():
    original = "a student washing dishes in the kitchen"
    assert tag_run(original, DISHES) == 10  # "polished and lifelike": "and" not counted, 2 words
    # its one sentence holds 12 items (the user's subject free): 1 - 0.125 x (12 - 5) = 0.125, below
    # the run's 1 - 0.125 x (10 - 4) = 0.25
    assert list_shape(original, DISHES) == (10, 12) and tag_list_score(original, DISHES) == 0.125
    # four tags are free; a fifth costs 0.125; eight fail the floor (0.5, strict)
    assert tag_list_score("a dog", "a dog, soft light, bokeh, 4k, slow pan") == 1.0
    assert tag_list_score("a dog", "a dog, soft light, bokeh, 4k, slow pan, warm") == 0.875
    eight = "a dog running on the beach, " + ", ".join(["soft light", "bokeh", "4k", "slow pan", "warm", "crisp", "calm", "vivid"])
    assert tag_run("a dog", eight) == 8 and tag_list_score("a dog", eight) == 0.5
    # an item of 4+ words ends a run; so does a sentence end (". " but not "4:3" or "108.5fps")
    assert tag_run("a dog", "a dog, warm, crisp, a golden retriever runs, calm, vivid") == 2
    assert tag_run("a dog", "a dog, warm, crisp. Calm, vivid, bright") == 3
    assert tag_run("a dog", "a dog, 108.5fps, 4:3, full frame, 20mm") == 4


def test_a_sentence_of_many_items_costs_whatever_their_length_worked_by_hand():
    # a cpu-full GRPO rewrite once tags were capped: run-on "with" clauses, 8 items after the user's two
    original = "In a still frame, a stop sign"
    assert list_shape(original, STOP_SIGN) == (2, 8) and tag_list_score(original, STOP_SIGN) == 0.625  # 1 - 0.125 x 3
    nine = STOP_SIGN + ", with a deep and even tone"
    assert list_shape(original, nine) == (2, 9) and tag_list_score(original, nine) == 0.5  # fails the floor
    # five items are free; a full stop starts a new sentence: one of 5 items and one of 3 tags cost nothing
    split = STOP_SIGN.replace(", with minimal background clutter", ". Minimal background clutter")
    assert list_shape(original, split) == (3, 5) and tag_list_score(original, split) == 1.0
    # the user's own items are free here too
    market = "market, fruits, people talking, sunny day, colorful"
    assert list_shape(market, market + ", warm light in the late afternoon") == (0, 1)


def test_tag_run_leaves_the_users_own_list_alone():
    # the user's items neither count nor end a run: copying their list costs nothing
    market = "market, fruits, people talking, sunny day, colorful"
    assert tag_run(market, market) == 0
    assert tag_run(market, market + ", warm light, busy stalls") == 2
    assert tag_list_score(market, "market, fruits, soft light, people talking, sunny day, colorful, bokeh") == 1.0


def trailing_tag_run(original, text):
    return trailing_list(original, text)[0]


def test_trailing_tag_run_is_the_run_one_more_comma_would_extend():
    # the sampler's view of an unfinished answer: the last sentence's run, its open item counted
    assert trailing_tag_run("a dog", "a dog running on the beach, soft light, bokeh, 4k") == 3
    assert trailing_tag_run("a dog", "a dog running on the beach, soft light, bokeh, ") == 2  # empty open item
    assert trailing_tag_run("a dog", "a dog running on the beach, soft light, bokeh, a slow pan across") == 0
    assert trailing_tag_run("a dog", "soft light, bokeh, 4k, warm. Calm") == 1
    assert trailing_tag_run("a dog", "soft light, bokeh, 4k, warm.") == 0
    assert trailing_tag_run("market, fruits", "market, fruits, warm light") == 1  # the user's items are free
    # the longest run is the most the trailing one ever was
    assert tag_run("a dog", DISHES) == max(trailing_tag_run("a dog", DISHES[:i]) for i in range(len(DISHES) + 1))


def test_checks_call_a_tag_dump_degenerate_and_say_why():
    verdict = TextChecks().check("a student washing dishes in the kitchen", DISHES)
    assert verdict.scores["TAG"] == 0.125 and verdict.scores["REP"] > 0.75 and verdict.scores["LEX"] == 1.0
    assert verdict.degenerate and not verdict.passes
    assert verdict.reasons == ("dumps a list (TAG 0.12 <= 0.5: a sentence of 12 comma items)",)
    # a run of short tags names the run when it costs more than the sentence's items
    tags = TextChecks().check("a dog", "a dog, " + ", ".join(["soft", "warm", "crisp", "calm", "vivid", "bright",
                                                                  "clear", "sharp", "bold"]))
    assert tags.scores["TAG"] == 0.375 and tags.reasons == ("dumps a list (TAG 0.38 <= 0.5: a run of 9 short comma items)",)
    assert TEXT_FLOORS["TAG"] == 0.5


# ---------------------------------------------------------------------------- Reward classes


def test_text_rewards_score_the_rendered_prompt_against_the_original():
    videos = [video("a dog, detail, details, detailed, detail"), video("a dog runs on a sunny beach")]
    originals = ["a dog", "a cat and a dog running on the beach"]
    rep = RepetitionReward().score(videos, originals)
    # 1: min(0.6, 0.5, 0.667, 1) = 0.5 (test_rep_on_a_repeated_word_with_inflections_merged); 2: no repeat
    assert rep["REP"].tolist() == pytest.approx([0.5, 1.0]) and rep.failures == {}
    intent = IntentReward().score(videos, originals)
    # 1: dog kept -> 1.0; 2: cat, dog, running, beach -> cat lost -> 3/4
    assert intent["INT"].tolist() == pytest.approx([1.0, 0.75])
    leak = LeakageReward(instructions=INSTRUCTIONS).score(
        [video("a cat, describe the subject its motion"), video("Here is the new prompt: a cat")], ["a cat", "a cat"])
    assert leak["LEAK"].tolist() == pytest.approx([2 / 7, 0.0])
    lex = LexiconReward().score([video(LIFE), video("a crab in the sand at dawn")], ["a crab at dawn"] * 2)
    assert lex["LEX"].tolist() == [0.0, 1.0]  # three coinages: 1 - 1.5 clamped to 0; none: 1
    tag = TagListReward().score([video(DISHES), video("a student washing dishes, warm light")],
                                ["a student washing dishes in the kitchen"] * 2)
    assert tag["TAG"].tolist() == [0.125, 1.0]
    for reward in (RepetitionReward(), IntentReward(), LeakageReward(), LexiconReward(), TagListReward()):
        assert reward.fingerprint.startswith(type(reward).__name__ + "/v")
    assert LeakageReward(["x"]).fingerprint != LeakageReward(["y"]).fingerprint


def test_fluency_reward_through_score(tiny_lm_dir):
    reward = FluencyReward(model=str(tiny_lm_dir))
    scores = reward.score([video("a red car"), video("")], ["a car", "a car"])
    assert scores["FLU"][0].item() == pytest.approx(hand_flu(tiny_lm_dir, "a red car"), abs=1e-4)
    assert scores["FLU"][1].item() == -100.0 and scores.failures == {}  # empty: least fluent, not a failure
    assert str(tiny_lm_dir) in reward.fingerprint


@pytest.mark.parametrize("reward", [RepetitionReward(), IntentReward(), LeakageReward(INSTRUCTIONS), LexiconReward()],
                         ids=lambda r: type(r).__name__)
def test_a_video_without_its_prompt_fails_alone_with_the_key_named(reward):
    bad = Video(torch.zeros((1, 2, 2, 3), dtype=torch.uint8), fps=8.0, meta={"prompt": None})
    scores = reward.score([video("a dog"), video(), bad], ["a dog"] * 3)
    (dim,) = reward.dimensions
    assert math.isfinite(scores[dim][0].item()) and torch.isnan(scores[dim][1:]).all()
    assert set(scores.failures) == {1, 2}
    assert "video.meta['prompt']" in scores.failures[1] and "got NoneType" in scores.failures[2]


# ---------------------------------------------------------------------------- TextChecks


def test_checks_pass_a_good_rewrite():
    verdict = TextChecks().check("a dog running on the beach", "A dog runs along a sunny beach at dawn, soft light")
    assert verdict.passes and verdict.reasons == ()
    assert verdict.scores == {"REP": 1.0, "LEAK": 1.0, "INT": 1.0, "LEX": 1.0, "TAG": 1.0}  # no fluency LM: no FLU
    assert not verdict.degenerate and not verdict.leaked and verdict.intent_kept


def test_checks_name_what_failed():
    checks = TextChecks()
    crab = checks.check("a crab hiding in the sand at dawn", CRAB)
    assert crab.degenerate and not crab.leaked and crab.intent_kept and not crab.passes
    assert crab.reasons == ("repeats itself (REP 0.00 <= 0.75)",
                            "dumps a list (TAG 0.25 <= 0.5: a run of 10 short comma items)")

    chat = checks.check("a dog running on the beach", "Sure! Here is the refined prompt: a dog running on the beach")
    assert chat.leaked and not chat.degenerate and chat.intent_kept
    assert chat.reasons == ("echoes instructions (LEAK 0.00 <= 0.8)",)

    lost = checks.check("a cat and a dog playing", "a dog playing in the garden")
    assert lost.degenerate is False and not lost.intent_kept
    assert lost.reasons == ("loses the user's content (INT 0.67 <= 0.7: cat)",)

    empty = checks.check("a dog", "   ")
    assert empty.degenerate and empty.reasons[0] == "empty rewrite" and not empty.intent_kept


def test_floors_are_strict_and_only_the_given_ones_apply():
    # "dog cat dog dog": m = 4, allowed 2 + 4 // 25 = 2, one extra "dog" -> 1 - 1/4 = 0.75; bigrams
    # (dog,cat), (cat,dog), (dog,dog) and trigrams (dog,cat,dog), (cat,dog,dog) all distinct; no stutter
    # ("a" between the dogs)
    text = "a dog, a cat, a dog, a dog"
    assert repetition_score(text) == 0.75
    verdict = TextChecks().check("a dog and a cat", text)
    assert verdict.degenerate and verdict.reasons == ("repeats itself (REP 0.75 <= 0.75)",)  # 0.75 is not > 0.75
    only_rep = TextChecks(floors={"REP": 0.5})
    assert only_rep.check("a cat", "Here is a dog").passes  # no LEAK, no INT floor
    with pytest.raises(ValueError, match="2 originals but 1 rewrites"):
        TextChecks()(["a", "b"], ["a"])


def test_checks_with_a_fluency_lm(tiny_lm_dir):
    rewrite = "a dog running on the beach"
    flu = hand_flu(tiny_lm_dir, rewrite)
    strict = TextChecks(floors={**TEXT_FLOORS, "FLU": 0.0}, fluency=str(tiny_lm_dir))  # a folder: a scorer is built
    verdict = strict.check("a dog running on the beach", rewrite)
    assert verdict.scores["FLU"] == pytest.approx(flu, abs=1e-4)
    assert verdict.degenerate and verdict.reasons == (f"not fluent (FLU {flu:.2f} <= 0)",)
    lenient = TextChecks(floors={**TEXT_FLOORS, "FLU": -1000.0}, fluency=FluencyScorer(str(tiny_lm_dir)))
    assert lenient.check("a dog running on the beach", rewrite).passes
    assert lenient.check("a dog", "").scores["FLU"] == -100.0  # -inf is clipped


def test_rank_key_prefers_intent_then_repetition_then_fluency():
    checks = TextChecks(floors={})
    a, b, c = checks(["a brown dog on the beach"] * 3,
                     ["a dog on the beach", "a brown dog on the beach, a dog and a dog", "a brown dog on the beach"])
    # content of the original: brown, dog, beach (3)
    # a: INT 2/3 (brown lost), REP 1
    # b: INT 1; REP "brown dog beach dog dog": m = 5, allowed 2, dog 3 times -> 1 - 1/5 = 0.8; bigrams
    #    (brown,dog), (dog,beach), (beach,dog), (dog,dog) and the 3 trigrams distinct; no stutter
    # c: INT 1, REP 1
    assert a.rank_key() == pytest.approx((2 / 3, 1.0, 0.0)) and b.rank_key() == pytest.approx((1.0, 0.8, 0.0))
    assert c.rank_key() == (1.0, 1.0, 0.0)
    assert c.rank_key() > b.rank_key() > a.rank_key()  # intent first, then repetition
