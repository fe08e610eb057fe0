"""Repetition controls that look at the answer only, never at the prompt.

- :class:`AnswerWordRepeatCap`: a content word (inflections merged: detail, details,
  detailed) may start at most ``max_uses`` times in the answer; further starts are banned.
  Aimed at the small refiner's failure, "detail, detail, detail", which token n-gram
  rules miss (" detail", "detail" and " details" are different tokens);
- bans never fall inside a word: a ban on a word's second token makes the model finish
  the word otherwise, and it coins one. SmolLM2 spells "lifelike" `Ġlif` + `elike`; a
  trigram ban on the second ", lifelike" left `Ġlif` + `ely`, `eless`, `et acular`
  ("lifely", "lifeless", "lifetacular": issue 15). So the n-gram rule bans only tokens
  that start a word (or are not letters), and the cap bans a word spelt in several
  tokens at its first token;
- :class:`AnswerRepetitionPenalty`, :class:`AnswerNoRepeatNGram`: transformers' two
  rules, restricted to the answer;
- :class:`AnswerTagRunCap`: no comma after ``max_run`` short comma items in a row or once
  a sentence holds ``max_items`` items, so a list of distinct quality words ("crisp, clear,
  soft, realistic, ...") or of "with ..." clauses ends before the ``TAG`` check fails it
  (issue 15);
- :class:`SingleLineAnswer`: no line break in the answer. A video prompt is one line; a
  small refiner that starts a new paragraph is about to talk about itself ("marsh,\n\nI am
  a prompt engineer for a text-to-video model...").


transformers' ``repetition_penalty`` and ``no_repeat_ngram_size`` count every token of
``input_ids``, the chat prompt included: a refiner sampled with them is pushed away from
the very words the user wrote (measured in issue 11: content kept fell from 78% to 4%).
These two processors apply the same rules to the generated tokens alone. Prompts are
left-padded to one width (:func:`~prompt_a_video.refiner.generation.left_pad`), so the answer
of every row starts at column ``prompt_width``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import torch


class AnswerRepetitionPenalty:
    """CTRL's repetition penalty (Keskar et al. 2019) over the answer's tokens only.

    A token already generated has its logit divided by ``penalty`` when positive and
    multiplied by it when negative. ``scores`` ``[B, V]``; ``input_ids`` ``[B, prompt_width + t]``.
    """

    def __init__(self, prompt_width: int, penalty: float) -> None:
        if penalty <= 0:
            raise ValueError(f"repetition penalty must be > 0, got {penalty}")
        self.prompt_width = prompt_width
        self.penalty = float(penalty)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        answer = input_ids[:, self.prompt_width:]
        if answer.shape[1] == 0 or self.penalty == 1.0:
            return scores
        picked = scores.gather(1, answer)
        picked = torch.where(picked > 0, picked / self.penalty, picked * self.penalty)
        return scores.scatter(1, answer, picked)


class AnswerNoRepeatNGram:
    """No n-gram of ``size`` tokens occurs twice in the answer (the prompt is not counted).

    After the answer's last ``size - 1`` tokens, every token that would complete an
    n-gram the answer already holds gets ``-inf``; with ``tokenizer``, except tokens that
    continue a word (letters with no leading space: ``elike`` of ``Ġlif elike``), whose
    ban would coin a word.
    """

    def __init__(self, prompt_width: int, size: int, tokenizer=None) -> None:
        if size < 1:
            raise ValueError(f"no-repeat n-gram size must be >= 1, got {size}")
        self.prompt_width = prompt_width
        self.size = int(size)
        self.inside = _word_continuations(tokenizer) if tokenizer is not None else frozenset()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        answer = input_ids[:, self.prompt_width:].tolist()
        n = self.size
        for row, tokens in enumerate(answer):
            if len(tokens) < n:
                continue  # not one full n-gram yet (for n == 1 it is never < 1 once a token exists)
            tail = tuple(tokens[len(tokens) - n + 1:]) if n > 1 else ()
            banned = [tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tuple(tokens[i:i + n - 1]) == tail
                      and tokens[i + n - 1] not in self.inside]
            if banned:
                scores[row, banned] = float("-inf")
        return scores


_WORD_TOKEN = re.compile(r"\s[^\W\d_]{3,}")
_SPACE_MARKS = ("\u0120", "\u2581", " ")  # byte-level BPE's "Ġ", SentencePiece's "▁"


@lru_cache(maxsize=8)
def _word_continuations(tokenizer) -> frozenset[int]:
    """Ids of the tokens that continue a word: a letter first, no space mark before it."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    special = set(getattr(tokenizer, "all_special_ids", ()))
    return frozenset(i for i, piece in enumerate(pieces) if i not in special and isinstance(piece, str)
                     and piece[:1] not in _SPACE_MARKS and piece[:1].isalpha())


