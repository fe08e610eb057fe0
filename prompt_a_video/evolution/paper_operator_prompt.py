"""The paper's operator prompt, element by element, in our own words.

What the official evolution shows GPT-4o (``booster/finetuning/gpt4o_pipe.py`` for the
system message, ``booster/finetuning/gpt_boost.py`` for the user message), and what
:func:`paper_messages` therefore shows:

- a system message with few-shot examples of refined prompts (the official code reads
  Open-Sora's ``assets/texts/t2v_pllava.txt``; here any line file, ``examples``), the
  rules (describe every object, renderable, at most six sentences, in English), the
  seven score dimensions named, and the task: ``n`` paraphrases of the original that
  score higher than every prompt shown, each in ``<PROMPT>...</PROMPT>``;
- a user message listing the prompts, numbered: ``0.`` is always the original, then the
  three best other prompts so far (all of them while there are at most four), each
  followed by ``(score, VQ:.., TC:.., DD:.., TVA:.., FC:.., AES: .., MPS: ..)`` with AES
  and MPS shown as the official ranking weighs them (``AES*5/8``, ``MPS/4``); no
  aggregate is shown.

The wording is ours (the official text is the authors'); the elements, the order and
the numbers shown are the official code's. ``docs/paper-fidelity.md`` compares them.
"""

from __future__ import annotations

import hashlib
import math

from prompt_a_video.evolution.base import Scored

#: The paper's seven dimensions, in the order its prompt lists them.
PAPER_DIMENSIONS = ("VQ", "TC", "DD", "TVA", "FC", "AES", "MPS")
#: How the official prompt shows AES and MPS: already weighted for its ranking formula.
SHOWN_SCALE = {"AES": 5 / 8, "MPS": 1 / 4}
#: Prompts besides the original that the official prompt shows.
SHOWN_OTHERS = 3

_SYSTEM = (
    "You refine the prompt a user wrote for a text-to-video model, so that the model renders a better "
    "video from it. Examples of refined prompts:\n{examples}\n\n"
    "A refined prompt describes every object in the video, in words an AI model can regenerate the video "
    "from. It has at most six sentences and is written in English.\n"
    "The user gives you the original prompt and earlier rewrites of it, each with the scores of the video "
    "it produced on seven dimensions: visual quality (VQ), temporal consistency (TC), dynamic degree (DD), "
    "text-video alignment (TVA), factual consistency (FC), aesthetic score (AES) and image quality (MPS). "
    "The prompts are numbered; number 0 is the original prompt. Build on the prompts that scored best: "
    "look at each dimension's scores, learn from the earlier prompts and combine their strengths.\n"
    "The new prompts must keep the meaning of the original prompt, and must not add scene changes or "
    "many actions, which video models render badly.\n"
    "Write {n} paraphrases of the original prompt that keep its meaning and score higher than every "
    "prompt the user shows. Put each new prompt between <PROMPT> and </PROMPT>, e.g. <PROMPT>paraphrase 1</PROMPT>."
)
TEMPLATE_DIGEST = hashlib.sha256(_SYSTEM.encode()).hexdigest()[:8]


def _shown(scores: dict[str, float]) -> str:
    parts = []
    for dimension in PAPER_DIMENSIONS:
        if dimension in scores:
            value = scores[dimension] * SHOWN_SCALE.get(dimension, 1.0)
            parts.append(f"{dimension}: {'failed' if math.isnan(value) else round(value, 2)}")
    return f" (score, {', '.join(parts)})" if parts else ""


def shown_prompts(original: str, history: list[Scored]) -> list[Scored]:
    """Number 0 the original (with its scores when ``history`` holds them), then the best
    :data:`SHOWN_OTHERS` others of ``history`` (best first), or all while there are at
    most that many, as ``gpt_boost.py`` shows them."""
    key = original.strip().lower()
    own = next((h for h in history if h.prompt.strip().lower() == key), None)
    others = [h for h in history if h is not own]
    return [own or Scored(original, {}, float("nan"), 0), *others[:SHOWN_OTHERS]]


def paper_messages(original: str, history: list[Scored], n: int, examples: list[str]) -> list[dict[str, str]]:
    """The chat asking for ``n`` new prompts the paper's way: ``[system, user]``.

    Args:
        original: the user's prompt.
        history: earlier prompts with their scores, best first (the original among them).
        n: paraphrases asked for (the paper's 3).
        examples: refined prompts shown as examples (the paper's few-shot list).
    """
    if n < 1:
        raise ValueError(f"paper_messages: n must be >= 1, got {n}")
    if not examples:
        raise ValueError("paper_messages: the paper's prompt shows example refined prompts; give at least one")
    system = _SYSTEM.format(examples="\n".join(e.strip() for e in examples), n=n)
    lines = [f"{i}. {item.prompt.strip()}{_shown(item.scores)}" for i, item in enumerate(shown_prompts(original,
                                                                                                           history))]
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]
