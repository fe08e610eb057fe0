"""Rows that share a prefix packed into one row, the prefix run once (DPO pairs, SFT batches).

A DPO batch holds every prompt twice (its chosen row and its rejected row), and for the
refiner the prompt is most of the tokens: the chat template and the instruction run to
~100 tokens, a refined prompt to 10-60. Each pair is packed into one row instead::

    [ prompt | chosen answer | rejected answer | padding ]

with a 4D attention mask under which a chosen token sees the prompt and the chosen tokens
before it, a rejected token sees the prompt and the rejected tokens before it (never the
chosen answer), and with position ids that restart after the prompt for the rejected
answer. Every answer token therefore has exactly the context (tokens and positions) it
has in its own ``[prompt | answer]`` row, and the last prompt position predicts the first
token of both answers. The forward pass costs ``P + C + R`` tokens per pair instead of
``2P + C + R`` (plus padding to the batch's longest row), in compute and in the
activations kept for backward. When the pairs' prompts start alike (the chat template
and the system prompt), the whole batch becomes one row and that start runs once:
``S + sum(P_i - S + C_i + R_i)`` tokens, under a mask that keeps each pair to itself.

:func:`pair_sequence_logps` takes the unpacked ``[2B, T]`` batch (chosen rows, then
rejected rows, as :meth:`DPORefiner.encode_pairs` builds it), packs it when it can, and
otherwise computes the same values with :func:`.logprobs.model_sequence_logps`.

The same holds for any group of rows behind a shared prefix: an SFT batch shares the chat
template and the system prompt (~80 of ~135 tokens with the default prompt), so
:func:`shared_prefix_sequence_logps` packs the whole batch into one row
``[prefix | row 1 | row 2 | ...]`` under the same kind of mask: a refiner's SFT step runs
about half the tokens of the padded batch (2300 of 4408 on the 32 seed pairs in batches of 4).

GRPO's rollouts are groups too: ``G`` rewrites of each prompt, next to each other.
:func:`grouped_token_logps` packs each group into a row ``[prompt | rewrite 1 | ... |
rewrite G]`` and returns per-token log-probs (the GRPO loss is token-level). Each group
keeps its own row (the system prompt is not shared across groups): one row for the whole
batch would make attention quadratic in the batch's tokens, and on 2 prompts x 4 rewrites
of SmolLM2 (~100 prompt and ~50 answer tokens) the per-group rows already run 2 x ~300
tokens instead of 8 x ~150.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from prompt_a_video.modules.chat_encoding import IGNORE_INDEX
from prompt_a_video.modules.logprobs import (
    CHUNK_LOGITS,
    HIDDEN_STATE_MODEL_TYPES,
    TokenLogps,
    labelled_token_logps,
    model_sequence_logps,
    model_token_logps,
    scattered_token_logps,
)

# Attention implementations that take an arbitrary (4D, additive) mask as given.
MASKABLE_ATTENTION = frozenset({"sdpa", "eager"})

PROMPT, CHOSEN, REJECTED, PADDING = 0, 1, 2, -1


@dataclass
class PackedRows:
    """Groups of rows packed behind their shared prefixes, each prefix run once.

    A group's rows share a prefix (a pair's prompt); with ``shared`` tokens common to
    every group as well (the chat template and the system prompt), all the groups go into
    one packed row ``[shared | group 1's prefix rest | its members' tokens | group 2 ...]``;
    otherwise each group is a packed row of its own.

    Attributes:
        input_ids: ``[R, L]`` the packed rows, padded with id 0.
        position_ids: ``[R, L]`` each token's position in its own unpacked row.
        segments: ``[R, L]`` ``PROMPT`` for a prefix token, ``k + 1`` for member ``k`` of its
            group (``CHOSEN``, ``REJECTED`` for a pair), ``PADDING``.
        groups: ``[R, L]`` the group a token belongs to; -1 for the prefix every group shares.
        source_rows, source_cols: ``[M]`` the packed position that predicts each scored token.
        targets: ``[M]`` the scored token ids.
        sequence: ``[M]`` which unpacked row each scored token belongs to.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    segments: torch.Tensor
    groups: torch.Tensor
    source_rows: torch.Tensor
    source_cols: torch.Tensor
    targets: torch.Tensor
    sequence: torch.Tensor

    def attention_mask(self, implementation: str, dtype: torch.dtype) -> torch.Tensor:
        """``[R, 1, L, L]`` mask in the form ``implementation`` takes it as given.

        Causal, padding keys hidden; a token sees the shared prefix, its group's prefix and
        its own member's tokens, never another member's or another group's; a padding
        query sees the prefix (a row with nothing to attend would softmax to NaN). ``sdpa``
        gets booleans (True = attend; valid under autocast too), ``eager`` adds the mask to
        its scores, so it gets 0 / the ``dtype``'s minimum.
        """
        width = self.segments.shape[1]
        query, key = self.segments[:, :, None], self.segments[:, None, :]
        q_group, k_group = self.groups[:, :, None], self.groups[:, None, :]
        causal = torch.ones(width, width, dtype=torch.bool, device=self.segments.device).tril()
        own_group = (k_group == q_group) & ((key == PROMPT) | (key == query))
        padding_sees_prefix = (query == PADDING) & (key == PROMPT)
        allowed = (causal & (key != PADDING) & ((k_group == -1) | own_group | padding_sees_prefix)).unsqueeze(1)
        if implementation == "sdpa":
            return allowed
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(~allowed,
                                                                                           torch.finfo(dtype).min)


