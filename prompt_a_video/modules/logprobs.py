"""Log-probabilities of the labelled (assistant) tokens of each sequence.

DPO compares whole answers, so it needs ``log π(answer | prompt)`` per sequence: the sum
of the next-token log-probs over the answer's tokens. Computed as
``logit[label] − logsumexp(logits)`` one sequence at a time, so the float32 working set
is ``[T, V]`` instead of a full ``[B, T, V]`` log-softmax (V is ~128k for Llama 3).
"""

from __future__ import annotations

import torch

from prompt_a_video.modules.chat_encoding import IGNORE_INDEX


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor,
                   average: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence log-probability of the labelled tokens.

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
    rows = []
    for row_logits, row_targets in zip(logits, safe_targets):
        row_logits = row_logits.float()
        picked = row_logits.gather(-1, row_targets.unsqueeze(-1)).squeeze(-1)
        rows.append(picked - torch.logsumexp(row_logits, dim=-1))
    # where, not a product: a masked position must not leak a NaN/inf of its logits
    token_logps = torch.where(mask, torch.stack(rows), 0.0)
    counts = mask.sum(-1)
    logps = token_logps.sum(-1)
    if average:
        logps = logps / counts.clamp(min=1)
    return logps, counts
