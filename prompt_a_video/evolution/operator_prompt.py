"""The operator prompt of the LLM operators: what the paper shows the LLM, and how its
answer is read back.

:func:`build_messages` writes the chat (system + user): the ORIGINAL prompt, the top-k
earlier prompts best first with their per-dimension scores and aggregate, and the rules
(keep the meaning; more video-centric: subject detail, motion, camera, lighting, style;
no extra scene changes or pile of simultaneous actions; a word budget), asking for ``n``
prompts each wrapped in ``<PROMPT>...</PROMPT>``. :func:`parse_proposals` reads the
answer robustly; :func:`select_proposals` keeps the ones an operator may return.
"""

from __future__ import annotations

import hashlib
import math
import re

from prompt_a_video.evolution.base import Scored

SYSTEM_PROMPT = (
    "You are an expert prompt engineer for a text-to-video generation model. You improve "
    "prompts so that the model renders better videos, guided by the scores that earlier "
    "prompts received. You never change what the user asked for."
)

# What each reward dimension measures, in words an LLM can act on. Keys are the
# dimension names of prompt_a_video.rewards; `dimension_help` extends or overrides them.
DEFAULT_DIMENSION_HELP: dict[str, str] = {
    "VQ": "visual quality: sharp, clean, well-exposed, colourful frames",
    "TC": "temporal consistency: stable frames without flicker, jitter or morphing",
    "DD": "dynamic degree: how much visible motion the video has",
    "TVA": "text-video alignment: the video shows what the ORIGINAL prompt asks for",
    "FC": "factual consistency: physically plausible, common-sense content",
    "PF": "prompt fidelity: the new prompt keeps the meaning of the original",
    "AES": "aesthetics: how beautiful the frames look",
    "MPS": "human preference: how much people would prefer this video",
    "CLIP": "text-image similarity between the frames and the original prompt",
}

_GUIDELINES = (
    "Write {n} new prompt{s} for the same video. Each new prompt must:\n"
    "- keep the meaning of the original prompt: the same subjects, actions and setting;\n"
    "- be more video-centric: describe the subject's appearance and details, its motion, "
    "the camera (shot type, angle, movement), the lighting and the visual style;\n"
    "- avoid extra scene changes, cuts or transitions, and avoid too many simultaneous actions;\n"
    "{budget}"
    "- learn from the scores: keep what the best prompts do and improve the low-scoring dimensions;\n"
    "- differ from every prompt shown above.\n"
    "Wrap each new prompt in <PROMPT> and </PROMPT>, one per line, and write nothing else."
)
_RECAP = 'Now write {n} new prompt{s} for "{original}".'
# Fingerprint of the wording: an operator's fingerprint includes it, so a changed
# template never shares a cache or a pool label with the old one.
TEMPLATE_DIGEST = hashlib.sha256((SYSTEM_PROMPT + _GUIDELINES + _RECAP).encode()).hexdigest()[:8]


def normalize(text: str) -> str:
    """Comparison key of a prompt: lower case, single spaces, no trailing ``.!`` or quotes."""
    return re.sub(r"\s+", " ", text).strip().strip("\"'`").rstrip(".! ").strip().lower()


def top_history(history: list[Scored], k: int) -> list[Scored]:
    """The best ``k`` entries, best first by ``reward`` (NaN last; stable, so an already
    sorted history keeps its order)."""
    def key(item: Scored) -> float:
        r = item.reward
        return -r if isinstance(r, (int, float)) and not math.isnan(r) else math.inf

    return sorted(history, key=key)[: max(0, k)]


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "failed"
    return f"{float(value):.3g}"


def _history_block(history: list[Scored]) -> str:
    if not history:
        return "No earlier prompts have been scored yet."
    lines = ["Earlier prompts, best first, with their scores (higher is better):"]
    for i, item in enumerate(history, 1):
        scores = ", ".join(f"{dim}={_fmt(v)}" for dim, v in item.scores.items())
        lines.append(f'{i}. "{item.prompt}"')
        lines.append(f"   scores: {scores or 'none'}; aggregate reward: {_fmt(item.reward)}")
    return "\n".join(lines)