@lru_cache(maxsize=8)
def _word_starts(tokenizer) -> dict[str, list[int]]:
    """``{canonical content word: [token ids that start that word]}`` (a space, then letters)."""
    from prompt_a_video.rewards.text.words import STOPWORDS, canonical

    out: dict[str, list[int]] = {}
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    for token_id, piece in enumerate(pieces):
        # A word start: byte-level BPE marks the space with "Ġ", SentencePiece with "▁"
        # (decoding one SentencePiece token alone drops that space).
        if not isinstance(piece, str) or piece[:1] not in _SPACE_MARKS:
            continue
        text = " " + tokenizer.convert_tokens_to_string([piece]).strip()
        if _WORD_TOKEN.fullmatch(text):
            word = text.strip().lower()
            if word not in STOPWORDS:
                out.setdefault(canonical(word), []).append(token_id)
    return out


class AnswerWordRepeatCap:
    """A content word may begin at most ``max_uses`` times in the answer.

    After each step the answer so far is decoded and its content words counted by lemma
    (:func:`~prompt_a_video.rewards.text.words.canonical`); every vocabulary token that
    would start another use of a word already used ``max_uses`` times gets ``-inf``.
    The prompt's tokens are not counted; a word the user's own prompt uses ``k`` times
    (``originals``, one per row) may be used ``max(max_uses, k)`` times, so copying the
    prompt is always possible ("a dog chases another dog"). Word starts are tokens of a
    space then 3+ letters. A word spelt in several tokens (``lifelike``: ``Ġlif`` +
    ``elike``) is banned at its first token, unless that piece is itself a word
    (lemminflect's dictionary: ``Ġsun`` of ``sunlight`` stays free, so "sun" can still be said);
    that bans the other words it starts too ("lifeless"), which is the point.
    """

    def __init__(self, prompt_width: int, tokenizer, max_uses: int, originals: list[str] | None = None) -> None:
        from collections import Counter

        from prompt_a_video.rewards.text.words import canonical, content_words

        if max_uses < 1:
            raise ValueError(f"max word uses must be >= 1, got {max_uses}")
        self.prompt_width = prompt_width
        self.tokenizer = tokenizer
        self.max_uses = int(max_uses)
        self.starts = _word_starts(tokenizer)
        self.allowed = [Counter(canonical(w) for w in content_words(o)) for o in (originals or [])]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        from collections import Counter

        from prompt_a_video.rewards.text.words import canonical, content_words

        answers = self.tokenizer.batch_decode(input_ids[:, self.prompt_width:], skip_special_tokens=True)
        for row, text in enumerate(answers):
            used = content_words(text)
            counts = Counter(canonical(w) for w in used)
            allowed = self.allowed[row] if row < len(self.allowed) else {}
            capped = {word for word, c in counts.items() if c >= max(self.max_uses, allowed.get(word, 0))}
            banned = [i for word in capped for i in self.starts.get(word, ())]
            banned += [i for w in dict.fromkeys(used) if canonical(w) in capped
                       if (i := _first_piece(self.tokenizer, w)) is not None]
            if banned:
                scores[row, banned] = float("-inf")
        return scores



@lru_cache(maxsize=65536)
def _first_piece(tokenizer, word: str) -> int | None:
    """The first token of `` word`` when the tokenizer spells it in several and that first
    piece starts a word but is not one itself; else None. Cached across generate calls
    (the cap is rebuilt for every batch)."""
    from prompt_a_video.rewards.text.words import known

    ids = tokenizer.encode(" " + word, add_special_tokens=False)
    if len(ids) < 2:
        return None
    piece = tokenizer.convert_ids_to_tokens([ids[0]])[0]
    if not isinstance(piece, str) or piece[:1] not in _SPACE_MARKS:
        return None
    text = tokenizer.convert_tokens_to_string([piece]).strip().lower()
    return ids[0] if text.isalpha() and not known(text) else None