PackedPairs = PackedRows  # a pair is a group of two rows: chosen, rejected


def _prompt_lengths(labels: torch.Tensor) -> list[int]:
    """Per row, the tokens before the first labelled one (0 when the first is labelled or none is)."""
    labelled = labels != IGNORE_INDEX
    return torch.where(labelled.any(1), labelled.float().argmax(1), 0).tolist()


def _common_prefix(input_ids: torch.Tensor, limit: int) -> int:
    """How many leading tokens every row shares (at most ``limit``)."""
    same = (input_ids[:, :limit] == input_ids[:1, :limit]).all(0)
    return int(same.long().cumprod(0).sum())


def pack_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
              groups: list[list[int]], prefixes: list[int], shared: int = 0) -> PackedRows:
    """Pack right-padded ``[N, T]`` rows by group (row indices): group ``g``'s first
    ``prefixes[g]`` tokens once, then each member's remaining tokens. With ``shared > 0``
    (tokens every row starts with, ``<= min(prefixes)``) all groups share one packed row
    and those tokens appear once in it. The caller checked that a group's rows share their
    prefix and that no prefix token is labelled."""
    lengths = attention_mask.sum(1).tolist()
    labelled = labels != IGNORE_INDEX
    layout = [list(range(len(groups)))] if shared else [[g] for g in range(len(groups))]
    rows, positions, segments, group_ids = [], [], [], []
    sources, source_rows, targets, sequence = [], [], [], []
    for r, in_row in enumerate(layout):
        first = groups[in_row[0]][0]
        parts, pos = [input_ids[first, :shared]], [torch.arange(shared)]
        seg, grp = [torch.full((shared,), PROMPT)], [torch.full((shared,), -1)]
        column = shared  # where the next piece starts in the packed row
        for g in in_row:
            members, p = groups[g], prefixes[g]
            parts.append(input_ids[members[0], shared:p])
            pos.append(torch.arange(shared, p))
            seg.append(torch.full((p - shared,), PROMPT))
            grp.append(torch.full((p - shared,), g))
            base = column - shared  # unpacked column c in [shared, p) sits at packed column c + base
            column += p - shared
            for k, row in enumerate(members):
                rest = input_ids[row, p:lengths[row]]
                parts.append(rest)
                pos.append(torch.arange(p, p + len(rest)))
                seg.append(torch.full((len(rest),), k + 1))
                grp.append(torch.full((len(rest),), g))
                # A token at unpacked column t is predicted from column t - 1.
                cols = labelled[row, :lengths[row]].nonzero().squeeze(1)
                before = cols - 1
                moved = torch.where(before >= p, before + column - p, before + base)
                sources.append(torch.where(before >= shared, moved, before))
                targets.append(labels[row, cols])
                sequence.append(torch.full_like(cols, row))
                source_rows.append(torch.full_like(cols, r))
                column += len(rest)
        rows.append(torch.cat(parts))
        positions.append(torch.cat(pos))
        segments.append(torch.cat(seg))
        group_ids.append(torch.cat(grp))
    width = max(len(row) for row in rows)
    packed = [torch.zeros(len(rows), width, dtype=input_ids.dtype), torch.zeros(len(rows), width, dtype=torch.long),
              torch.full((len(rows), width), PADDING, dtype=torch.long), torch.full((len(rows), width), -1,
                                                                                    dtype=torch.long)]
    for i, values in enumerate(zip(rows, positions, segments, group_ids)):
        for tensor, value in zip(packed, values):
            tensor[i, :len(value)] = value
    device = input_ids.device
    return PackedRows(*(t.to(device) for t in packed), torch.cat(source_rows).to(device),
                      torch.cat(sources).to(device), torch.cat(targets).to(device), torch.cat(sequence).to(device))