def build_messages(original: str, history: list[Scored], n: int, *, max_words: int | None = None,
                   dimension_help: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The chat asking for ``n`` new prompts: ``[system, user]`` messages.

    Args:
        original: the user's prompt; the new prompts must keep its meaning.
        history: earlier prompts with scores, shown in the given order (pass the top-k,
            best first: see :func:`top_history`).
        n: how many new prompts to ask for (>= 1).
        max_words: word budget of each new prompt (e.g. the backbone's token limit in
            words); None asks for none.
        dimension_help: ``{dimension: what it measures}`` added to (and overriding)
            :data:`DEFAULT_DIMENSION_HELP`; only the dimensions present in ``history``
            are explained.
    """
    if n < 1:
        raise ValueError(f"build_messages: n must be >= 1, got {n}")
    if max_words is not None and max_words < 1:
        raise ValueError(f"build_messages: max_words must be >= 1 or None, got {max_words}")
    helps = {**DEFAULT_DIMENSION_HELP, **(dimension_help or {})}
    dims = list(dict.fromkeys(d for item in history for d in item.scores))
    parts = [f'Original prompt: "{original.strip()}"', _history_block(history)]
    explained = [f"- {d}: {helps[d]}" for d in dims if d in helps]
    if explained:
        parts.append("What the scores measure:\n" + "\n".join(explained))
    budget = f"- be at most {max_words} words long;\n" if max_words else ""
    parts.append(_GUIDELINES.format(n=n, s="" if n == 1 else "s", budget=budget))
    # The task again, last: small models follow what they read last.
    parts.append(_RECAP.format(n=n, s="" if n == 1 else "s", original=original.strip()))
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


def reask_messages(messages: list[dict[str, str]], answer: str, kept: int, missing: int) -> list[dict[str, str]]:
    """The chat continued after an answer that held too few usable prompts: asks for ``missing`` more."""
    note = (f"Only {kept} of your prompts {'was' if kept == 1 else 'were'} usable"
            if kept else "None of your prompts were usable")
    follow = (f"{note} (each must be new, different from the prompts above, keep the original's "
              f"meaning and be wrapped in <PROMPT> and </PROMPT>). Write {missing} more new "
              f"prompt{'' if missing == 1 else 's'}, each wrapped in <PROMPT> and </PROMPT>.")
    return [*messages, {"role": "assistant", "content": answer or ""}, {"role": "user", "content": follow}]


# <PROMPT>, <prompt>, < PROMPT >, </ PROMPT>: tolerant of case and inner spaces.
_OPEN = re.compile(r"<\s*prompt\s*>", re.I)
_CLOSE = re.compile(r"<\s*/\s*prompt\s*>", re.I)
# A cut-off closing tag at the end of an answer ("...beach</PROM").
_PARTIAL_TAIL = re.compile(r"<\s*/?\s*p?r?o?m?p?t?\s*$", re.I)
_LIST_MARK = re.compile(r"^\s*(?:[-*\u2022+]|\(?#?\d{1,2}[.):]|\(?[a-z][.)])\s+", re.I)
# A quoted prompt followed by a comment: '"a dog on the beach" (score: ...)'.
_QUOTED_HEAD = re.compile(r'^(["\u201c])(.+?)(["\u201d])\s*\S')
_LABEL = re.compile(r"^\s*(?:(?:new\s+|refined\s+|improved\s+|rewritten\s+)?prompt\s*(?:#?\s*\d{1,2})?\s*"
                    r"[:.\-\u2013\u2014]|(?:answer|a)\s*:)\s*", re.I)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"


def _clean(text: str) -> str:
    """Strip tags, markdown, list markers, "Prompt 1:" labels and wrapping quotes."""
    text = _CLOSE.sub(" ", _OPEN.sub(" ", text))
    text = _PARTIAL_TAIL.sub("", text)
    text = re.sub(r"\s+", " ", text).strip()
    for _ in range(3):  # markers and labels can nest: "1. **Prompt 1:** "..."
        before = text
        text = re.sub(r"(\*\*|__|~~|`)", "", text).strip()
        text = _LIST_MARK.sub("", text)
        text = _LABEL.sub("", text)
        quoted = _QUOTED_HEAD.match(text)
        if quoted:
            text = quoted.group(2)
        text = text.strip().strip(_QUOTES).strip()
        if text.startswith("#"):
            text = text.lstrip("#").strip()
        if text == before:
            break
    return text


def _tagged_spans(text: str) -> list[str]:
    """Texts after each opening tag, up to its closing tag, else up to the next opening
    tag or the end of its paragraph (a blank line)."""
    opens = list(_OPEN.finditer(text))
    spans = []
    for i, m in enumerate(opens):
        end = opens[i + 1].start() if i + 1 < len(opens) else len(text)
        body = text[m.end():end]
        close = _CLOSE.search(body)
        if close:
            spans.append(body[: close.start()])
        else:  # never closed: the prompt ends with its paragraph
            spans.append(re.split(r"\n\s*\n", body.strip(), maxsplit=1)[0])
    return spans


# Lines of an untagged answer that talk to the user instead of describing a video.
_CHATTER = re.compile(r"^\W*(?:i|i'm|i've|i'll|i am|sure|certainly|of course|here|hope|note|sorry|"
                      r"unfortunately|as an ai|okay|ok|let me|these|this prompt|feel free)\b", re.I)


def _untagged_lines(text: str) -> list[str]:
    """Fallback without any tag: list items when the answer has a list, else its lines;
    minus lines that introduce something (ending with ':') or chat with the user
    ("Sure!", "I cannot...", "Here are...", "Hope this helps")."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    listed = [ln for ln in lines if _LIST_MARK.match(ln) or _LABEL.match(re.sub(r"(\*\*|__)", "", ln))]
    chosen = listed if listed else lines
    return [ln for ln in chosen if not ln.strip().rstrip("*").endswith(":") and not _CHATTER.match(ln)]


def parse_proposals(text: str, n: int) -> list[str]:
    """Up to ``n`` distinct, non-empty prompts read from an LLM answer.

    Prompts are the ``<PROMPT>...</PROMPT>`` spans (any case, spaces inside the tag; an
    unclosed or cut-off tag is accepted, its prompt ending at the next tag or blank line).
    An answer without any opening tag falls back to its numbered/bulleted/labelled items,
    or else its lines (minus lines ending with ':', which introduce something, and chat
    such as "Sure!" or "I cannot..."). Each is
    stripped of markdown, list markers, "Prompt 1:" labels and wrapping quotes (a quoted
    prompt followed by a comment keeps the quote); empty ones and duplicates (compared
    by :func:`normalize`) are dropped, keeping the first.
    """
    if not text or n < 1:
        return []
    raw = _tagged_spans(text) if _OPEN.search(text) else _untagged_lines(text)
    out, seen = [], set()
    for item in raw:
        prompt = _clean(item)
        key = normalize(prompt)
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(prompt)
        if len(out) == n:
            break
    return out


_STOP = frozenset("a an the of on in at to and or with for from by is are its it this that into onto over".split())


def _stem(word: str) -> str:
    """A crude stem, enough to match "running"/"runs"/"run" and "dogs"/"dog"."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]  # "runn" -> "run"
    return word


def content_words(text: str) -> set[str]:
    """Stems of the words of 3+ letters that are not stop words (for the overlap filter)."""
    return {_stem(w) for w in re.findall(r"[^\W\d_]{3,}", text.lower()) if w not in _STOP}


def select_proposals(candidates: list[str], original: str, exclude: list[str], n: int, *, min_words: int = 1,
                     min_overlap: float = 0.0) -> list[str]:
    """The candidates an operator may return, in order, at most ``n``.

    Drops a candidate that is (by :func:`normalize`) the original, one of ``exclude``
    (earlier prompts, proposals already kept) or an earlier candidate; that has fewer
    than ``min_words`` words; or that repeats less than the share ``min_overlap`` (0-1)
    of the original's content words (:func:`content_words`; an answer about something
    else: small models drift).
    """
    taken = {normalize(original)} | {normalize(p) for p in exclude}
    core = content_words(original)
    need = math.ceil(min_overlap * len(core) - 1e-9)
    out = []
    for cand in candidates:
        key = normalize(cand)
        if not key or key in taken or len(cand.split()) < min_words:
            continue
        if need and len(core & content_words(cand)) < need:
            continue
        taken.add(key)
        out.append(cand)
        if len(out) == n:
            break
    return out


def propose_by_chat(ask, original: str, history: list[Scored], n: int, *, top_k: int, max_words: int | None,
                    max_reasks: int, dimension_help: dict[str, str] | None = None, min_words: int = 1,
                    min_overlap: float = 0.0, messages: list[dict[str, str]] | None = None) -> list[str]:
    """The LLM operators' conversation: ask, parse, keep the usable, re-ask for the rest.

    ``ask(messages, attempt) -> str`` sends a chat and returns the answer text (``attempt``
    0 is the first question, 1.. the re-asks, e.g. to vary a seed). Shows the top
    ``top_k`` of ``history``; keeps proposals as :func:`select_proposals` does, excluding
    the original, every prompt of ``history`` and the proposals already kept; re-asks up
    to ``max_reasks`` times while fewer than ``n`` are kept. Returns at most ``n``.
    ``messages``: the first question, when the operator writes its own (the paper's
    prompt); default :func:`build_messages`.
    """
    if n < 1:
        return []
    if messages is None:
        messages = build_messages(original, top_history(history, top_k), n, max_words=max_words,
                                  dimension_help=dimension_help)
    # Lines of our own question: a model that echoes the instructions proposes nothing.
    echo = [_clean(ln) for m in messages for ln in m["content"].splitlines()]
    exclude = [h.prompt for h in history] + echo
    kept: list[str] = []
    for attempt in range(max_reasks + 1):
        answer = ask(messages, attempt) or ""
        new = select_proposals(parse_proposals(answer, n + 32), original, exclude + kept,
                               n - len(kept), min_words=min_words, min_overlap=min_overlap)
        kept.extend(new)
        if len(kept) >= n or attempt == max_reasks:
            break
        messages = reask_messages(messages, answer, len(kept), n - len(kept))
    return kept


def drop_unfinished(text: str) -> str:
    """An answer cut off by the token limit, without its unfinished last ``<PROMPT>``
    (kept when it is the only one: a cut prompt is better than none)."""
    opens, closes = list(_OPEN.finditer(text or "")), list(_CLOSE.finditer(text or ""))
    if opens and closes and opens[-1].start() > closes[-1].start():
        return text[: closes[-1].end()]
    return text
