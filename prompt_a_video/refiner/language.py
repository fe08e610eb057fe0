"""The refiner's output language: asking the model for it without changing a trained prompt.

A refiner is prompted exactly as it was trained (the system prompt and user template of
its ``refiner.json``): a different instruction is a different input, and a fine-tuned
model does best on the one it learned. So the language is named in the prompt only when
the training did not already settle it:

- the output language differs from the training language (:data:`TRAINING_LANGUAGE`:
  the project's refiners learn from English evolved prompts under an English system
  prompt), e.g. ``language="zh"``; or
- the user's prompt is, by :func:`~prompt_a_video.rewards.language.detect_language`,
  in another language than the output: an English-trained refiner has never seen a
  German prompt, and left alone it tends to answer in German.

An English prompt refined into English is therefore prompted character for character as
in training. The instruction (:func:`language_instruction`) is appended to the system
prompt; a format without a system turn (``paper``) gets it as the first line of the
user turn, before the task text, so the turn still ends with what the model was trained
to answer after ("New prompt:").
"""

from __future__ import annotations

from typing import Any

from prompt_a_video.rewards.language import LANGUAGES, detect_language, language_name

__all__ = ["TRAINING_LANGUAGE", "LanguagePrompt", "check_language", "language_instruction"]

#: The language the project's refiners are trained to write (and the default system
#: prompt asks for implicitly, being English).
TRAINING_LANGUAGE = "en"


def check_language(language: str | None) -> str | None:
    """``language`` if the guard can check it (a key of ``LANGUAGES``) or None; else a ValueError."""
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)} (ISO 639-1), got {language!r}")
    return language


def language_instruction(language: str) -> str:
    """The sentence that asks for ``language``: "Write the description in English, even if
    the user's prompt is in another language." """
    return f"Write the description in {language_name(language)}, even if the user's prompt is in another language."


class LanguagePrompt:
    """A backbone's ``messages(prompt)`` with the language instruction added when needed.

    Args:
        backbone: what builds the trained chat (a
            :class:`~prompt_a_video.modules.backbone.CausalLMBackbone`), left unchanged.
        language: the output language (a key of ``LANGUAGES``).
        trained_language: the language the refiner was trained to write.
    """

    def __init__(self, backbone: Any, language: str, trained_language: str = TRAINING_LANGUAGE) -> None:
        self.backbone = backbone
        self.language = check_language(language)
        self.trained_language = trained_language

    def needs_instruction(self, prompt: str) -> bool:
        """Whether ``prompt`` is asked for the language (see the module doc)."""
        if self.language != self.trained_language:
            return True
        source = detect_language(prompt)
        return source is not None and source != self.language

    def messages(self, prompt: str, answer: str | None = None) -> list[dict[str, str]]:
        chat = [dict(turn) for turn in self.backbone.messages(prompt, answer)]
        if not self.needs_instruction(prompt):
            return chat
        instruction = language_instruction(self.language)
        if chat and chat[0]["role"] == "system":
            chat[0]["content"] = f"{chat[0]['content'].rstrip()} {instruction}"
        else:
            user = next(turn for turn in chat if turn["role"] == "user")
            user["content"] = f"{instruction}\n{user['content']}"
        return chat