def pack_pairs(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> PackedRows | None:
    """Pack a right-padded ``[2B, T]`` pair batch (chosen rows, then rejected rows); None if it cannot be.

    Each pair's prompt is run once; when the pairs' prompts start alike (the chat template
    and the system prompt), all the pairs share one packed row and that start runs once
    for the batch. A batch cannot be packed when some pair's two rows do not start with
    the same prompt (the tokens before the first labelled one): an overlong example whose
    prompt was cut differently for its two answers, or a row whose very first token is labelled.
    """
    if input_ids.shape[0] % 2:
        raise ValueError(f"pack_pairs expects chosen rows then rejected rows ([2B, T]), got {input_ids.shape[0]} rows")
    pairs = input_ids.shape[0] // 2
    prompt_len = _prompt_lengths(labels)
    for i in range(pairs):
        p = prompt_len[i]
        if p == 0 or prompt_len[pairs + i] != p or not torch.equal(input_ids[i, :p], input_ids[pairs + i, :p]):
            return None
    shared = _common_prefix(input_ids, min(prompt_len)) if pairs > 1 else 0
    return pack_rows(input_ids, attention_mask, labels, [[i, pairs + i] for i in range(pairs)], prompt_len[:pairs],
                     shared=shared)


def pack_shared_prefix(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> PackedRows | None:
    """Pack a right-padded ``[B, T]`` batch into one row behind the prefix all its rows
    share (an SFT batch: the chat template and the system prompt, ~80 tokens of ~135);
    None when they share no unlabelled prefix or packing would not save tokens."""
    prompt_len = _prompt_lengths(labels)
    limit = min(prompt_len)
    if input_ids.shape[0] < 2 or limit == 0:
        return None
    prefix = _common_prefix(input_ids, limit)
    lengths = attention_mask.sum(1)
    if prefix == 0 or prefix + int((lengths - prefix).sum()) >= input_ids.shape[0] * int(lengths.max()):
        return None
    return pack_rows(input_ids, attention_mask, labels, [list(range(input_ids.shape[0]))], [prefix])


def pack_groups(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                group_size: int) -> PackedRows | None:
    """Pack a right-padded ``[B x G, T]`` batch of ``B`` groups of ``G`` consecutive rows
    (GRPO's rollouts: a prompt's ``G`` rewrites next to each other), one packed row per
    group, its prompt once; None when some group's rows do not start with the same prompt
    (the tokens before the first labelled one) or a row's first token is labelled."""
    n = input_ids.shape[0]
    if group_size < 1 or n % group_size:
        raise ValueError(f"pack_groups expects groups of {group_size} consecutive rows, got {n} rows")
    prompt_len = _prompt_lengths(labels)
    groups = [list(range(start, start + group_size)) for start in range(0, n, group_size)]
    for members in groups:
        first, p = members[0], prompt_len[members[0]]
        if p == 0 or any(prompt_len[r] != p or not torch.equal(input_ids[r, :p], input_ids[first, :p])
                         for r in members[1:]):
            return None
    return pack_rows(input_ids, attention_mask, labels, groups, [prompt_len[m[0]] for m in groups])


def _packable_model(model, width: int) -> bool:
    config = model.config
    window = getattr(config, "sliding_window", None)
    return (getattr(config, "model_type", None) in HIDDEN_STATE_MODEL_TYPES
            and getattr(config, "_attn_implementation", None) in MASKABLE_ATTENTION
            # a custom mask replaces the model's own, sliding window included: only below it
            and (window is None or not getattr(config, "use_sliding_window", True) or width <= window))


def _scoring_hidden(model, packed: PackedRows) -> torch.Tensor:
    """The decoder's final hidden states ``[M, H]`` at the packed positions that predict a
    scored token (``packed.source_rows``, ``packed.source_cols``), under the packing's mask."""
    mask = packed.attention_mask(model.config._attn_implementation, model.get_output_embeddings().weight.dtype)
    hidden = model.get_decoder()(input_ids=packed.input_ids, attention_mask=mask, position_ids=packed.position_ids,
                                 use_cache=False).last_hidden_state  # [R, L, H]
    return hidden[packed.source_rows, packed.source_cols]


def packed_sequence_logps(model, packed: PackedRows | None, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                          labels: torch.Tensor, chunk_logits: int = CHUNK_LOGITS) -> tuple[torch.Tensor, torch.Tensor]:
    """Answer log-probs ``(logps, counts)`` ``[N]`` of the unpacked rows, computed on the
    packed rows; on the unpacked rows when ``packed`` is None or the model cannot take a
    custom mask (another attention implementation, a model type outside
    ``HIDDEN_STATE_MODEL_TYPES``, rows longer than a sliding window)."""
    if packed is None or not _packable_model(model, packed.input_ids.shape[1]):
        return model_sequence_logps(model, input_ids, attention_mask, labels, chunk_logits=chunk_logits)
    head = model.get_output_embeddings()
    token_logps = labelled_token_logps(_scoring_hidden(model, packed), head, packed.targets, chunk_logits)  # [M]
    n = input_ids.shape[0]
    sums = torch.zeros(n, dtype=token_logps.dtype, device=token_logps.device).index_add(0, packed.sequence, token_logps)
    return sums, torch.bincount(packed.sequence, minlength=n)


def pair_sequence_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                        chunk_logits: int = CHUNK_LOGITS) -> tuple[torch.Tensor, torch.Tensor]:
    """Answer log-probs ``(logps, counts)`` ``[2B]`` of a pair batch, each prompt run once.

    Args:
        model: a transformers causal LM, optionally PEFT-wrapped.
        input_ids, attention_mask, labels: ``[2B, T]`` right-padded: pair ``i``'s chosen row
            at ``i``, its rejected row at ``B + i``; ``labels`` is ``-100`` off the answers.
        chunk_logits: logits per chunk of the LM-head projection (:func:`.logprobs.labelled_token_logps`).

    Returns:
        float32 sums of the answer tokens' log-probs (nats) and long token counts, equal
        (up to float rounding) to ``model_sequence_logps`` on the unpacked rows, which is
        what runs for a batch :func:`pack_pairs` refuses or a model it cannot take a custom
        mask to.
    """
    return packed_sequence_logps(model, pack_pairs(input_ids, attention_mask, labels), input_ids, attention_mask,
                                 labels, chunk_logits)


def shared_prefix_sequence_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                                 chunk_logits: int = CHUNK_LOGITS) -> tuple[torch.Tensor, torch.Tensor]:
    """Answer log-probs ``(logps, counts)`` ``[B]`` of a batch (SFT's), the prefix its rows
    share run once (:func:`pack_shared_prefix`); the same values, up to float rounding, as
    ``model_sequence_logps`` on the unpacked rows, which is what runs when it cannot pack."""
    return packed_sequence_logps(model, pack_shared_prefix(input_ids, attention_mask, labels), input_ids,
                                 attention_mask, labels, chunk_logits)


