"""Instruction leakage (``LEAK``): did the rewrite echo its instructions instead of a prompt?

A refiner that learned the system prompt rather than the task writes "The subject's
appearance, action, motion, lighting, camera and style, detailed, concise description";
a chat model may answer "Sure! Here is the refined prompt: ...", or emit chat markup
(``<|im_end|>``, ``assistant``). A video model renders all of that as content.

``LEAK = 0`` when the text holds a marker (chat markup, a role label, assistant talk
such as "here is", "as an AI", "refined prompt") that the original prompt does not hold
itself (a user who wrote "here is my cat" may get "here is" back, not ``<|im_end|>``);
otherwise ``LEAK = 1 - covered``,
where ``covered`` is the share of the text's words inside a run of
``RUN_WORDS`` words that also occurs in one of the instruction texts and not in the
original prompt (so a user whose prompt quotes the instructions is not penalised).
Range ``[0, 1]``, 1 = nothing leaked.

The instruction texts default to every instruction the project gives an LLM: the
refiner's default system prompt and the evolution operator's system prompt and rules.
"""

from __future__ import annotations

import re
from functools import cached_property

import torch

from prompt_a_video.rewards.base import Reward
from prompt_a_video.rewards.text.rendered import rendered_prompts
from prompt_a_video.rewards.text.words import ngrams, words
from prompt_a_video.video import Video

RUN_WORDS = 4

MARKERS = re.compile(
    r"<\|[^|>]*\|>|</?(?:s|prompt|im_start|im_end)>|\[/?INST\]"  # chat and operator markup
    r"|^\s*(?:system|user|assistant)\s*[:\n]|\n\s*(?:system|user|assistant)\s*[:\n]"  # role labels
    r"|\b(?:here\s+is|here's|here\s+are)\b|\bas\s+an\s+ai\b|\bi\s+(?:cannot|can't|am\s+unable)\b"
    r"|\b(?:refined|rewritten|improved|enhanced|new)\s+(?:video\s+)?prompt\b|\bprompt\s+engineer"
    r"|\bvideo-centric\b|\buser'?s\s+prompt\b|\boriginal\s+prompt\b|\bdescription\s+only\b",
    re.IGNORECASE,
)


def default_instructions() -> list[str]:
    """The instruction texts the project shows LLMs (imported lazily: no torch/transformers)."""
    from prompt_a_video.evolution import operator_prompt
    from prompt_a_video.modules.backbone import DEFAULT_SYSTEM_PROMPT

    return [DEFAULT_SYSTEM_PROMPT, operator_prompt.SYSTEM_PROMPT, operator_prompt._GUIDELINES]


def marker_phrases(text: str) -> set[str]:
    """The markers in ``text``, lower-cased with whitespace collapsed (``"Here  is"`` -> ``"here is"``)."""
    return {" ".join(m.group(0).lower().split()) for m in MARKERS.finditer(text)}


def covered_share(text: str, instructions: list[str], original: str = "") -> float:
    """Share of ``text``'s words inside a ``RUN_WORDS``-word run found in ``instructions``
    but not in ``original``."""
    tokens = words(text)
    if len(tokens) < RUN_WORDS:
        return 0.0
    leaked = set().union(*(set(ngrams(words(t), RUN_WORDS)) for t in instructions)) if instructions else set()
    leaked -= set(ngrams(words(original), RUN_WORDS))
    hit = [False] * len(tokens)
    for i, gram in enumerate(ngrams(tokens, RUN_WORDS)):
        if gram in leaked:
            hit[i:i + RUN_WORDS] = [True] * RUN_WORDS
    return sum(hit) / len(tokens)


def leakage_score(text: str, original: str = "", instructions: list[str] | None = None) -> float:
    """``LEAK`` of one rewrite of ``original`` (1 = clean); see the module docstring."""
    if instructions is None:
        instructions = default_instructions()
    if marker_phrases(text) - marker_phrases(original):
        return 0.0
    return float(1.0 - covered_share(text, instructions, original))


class LeakageReward(Reward):
    """``LEAK`` of the prompt each video was rendered from, against the original prompt.

    Args:
        instructions: the instruction texts whose echo counts as leakage; default: the
            project's own (:func:`default_instructions`). Add your system prompt if you
            train with another one.
    """

    VERSION = 2  # v2: a marker is excused only when the original holds that same marker
    dimensions = ("LEAK",)

    def __init__(self, instructions: list[str] | None = None) -> None:
        self._instructions = None if instructions is None else [str(t) for t in instructions]

    @cached_property
    def instructions(self) -> list[str]:
        return default_instructions() if self._instructions is None else self._instructions

    @property
    def fingerprint(self) -> str:
        import hashlib

        digest = hashlib.sha256("\x00".join(self.instructions).encode()).hexdigest()[:8]
        return f"LeakageReward/v{self.VERSION}(run={RUN_WORDS},instructions={digest})"

    def score_batch(self, videos: list[Video], prompts: list[str]) -> dict[str, torch.Tensor]:
        texts = rendered_prompts(videos)
        return {"LEAK": torch.tensor([leakage_score(t, o, self.instructions) for t, o in zip(texts, prompts)])}
