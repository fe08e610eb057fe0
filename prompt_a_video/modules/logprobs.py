"""Log-probabilities of the labelled (assistant) tokens of each sequence.

DPO compares whole answers, so it needs ``log π(answer | prompt)`` per sequence: the sum
of the next-token log-probs over the answer's tokens; SFT's loss is their mean negated.

:func:`model_sequence_logps` runs the model and never materialises its ``[N, T, V]``
logits (V is 49k for SmolLM2, 128k for Llama 3, 152k for Qwen2.5; in fp32 the logits of
8 x 512 tokens alone are 0.8-2.5 GB, kept for backward, plus their gradient): it takes the
decoder's final hidden states, keeps the positions that predict a labelled token (the
answer, typically well under half of them), and projects them through the LM head a chunk
of rows at a time (:func:`labelled_token_logps`, ``CHUNK_LOGITS`` logits a chunk), each
chunk under non-reentrant activation checkpointing so that backward recomputes its logits
instead of storing them. :func:`sequence_logps` is the same sum from given logits.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from prompt_a_video.modules.chat_encoding import IGNORE_INDEX

# Causal LMs whose logits are exactly ``lm_head(get_decoder()(...).last_hidden_state)``
# in transformers 5.x (no softcapping or logit scaling after the head; tests check each
# against the model's own logits). Others (Gemma 2/3 softcap, Granite and Cohere scale
# their logits, ...) take the model's forward with ``logits_to_keep`` instead.
HIDDEN_STATE_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "smollm3", "olmo2"})

# Float32 logits per chunk: 2**22 = 16 MB (85 tokens at V = 49152, 27 at V = 152k).
# Peak working memory of a chunk is a few times this (logits, softmax, gradient).
CHUNK_LOGITS = 2**22


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor,
                   average: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence log-probability of the labelled tokens, from given logits.

    Args:
        logits: ``[B, T, V]`` next-token logits (any float dtype; computed in float32).
            Position ``t`` predicts token ``t + 1``.
        labels: ``[B, T]`` token ids, ``-100`` where a token is not scored (prompt,
            padding). The first label is never scored (nothing predicts it).
        average: divide each sum by its token count (length-normalised log-prob).

    Returns:
        ``(logps, counts)``: ``logps`` ``[B]`` float32 in nats (≤ 0), the sum (or mean) of
        ``log p(label_t | tokens < t)`` over labelled tokens, with gradient to ``logits``;
        ``counts`` ``[B]`` long, how many tokens were scored.
    """
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(f"sequence_logps expects logits [B, T, V] and labels [B, T], "
                         f"got {tuple(logits.shape)} and {tuple(labels.shape)}")
    logits = logits[:, :-1]
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    safe_targets = targets.masked_fill(~mask, 0)  # any valid id; masked out below
    # One sequence at a time: the float32 working set is [T, V], not a [B, T, V] log-softmax.
    rows = []
    for row_logits, row_targets in zip(logits, safe_targets):
        rows.append(_picked_logps(row_logits, row_targets))
    # where, not a product: a masked position must not leak a NaN/inf of its logits
    token_logps = torch.where(mask, torch.stack(rows), 0.0)
    return _per_sequence(token_logps.sum(-1), mask.sum(-1), average)