def grouped_token_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                        group_size: int, entropy: bool = False) -> TokenLogps:
    """Per-token answer log-probs of a batch of groups (GRPO's), each group's prompt run once.

    Args:
        model: a transformers causal LM, optionally PEFT-wrapped.
        input_ids, attention_mask, labels: ``[B x G, T]`` right-padded, group ``b``'s rows
            at ``b x G .. b x G + G - 1``; ``labels`` ``-100`` off the answers.
        group_size: ``G``.
        entropy: also each position's next-token entropy (no gradient).

    Returns:
        a :class:`~prompt_a_video.modules.logprobs.TokenLogps` of ``[B x G, T - 1]``
        tensors, equal (up to float rounding) to ``model_token_logps`` on the unpacked
        rows, which is what runs when :func:`pack_groups` refuses the batch or the model
        cannot take a custom mask.
    """
    packed = pack_groups(input_ids, attention_mask, labels, group_size)
    if packed is None or not _packable_model(model, packed.input_ids.shape[1]):
        return model_token_logps(model, input_ids, attention_mask, labels, entropy=entropy)
    # pack_rows lists a row's scored tokens in column order and the rows in order (groups
    # of consecutive rows): the row-major order of the unpacked mask, which scattering needs.
    mask = labels[:, 1:] != IGNORE_INDEX
    return scattered_token_logps(_scoring_hidden(model, packed), model.get_output_embeddings(), packed.targets, mask,
                                 entropy)
