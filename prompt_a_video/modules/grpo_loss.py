"""The GRPO loss: group-relative policy optimisation, written out (no RL library).

Shao et al. 2024, "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open
Language Models" (arXiv:2402.03300), section 4.1. For a prompt ``q``, ``G`` completions
``o_1..o_G`` are sampled from the old policy and scored ``r_1..r_G``; with outcome
supervision every token of ``o_i`` gets the group-normalised advantage

    A_i = (r_i - mean(r)) / std(r)

and the policy maximises, per token ``t`` of ``o_i`` (ratio ``rho = pi / pi_old``),

    min(rho * A_i, clip(rho, 1 - eps_low, 1 + eps_high) * A_i) - beta * KL_t

where ``KL_t`` is the k3 estimator of KL(pi || pi_ref) (Schulman 2020, "Approximating KL
divergence"): ``exp(ref - logp) - (ref - logp) - 1``, unbiased and always >= 0. The loss
is the negative of that objective. Variants, by setting:

- ``scale_advantages=False``: Dr. GRPO's advantage ``r_i - mean(r)`` (Liu et al. 2025,
  "Understanding R1-Zero-Like Training: A Critical Perspective", arXiv:2503.20783): the
  std division favours groups of nearly equal rewards;
- ``epsilon_high > epsilon_low``: DAPO's clip-higher (Yu et al. 2025, arXiv:2503.14476);
- ``beta=0``: no KL term (and no reference forward needed);
- ``kl_importance_weighted=True``: the KL term times the ratio ``rho`` (DeepSeek-AI 2025,
  "DeepSeek-V3.2", arXiv:2512.02556, "unbiased KL estimate"; TRL's default,
  ``use_bias_correction_kl``): on the sampling policy's own tokens ``rho`` is 1 in value
  but not in gradient, which gains ``KL_t * grad logp``: the gradient of the reverse KL
  estimated on samples, where the plain k3's gradient is biased;
- ``loss_type`` (how token losses become one number):
  ``grpo``: each sequence's mean over its tokens, then the mean over sequences (the
  paper's ``1/G sum_i 1/|o_i| sum_t``); ``dapo``: the sum over every token of the batch
  over their count (token-level: long completions weigh by their length); ``dr_grpo``:
  the sum over every token over ``sequences x max_completion_length`` (a constant, so no
  length bias).

With one optimisation step per rollout, ``old_logps`` is ``logps`` detached: the ratio is
1 in value and the gradient is ``-A_i * grad logp``, the policy gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LOSS_TYPES = ("grpo", "dapo", "dr_grpo")


def group_advantages(rewards: torch.Tensor, group_size: int, *, scale: bool = True, eps: float = 1e-4
                     ) -> torch.Tensor:
    """Each reward minus its group's mean, over the group's std when ``scale``.

    Args:
        rewards: ``float [B * G]``, the ``G`` completions of a prompt next to each other.
        group_size: ``G`` (>= 2: one completion has nothing to be relative to).
        scale: divide by the group's standard deviation (unbiased, as DeepSeekMath and
            TRL compute it) plus ``eps``; False is Dr. GRPO.
        eps: keeps a group of equal rewards at advantage 0 instead of 0/0.

    Returns:
        ``float [B * G]``.
    """
    if group_size < 2:
        raise ValueError(f"group_advantages: group_size must be >= 2, got {group_size}")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"group_advantages: rewards must be [B * {group_size}], got {tuple(rewards.shape)}")
    grouped = rewards.float().view(-1, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (grouped.std(dim=1, keepdim=True) + eps)
    return centred.reshape(-1)


@dataclass
class GRPOLossOutput:
    """What :func:`grpo_loss` computes.

    Attributes:
        loss: the scalar to minimise.
        per_token: ``float [N, T]`` token losses (0 at masked positions).
        per_sequence: ``float [N]`` each completion's mean token loss.
        kl: ``float [N]`` each completion's mean k3 KL to the reference (0 without one).
        clip_fraction: share of the completion tokens whose ratio was clipped.
    """

    loss: torch.Tensor
    per_token: torch.Tensor
    per_sequence: torch.Tensor
    kl: torch.Tensor
    clip_fraction: torch.Tensor


def grpo_loss(logps: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, *,
              old_logps: torch.Tensor | None = None, ref_logps: torch.Tensor | None = None,
              beta: float = 0.0, epsilon_low: float = 0.2, epsilon_high: float | None = None,
              loss_type: str = "grpo", max_completion_length: int | None = None,
              kl_importance_weighted: bool = False) -> GRPOLossOutput:
    """The GRPO loss of ``N`` completions (see the module doc for the formulas).

    Args:
        logps: ``float [N, T]`` log-probabilities of the sampled tokens under the policy
            (with gradient).
        advantages: ``float [N]`` one per completion (:func:`group_advantages`).
        mask: ``[N, T]`` 1 for completion tokens, 0 for padding.
        old_logps: ``float [N, T]`` under the policy that sampled (None: ``logps``
            detached, one update per rollout).
        ref_logps: ``float [N, T]`` under the reference; required when ``beta > 0``.
        beta: weight of the k3 KL term (>= 0).
        epsilon_low: lower clip, the ratio is kept >= ``1 - epsilon_low``.
        epsilon_high: upper clip (None: ``epsilon_low``; larger: DAPO's clip-higher).
        loss_type: ``grpo``, ``dapo`` or ``dr_grpo``.
        max_completion_length: ``dr_grpo``'s constant (default: ``T``).
        kl_importance_weighted: weight each token's KL by its ratio (DeepSeek-V3.2;
            ``per_token`` and ``kl`` are unchanged in value on-policy).
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"grpo_loss: loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    if beta < 0:
        raise ValueError(f"grpo_loss: beta must be >= 0, got {beta}")
    if beta > 0 and ref_logps is None:
        raise ValueError("grpo_loss: beta > 0 needs ref_logps (the reference's log-probabilities)")
    epsilon_high = epsilon_low if epsilon_high is None else epsilon_high
    mask = mask.to(logps.dtype)
    old = logps.detach() if old_logps is None else old_logps
    ratio = torch.exp(logps - old)
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    advantage = advantages.to(logps.dtype).unsqueeze(1)
    per_token = -torch.min(ratio * advantage, clipped * advantage)
    kl_token = torch.zeros_like(logps)
    if ref_logps is not None:
        delta = ref_logps - logps
        kl_token = torch.exp(delta) - delta - 1
        weighted = kl_token * ratio if kl_importance_weighted else kl_token
        per_token = per_token + beta * weighted
    per_token = per_token * mask
    lengths = mask.sum(dim=1).clamp_min(1)
    per_sequence = per_token.sum(dim=1) / lengths
    if loss_type == "grpo":
        loss = per_sequence.mean()
    elif loss_type == "dapo":
        loss = per_token.sum() / mask.sum().clamp_min(1)
    else:
        loss = per_token.sum() / (logps.shape[0] * (max_completion_length or logps.shape[1]))
    was_clipped = ((ratio < 1 - epsilon_low) & (advantage < 0)) | ((ratio > 1 + epsilon_high) & (advantage > 0))
    clip_fraction = (was_clipped.to(logps.dtype) * mask).sum() / mask.sum().clamp_min(1)
    kl = (kl_token * mask).sum(dim=1) / lengths
    return GRPOLossOutput(loss, per_token, per_sequence, kl.detach(), clip_fraction.detach())
