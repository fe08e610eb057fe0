"""The output language: the detector on hand-written texts, the guard's language check, the
language instruction (only when training did not settle it), and `Refiner` on the tiny
export with a non-English prompt."""

import pytest

from prompt_a_video.modules.backbone import DEFAULT_SYSTEM_PROMPT, CausalLMBackbone
from prompt_a_video.refiner.language import LanguagePrompt, language_instruction
from prompt_a_video.rewards.text.checks import TextChecks
from prompt_a_video.rewards.language import detect_language, in_language, language_votes

ORIGINAL = "a golden retriever running along a beach at sunset"
ENGLISH = ("A golden retriever sprints along a sunlit beach at sunset, its fur glowing as the waves roll in, "
           "slow motion, cinematic lighting.")
GERMAN = ("Ein goldener Retriever sprintet bei Sonnenuntergang über einen sonnigen Strand, sein Fell glänzt, "
          "während die Wellen hereinrollen, Zeitlupe, filmisches Licht.")
CHINESE = "一只金毛寻回犬在夕阳下沿着阳光明媚的海滩奔跑，毛发闪闪发光，慢动作，电影般的灯光。"
FRENCH = "Un golden retriever court sur une plage ensoleillée au coucher du soleil, sa fourrure brille."


def test_detect_language_by_script_and_function_words():
    assert detect_language(ENGLISH) == "en"
    assert detect_language(GERMAN) == "de"
    assert detect_language(CHINESE) == "zh"
    assert detect_language(FRENCH) == "fr"
    assert detect_language("海辺を走る犬") == "ja"  # kana with the Han
    assert detect_language("해변을 달리는 개") == "ko"
    assert detect_language("Собака бежит по пляжу") == "ru"
    assert detect_language("ein Hund läuft am Strand") == "de"  # ein, am (1 each) + läuft's ä (1/2)
    # "a" is a function word of en, es, it and pt alike: a tie, so no answer; no function word: none
    assert language_votes("a dog") == {"en": 0.25, "de": 0.0, "fr": 0.0, "es": 0.25, "it": 0.25, "pt": 0.25,
                                       "nl": 0.0}
    assert detect_language("a dog") is None and detect_language("dog running") is None
    assert detect_language("4K, 60 fps!") is None


def test_in_language_accepts_english_and_rejects_other_languages():
    assert in_language(ENGLISH, "en")
    assert not in_language(GERMAN, "en") and not in_language(CHINESE, "en") and not in_language(FRENCH, "en")
    assert in_language(CHINESE, "zh") and not in_language(ENGLISH, "zh") and not in_language(CHINESE, "ja")
    assert in_language(GERMAN, "de")
    # English with a French phrase is English; a text it cannot judge passes
    assert in_language("A café in Paris at dusk, la vie en rose playing, a woman walks by the Seine.", "en")
    assert in_language("dog running, golden hour", "en") and in_language("", "en")
    # a few Chinese characters in an English rewrite do not outweigh it, a Chinese rewrite with an English word does
    assert in_language("A dog runs on the beach at sunset near the sign 海滩.", "en")
    assert not in_language("A dog 在海滩上奔跑", "en")
    with pytest.raises(ValueError, match="language must be one of en, de"):
        in_language(ENGLISH, "xx")


def test_the_guard_checks_rejects_a_rewrite_in_another_language():
    checks = TextChecks(floors={}, language="en")  # no floor: only the language can fail
    assert checks.check(ORIGINAL, ENGLISH).passes
    german = checks.check(ORIGINAL, GERMAN)
    assert not german.passes and german.wrong_language and german.reasons == ("not in English (reads as German)",)
    chinese = checks.check(ORIGINAL, CHINESE)
    assert not chinese.passes and chinese.reasons == ("not in English (reads as Chinese)",)
    # without a language, nothing is said about it (the evaluation's checks)
    assert TextChecks(floors={}).check(ORIGINAL, GERMAN).passes
    with pytest.raises(ValueError, match="TextChecks: language must be one of"):
        TextChecks(language="klingon")


def test_a_translation_is_not_judged_on_words_it_cannot_share():
    german_prompt = "ein goldener Hund läuft am Strand bei Sonnenuntergang"
    checks = TextChecks(language="en")
    verdict = checks.check(german_prompt, ENGLISH)
    # INT compares words: "hund" is not "retriever"; the prompt is German, so intent is not checked, and said so
    assert verdict.passes and "INT" not in verdict.scores
    assert verdict.notes == ("intent not checked: the prompt is in German, the rewrite asked for in English "
                             "(INT compares words)",)
    assert not checks.check(german_prompt, GERMAN).passes  # still in the wrong language
    # an English prompt keeps its intent check
    lost = checks.check(ORIGINAL, "A cat sleeps on a sofa, cinematic lighting, warm tones.")
    assert not lost.passes and not lost.intent_kept and not lost.notes