@lru_cache(maxsize=16)
def _tokens_holding(tokenizer, mark: str) -> tuple[int, ...]:
    """Ids of the non-special tokens whose text holds ``mark`` (a comma, a line break)."""
    special = set(getattr(tokenizer, "all_special_ids", ()))
    return tuple(i for i in range(len(tokenizer)) if i not in special and mark in tokenizer.decode([i]))


class AnswerTagRunCap:
    """No comma after ``max_run`` short comma items in a row, or once a sentence holds
    ``max_items`` items: a list ends.

    Both are counted as the ``TAG`` check counts them
    (:func:`~prompt_a_video.rewards.text.tag_list.trailing_list` of the answer so far:
    within the current sentence, the unfinished item counted, the user's own items free:
    ``originals``, one per row). At either cap every token holding a comma gets ``-inf``,
    so the model goes on with the item, joins with "and", ends the sentence, or stops. This
    is the sampler's half of the ``TAG`` check (a run of 8 tags or a sentence of 9 items
    fails it): the cpu-full refiners learnt comma lists of quality words from their pool,
    the word cap does not stop a list of distinct words, and once short tags were capped
    GRPO wrote run-on "with ..." clauses instead (issue 15). ``0`` switches a cap off.
    """

    def __init__(self, prompt_width: int, tokenizer, max_run: int = 0, originals: list[str] | None = None,
                 max_items: int = 0) -> None:
        if max_run < 0 or max_items < 0 or not (max_run or max_items):
            raise ValueError(f"tag-run cap: max_run and max_items must be >= 0, one of them >= 1, got "
                             f"{max_run}, {max_items}")
        self.prompt_width = prompt_width
        self.tokenizer = tokenizer
        self.max_run = int(max_run)
        self.max_items = int(max_items)
        self.originals = list(originals or [])
        self.commas = list(_tokens_holding(tokenizer, ","))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        from prompt_a_video.rewards.text.tag_list import trailing_list

        if not self.commas:
            return scores
        answers = self.tokenizer.batch_decode(input_ids[:, self.prompt_width:], skip_special_tokens=True)
        for row, text in enumerate(answers):
            run, items = trailing_list(self.originals[row] if row < len(self.originals) else "", text)
            if (self.max_run and run >= self.max_run) or (self.max_items and items >= self.max_items):
                scores[row, self.commas] = float("-inf")
        return scores




class SingleLineAnswer:
    """Every token whose text holds a line break gets ``-inf`` (special tokens, EOS
    included, stay allowed, so the answer can end)."""

    def __init__(self, tokenizer) -> None:
        self.banned = list(_tokens_holding(tokenizer, "\n"))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.banned:
            scores[:, self.banned] = float("-inf")
        return scores


def answer_processors(prompt_width: int, repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0,
                      max_word_uses: int = 0, tokenizer=None, originals: list[str] | None = None,
                      single_line: bool = False, max_tag_run: int = 0, max_list_items: int = 0) -> list:
    """The processors for these settings (none for ``1.0`` / ``0`` / ``0`` / ``False`` / ``0`` / ``0``).

    ``originals``: the user's prompt of each generated row (for the word cap's allowance
    and the tag cap's free items).
    """
    out = []
    if max_word_uses > 0:
        if tokenizer is None:
            raise ValueError("answer_processors: max_word_uses needs the tokenizer")
        out.append(AnswerWordRepeatCap(prompt_width, tokenizer, max_word_uses, originals))
    if single_line:
        if tokenizer is None:
            raise ValueError("answer_processors: single_line needs the tokenizer")
        out.append(SingleLineAnswer(tokenizer))
    if max_tag_run > 0 or max_list_items > 0:
        if tokenizer is None:
            raise ValueError("answer_processors: max_tag_run and max_list_items need the tokenizer")
        out.append(AnswerTagRunCap(prompt_width, tokenizer, max_tag_run, originals, max_list_items))
    if repetition_penalty != 1.0:
        out.append(AnswerRepetitionPenalty(prompt_width, repetition_penalty))
    if no_repeat_ngram_size > 0:
        out.append(AnswerNoRepeatNGram(prompt_width, no_repeat_ngram_size, tokenizer))
    return out
