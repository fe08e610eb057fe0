"""The user's prompt inside a chat string, as the paper's DPO files store it.

The paper's DPO stage (jiyt17/Prompt-A-Video: ``booster/dpo/inference.py``, then
``booster/dpo/filter.py``) writes each triplet's ``"prompt"`` as the whole Llama-3 chat
text the refiner was sampled with::

    <|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\n{task text}{prompt}\\nNew prompt:<|eot_id|><|start_header_id|>assistant<|end_header_id|>\\n\\n

Our pairs hold the user's prompt alone (DPO builds the chat itself, in the backbone's
prompt format: ``prompt_format: paper`` gives the paper's text back). Read as the prompt,
that string would be wrapped in a second chat template, silently; :func:`user_prompt_of`
takes the user's prompt out of it.
"""

from __future__ import annotations

import re

_LLAMA3_USER = re.compile(
    r"^\s*(?:<\|begin_of_text\|>)?<\|start_header_id\|>user<\|end_header_id\|>\n\n(?P<user>.*?)"
    r"<\|eot_id\|>(?:<\|start_header_id\|>assistant<\|end_header_id\|>\n\n)?\s*$", re.S)
_NEW_PROMPT = re.compile(r"\n?New prompt:\n?\s*$")


def user_prompt_of(text: str) -> str:
    """The user's prompt in a Llama-3 chat string of the paper's format; other text unchanged."""
    from prompt_a_video.modules.backbone import PAPER_TASK_PROMPT

    match = _LLAMA3_USER.match(text)
    if match is None:
        return text
    user = match.group("user")
    if user.startswith(PAPER_TASK_PROMPT):
        user = _NEW_PROMPT.sub("", user[len(PAPER_TASK_PROMPT):])
    return user.strip()