def test_the_language_instruction_is_added_only_when_training_did_not_settle_it():
    backbone = CausalLMBackbone(model="unused", lora=None, user_template="Prompt: {prompt}")
    english = LanguagePrompt(backbone, "en")
    # an English prompt into English: the chat is exactly the trained one
    assert english.messages(ORIGINAL) == backbone.messages(ORIGINAL)
    assert english.messages("dog running") == backbone.messages("dog running")  # undetectable: as trained
    # a German prompt into English: told, at the end of the system prompt; the user turn is as trained
    chat = english.messages("ein Hund läuft am Strand")
    assert chat[0] == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT + " " + language_instruction("en")}
    assert chat[1] == {"role": "user", "content": "Prompt: ein Hund läuft am Strand"}
    assert language_instruction("en") == ("Write the description in English, even if the user's prompt is in "
                                          "another language.")
    # another output language than the training's: always told
    chinese = LanguagePrompt(backbone, "zh")
    assert chinese.messages(ORIGINAL)[0]["content"].endswith("Write the description in Chinese, even if the "
                                                            "user's prompt is in another language.")
    assert backbone.messages(ORIGINAL)[0]["content"] == DEFAULT_SYSTEM_PROMPT  # the backbone is left alone
    # no system turn (the paper's format): the instruction opens the user turn, which still ends in "New prompt:"
    paper = CausalLMBackbone(model="unused", lora=None, prompt_format="paper")
    (user,) = LanguagePrompt(paper, "en").messages("ein Hund")
    assert user["content"] == language_instruction("en") + "\n" + paper.messages("ein Hund")[0]["content"]
    assert user["content"].endswith("ein Hund\nNew prompt:\n")
    with pytest.raises(ValueError, match=r"language must be one of .* \(ISO 639-1\), got 'english'"):
        LanguagePrompt(backbone, "english")


# ---------------------------------------------------------------------------- Refiner

GERMAN_PROMPT = "ein brauner Hund läuft am Strand bei Sonnenuntergang"


@pytest.fixture(scope="module")
def export_dir(tiny_refiner_export_dir, one_torch_thread):
    return tiny_refiner_export_dir


def test_a_german_prompt_is_refined_into_english_through_the_whole_path(export_dir, monkeypatch):
    from prompt_a_video import Refiner
    from prompt_a_video.refiner import generation

    seen = []
    original = generation.refine_with

    def spy(model, tokenizer, backbone, prompts, n=1, **kwargs):
        seen.extend(backbone.messages(p) for p in prompts)
        return original(model, tokenizer, backbone, prompts, n, **kwargs)

    monkeypatch.setattr(generation, "refine_with", spy)
    refiner = Refiner(export_dir)
    assert refiner.language == "en"  # the export records no target: English, the training language
    raw = refiner.refine([GERMAN_PROMPT, "a dog running"], guard=False, max_new_tokens=6, seed=1)
    assert len(raw) == 2 and all(len(r) == 1 and r[0] for r in raw)
    german_chat, english_chat = seen
    assert german_chat[0]["content"].endswith(language_instruction("en"))
    assert german_chat[1]["content"] == f"Prompt: {GERMAN_PROMPT}"  # the export's own template
    assert english_chat[0]["content"] == refiner.settings["system_prompt"]  # as trained
    # guarded: whatever the tiny model writes is judged in English, and the answer is a rewrite or the prompt
    (answers,) = refiner.refine_guarded([GERMAN_PROMPT], 1, guard_samples=3, max_new_tokens=6, seed=1)
    assert answers[0].text
    assert answers[0].fallback or answers[0].verdict.passes
    for line in answers[0].rejected:  # the intent check is off for a German prompt: other reasons only
        assert "loses the user's content" not in line


def test_refiner_language_setting_and_the_default_checks(export_dir):
    from prompt_a_video import Refiner

    assert Refiner(export_dir, language="zh").language == "zh"
    assert Refiner(export_dir, target="wan").language == "en"
    checks = Refiner(export_dir, language="de").default_checks()
    assert checks.language == "de" and language_instruction("de") in checks.instructions
    with pytest.raises(ValueError, match="language must be one of"):
        Refiner(export_dir, language="German")
