"""Both answers of a preference pair in one row, after a single copy of their prompt.

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
activations kept for backward.

:func:`pair_sequence_logps` takes the unpacked ``[2B, T]`` batch (chosen rows, then
rejected rows, as :meth:`DPORefiner.encode_pairs` builds it), packs it when it can, and
otherwise computes the same values with :func:`.logprobs.model_sequence_logps`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from prompt_a_video.modules.chat_encoding import IGNORE_INDEX
from prompt_a_video.modules.logprobs import (
    CHUNK_LOGITS,
    HIDDEN_STATE_MODEL_TYPES,
    labelled_token_logps,
    model_sequence_logps,
)

# Attention implementations that take an arbitrary (4D, additive) mask as given.
MASKABLE_ATTENTION = frozenset({"sdpa", "eager"})

PROMPT, CHOSEN, REJECTED, PADDING = 0, 1, 2, -1


@dataclass
class PackedPairs:
    """``B`` preference pairs packed one row each, and where their answer tokens are scored.

    Attributes:
        input_ids: ``[B, L]`` prompt, chosen answer, rejected answer, padding (pad id 0).
        position_ids: ``[B, L]`` each token's position in its own unpacked row.
        segments: ``[B, L]`` ``PROMPT``, ``CHOSEN``, ``REJECTED`` or ``PADDING``.
        source_rows, source_cols: ``[M]`` the packed position that predicts each scored token.
        targets: ``[M]`` the scored token ids.
        sequence: ``[M]`` which unpacked row each scored token belongs to: ``i`` for pair
            ``i``'s chosen answer, ``B + i`` for its rejected answer.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    segments: torch.Tensor
    source_rows: torch.Tensor
    source_cols: torch.Tensor
    targets: torch.Tensor
    sequence: torch.Tensor

    def attention_mask(self, implementation: str, dtype: torch.dtype) -> torch.Tensor:
        """``[B, 1, L, L]`` mask in the form ``implementation`` takes it as given.

        Causal, padding keys hidden, and an answer's tokens visible only to the same answer;
        a padding query sees the prompt (a row with nothing to attend would softmax to NaN).
        ``sdpa`` gets booleans (True = attend; valid under autocast too), ``eager`` adds the
        mask to its scores, so it gets 0 / the ``dtype``'s minimum.
        """
        width = self.segments.shape[1]
        query, key = self.segments[:, :, None], self.segments[:, None, :]
        causal = torch.ones(width, width, dtype=torch.bool, device=self.segments.device).tril()
        allowed = (causal & (key != PADDING) & ((key == PROMPT) | (key == query))).unsqueeze(1)
        if implementation == "sdpa":
            return allowed
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(~allowed,
                                                                                           torch.finfo(dtype).min)


def pack_pairs(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> PackedPairs | None:
    """Pack a right-padded ``[2B, T]`` pair batch (chosen rows, then rejected rows); None if it cannot be.

    A batch cannot be packed when some pair's two rows do not start with the same prompt
    (the tokens before the first labelled one): an overlong example whose prompt was cut
    differently for its two answers, or a row whose very first token is labelled.
    """
    if input_ids.shape[0] % 2:
        raise ValueError(f"pack_pairs expects chosen rows then rejected rows ([2B, T]), got {input_ids.shape[0]} rows")
    pairs = input_ids.shape[0] // 2
    lengths = attention_mask.sum(1).tolist()
    labelled = labels != IGNORE_INDEX
    prompt_len = torch.where(labelled.any(1), labelled.float().argmax(1), 0).tolist()
    rows, positions, segments, sources, targets, sequence = [], [], [], [], [], []
    for i in range(pairs):
        c, r = i, pairs + i
        p = prompt_len[c]
        if p == 0 or prompt_len[r] != p or not torch.equal(input_ids[c, :p], input_ids[r, :p]):
            return None
        chosen, rejected = input_ids[c, p:lengths[c]], input_ids[r, p:lengths[r]]
        n_c, n_r = len(chosen), len(rejected)
        rows.append(torch.cat([input_ids[c, :p], chosen, rejected]))
        positions.append(torch.cat([torch.arange(p + n_c), torch.arange(p, p + n_r)]))
        segments.append(torch.tensor([PROMPT] * p + [CHOSEN] * n_c + [REJECTED] * n_r))
        # A token at unpacked column t is predicted from column t - 1; in the packed row the
        # rejected answer's columns are shifted by n_c, its first token predicted from the prompt.
        for row, shift, seq in ((c, 0, i), (r, n_c, pairs + i)):
            cols = labelled[row, :lengths[row]].nonzero().squeeze(1)
            before = cols - 1
            sources.append(torch.where(before >= p, before + shift, before))
            targets.append(labels[row, cols])
            sequence.append(torch.full_like(cols, seq))
    width = max(len(row) for row in rows)
    packed_ids = torch.zeros(pairs, width, dtype=input_ids.dtype)
    packed_pos = torch.zeros(pairs, width, dtype=torch.long)
    packed_seg = torch.full((pairs, width), PADDING, dtype=torch.long)
    for i, (row, pos, seg) in enumerate(zip(rows, positions, segments)):
        packed_ids[i, :len(row)], packed_pos[i, :len(row)], packed_seg[i, :len(row)] = row, pos, seg
    sequence = torch.cat(sequence)
    device = input_ids.device
    return PackedPairs(packed_ids.to(device), packed_pos.to(device), packed_seg.to(device),
                       (sequence % pairs).to(device),  # pair i's row holds sequences i and B + i
                       torch.cat(sources).to(device), torch.cat(targets).to(device), sequence.to(device))


def _packable_model(model, width: int) -> bool:
    config = model.config
    window = getattr(config, "sliding_window", None)
    return (getattr(config, "model_type", None) in HIDDEN_STATE_MODEL_TYPES
            and getattr(config, "_attn_implementation", None) in MASKABLE_ATTENTION
            # a custom mask replaces the model's own, sliding window included: only below it
            and (window is None or not getattr(config, "use_sliding_window", True) or width <= window))


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
        mask to (another attention implementation, a model type outside
        ``HIDDEN_STATE_MODEL_TYPES``, rows longer than a sliding window).
    """
    packed = pack_pairs(input_ids, attention_mask, labels)
    if packed is None or not _packable_model(model, packed.input_ids.shape[1]):
        return model_sequence_logps(model, input_ids, attention_mask, labels, chunk_logits=chunk_logits)
    head = model.get_output_embeddings()
    mask = packed.attention_mask(model.config._attn_implementation, head.weight.dtype)
    hidden = model.get_decoder()(input_ids=packed.input_ids, attention_mask=mask, position_ids=packed.position_ids,
                                 use_cache=False).last_hidden_state  # [B, L, H]
    token_logps = labelled_token_logps(hidden[packed.source_rows, packed.source_cols], head, packed.targets,
                                       chunk_logits)  # [M]
    n = input_ids.shape[0]
    sums = torch.zeros(n, dtype=token_logps.dtype, device=token_logps.device).index_add(0, packed.sequence, token_logps)
    return sums, torch.bincount(packed.sequence, minlength=n)