def _picked_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[target]`` per row: logits ``[M, V]``, targets ``[M]`` -> ``[M]`` float32."""
    logits = logits.float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def _head_logps(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return _picked_logps(head(hidden), targets)


def labelled_token_logps(hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor,
                         chunk_logits: int = CHUNK_LOGITS) -> torch.Tensor:
    """``log p(target | hidden)`` per token, projecting through ``head`` chunk by chunk.

    Args:
        hidden: ``[M, H]`` final hidden states (post final norm) of the positions to score.
        head: the LM head (``model.get_output_embeddings()``), ``[M, H] -> [M, V]``.
        targets: ``[M]`` token ids that those positions predict.
        chunk_logits: logits per chunk (rows x V); a chunk has at least one row.

    Returns:
        ``[M]`` float32 log-probs (nats, ≤ 0), differentiable w.r.t. ``hidden`` and the
        head's trainable weights. With grad enabled each chunk runs under non-reentrant
        checkpointing: only its ``[rows, H]`` input is saved, and backward recomputes its
        logits, so at most one chunk of logits exists at a time, forward or backward.
    """
    if hidden.dim() != 2 or targets.shape != hidden.shape[:1]:
        raise ValueError(f"labelled_token_logps expects hidden [M, H] and targets [M], "
                         f"got {tuple(hidden.shape)} and {tuple(targets.shape)}")
    rows = max(1, chunk_logits // _vocab_size(head))
    recompute = torch.is_grad_enabled()
    out = []
    for lo in range(0, hidden.shape[0], rows):
        h, t = hidden[lo:lo + rows], targets[lo:lo + rows]
        if recompute:
            from torch.utils.checkpoint import checkpoint

            out.append(checkpoint(_head_logps, head, h, t, use_reentrant=False))
        else:
            out.append(_head_logps(head, h, t))
    return torch.cat(out) if out else hidden.new_zeros(0, dtype=torch.float32)


def _vocab_size(head: torch.nn.Module) -> int:
    # nn.Linear and PEFT's LoRA Linear have out_features; other wrappers expose .weight
    return int(getattr(head, "out_features", None) or head.weight.shape[0])


def model_sequence_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                         average: bool = False, chunk_logits: int = CHUNK_LOGITS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence log-probability of the labelled tokens under a causal LM.

    Args:
        model: a transformers causal LM, optionally PEFT-wrapped (an active/disabled adapter
            applies as in the model's own forward).
        input_ids, attention_mask: ``[N, T]``, right-padded.
        labels: ``[N, T]`` token ids, ``-100`` where not scored (as in :func:`sequence_logps`).
        average: divide each sum by its token count.
        chunk_logits: logits per chunk of the LM-head projection (see :func:`labelled_token_logps`).

    Returns:
        ``(logps, counts)`` ``[N]``: float32 sums (or means) of ``log p(label_t | tokens < t)``
        in nats, with gradient to the model's trainable weights; long token counts. Equal
        to ``sequence_logps(model(input_ids, attention_mask).logits, labels)`` up to float
        rounding.
    """
    if input_ids.dim() != 2 or labels.shape != input_ids.shape or attention_mask.shape != input_ids.shape:
        raise ValueError(f"model_sequence_logps expects input_ids, attention_mask and labels all [N, T], got "
                         f"{tuple(input_ids.shape)}, {tuple(attention_mask.shape)} and {tuple(labels.shape)}")
    mask = labels[:, 1:] != IGNORE_INDEX  # [N, T-1]: position t predicts labels[:, t + 1]
    # (a batch without any labelled token also goes the plain way: its zeros keep a graph)
    if getattr(model.config, "model_type", None) not in HIDDEN_STATE_MODEL_TYPES or not mask.any():
        return _logps_from_model_logits(model, input_ids, attention_mask, labels, average)
    counts = mask.sum(-1)
    hidden, targets = _labelled_hidden(model, input_ids, attention_mask, labels, mask)
    token_logps = labelled_token_logps(hidden, model.get_output_embeddings(), targets, chunk_logits)  # [M]
    rows = torch.arange(mask.shape[0], device=mask.device).unsqueeze(1).expand_as(mask)[mask]
    sums = torch.zeros(mask.shape[0], dtype=token_logps.dtype, device=token_logps.device).index_add(0, rows, token_logps)
    return _per_sequence(sums, counts, average)


def _labelled_hidden(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                     mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The decoder's final hidden states at the positions that predict a labelled token.

    ``mask`` is ``labels[:, 1:] != IGNORE_INDEX`` (``[N, T-1]``, at least one True).
    Returns ``(hidden [M, H], targets [M])``, ``M = mask.sum()``, in ``mask``'s row-major order.
    """
    # Positions after the last predicting one change nothing before them (causal): skip them.
    width = int(mask.any(0).nonzero().max()) + 1
    hidden = model.get_decoder()(input_ids=input_ids[:, :width], attention_mask=attention_mask[:, :width],
                                 use_cache=False).last_hidden_state  # [N, width, H]
    kept = mask[:, :width]
    return hidden[kept], labels[:, 1:width + 1][kept]


class TokenLogps(NamedTuple):
    """What :func:`model_token_logps` returns, all ``[N, T - 1]``.

    Attributes:
        logps: ``log p(labels[:, t + 1] | tokens <= t)`` (float32, 0 where ``mask`` is
            False), with gradient to the trainable weights.
        mask: bool, True at the labelled (scored) positions.
        entropy: float32 entropy (nats) of the model's next-token distribution at each
            position, without gradient; 0 where ``mask`` is False; None unless asked for.
    """

    logps: torch.Tensor
    mask: torch.Tensor
    entropy: torch.Tensor | None = None


def model_token_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      labels: torch.Tensor, entropy: bool = False) -> TokenLogps:
    """Per-token log-probabilities of the labelled tokens (what token-level losses such
    as GRPO's need): the same path as :func:`model_sequence_logps` (only the answer
    positions through the LM head, in checkpointed chunks), or the model's own forward for
    the model types outside ``HIDDEN_STATE_MODEL_TYPES``.

    Args:
        model: a transformers causal LM, optionally PEFT-wrapped.
        input_ids, attention_mask, labels: ``[N, T]``, right-padded; labels ``-100``
            where not scored.
        entropy: also return each position's next-token entropy (from the same logits).

    Returns:
        a :class:`TokenLogps` of ``[N, T - 1]`` tensors.
    """
    mask = labels[:, 1:] != IGNORE_INDEX
    if getattr(model.config, "model_type", None) not in HIDDEN_STATE_MODEL_TYPES or not mask.any():
        return _token_logps_from_model_logits(model, input_ids, attention_mask, labels, mask, entropy)
    # Only the answer positions go through the LM head, in checkpointed chunks (module doc).
    hidden, targets = _labelled_hidden(model, input_ids, attention_mask, labels, mask)
    head = model.get_output_embeddings()
    return scattered_token_logps(hidden, head, targets, mask, entropy)


def scattered_token_logps(hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor, mask: torch.Tensor,
                          entropy: bool = False) -> TokenLogps:
    """:class:`TokenLogps` ``[N, T - 1]`` from the final hidden states of the scored positions.

    Args:
        hidden: ``[M, H]`` the positions that predict a labelled token, in ``mask``'s
            row-major order (``M = mask.sum()``).
        head: the LM head; targets: ``[M]`` the labelled token ids; mask: ``[N, T - 1]`` bool.
        entropy: also each position's next-token entropy (no gradient).
    """
    picked = labelled_token_logps(hidden, head, targets)  # [M]
    token_entropy = None
    if entropy:
        with torch.no_grad():  # a diagnostic: the head again, a chunk of rows at a time
            rows = max(1, CHUNK_LOGITS // _vocab_size(head))
            token_entropy = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device).masked_scatter(
                mask, torch.cat([_entropy(head(hidden[lo:lo + rows])) for lo in range(0, hidden.shape[0], rows)]))
    zeros = torch.zeros(mask.shape, dtype=picked.dtype, device=picked.device)
    return TokenLogps(zeros.masked_scatter(mask, picked), mask, token_entropy)


def _token_logps_from_model_logits(model, input_ids, attention_mask, labels, mask, entropy):
    """:func:`model_token_logps` through the model's own forward (any post-head transform included)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1]
    picked = _picked_logps(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].clamp_min(0).reshape(-1))
    token_entropy = None
    if entropy:
        with torch.no_grad():  # one row at a time keeps the float32 softmax at [T, V]
            token_entropy = torch.where(mask, torch.stack([_entropy(row) for row in logits]), 0.0)
    return TokenLogps(torch.where(mask, picked.view(mask.shape), 0.0), mask, token_entropy)


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    """``-sum p log p`` over the last dimension, float32: ``[..., V] -> [...]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def _logps_from_model_logits(model, input_ids, attention_mask, labels, average):
    """The model's own forward (any post-head transform included), logits from the first answer token on."""
    width = labels.shape[1]
    # Logits only from the position before the earliest answer token on: the lm_head
    # output [N, T, V] is the largest activation, and prompt positions need none.
    first_scored = int((labels[:, 1:] != IGNORE_INDEX).float().argmax(dim=1).min()) + 1
    keep = width - first_scored + 1
    out = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep, use_cache=False)
    return sequence_logps(out.logits, labels[:, width - keep:], average)


def _per_sequence(sums: torch.Tensor, counts: torch.Tensor, average: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return (sums / counts.clamp(min=1) if average else sums), counts
