"""The DPO loss and its variants, written out by hand (no TRL).

Direct Preference Optimization (Rafailov et al. 2023, "Direct Preference Optimization:
Your Language Model is Secretly a Reward Model") trains a policy ``π`` against a frozen
reference ``π_ref`` on pairs (prompt ``x``, chosen ``y_w``, rejected ``y_l``):

    h = [log π(y_w|x) − log π_ref(y_w|x)] − [log π(y_l|x) − log π_ref(y_l|x)]
    L_DPO = −log σ(β · h)

``h`` is the difference of the two log-ratios (a "logit"); ``β · (log π − log π_ref)``
is the implicit reward of an answer, so DPO is a logistic regression of "chosen beats
rejected" on the reward margin. Variants (``loss_type``):

- ``sigmoid`` with ``label_smoothing = ε``: conservative DPO (cDPO, Mitchell 2023), which
  assumes a share ε of the labels are flipped: ``−(1−ε) log σ(βh) − ε log σ(−βh)``.
  ε = 0 is plain DPO.
- ``ipo``: Identity Preference Optimisation (Azar et al. 2023, "A General Theoretical
  Paradigm to Understand Learning from Human Preferences"): ``(h − 1/(2β))²``; regresses
  the margin onto a fixed target instead of pushing it to infinity. Azar et al. state it
  for sequence log-likelihoods; pass length-averaged log-probs to get the per-token form.
- ``hinge``: the SLiC hinge (Zhao et al. 2023, "SLiC-HF"): ``relu(1 − βh)``.

Importing this module is cheap: torch is imported when the loss is first computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

LOSS_TYPES = ("sigmoid", "ipo", "hinge")


def check_dpo_config(beta: float, loss_type: str, label_smoothing: float) -> None:
    """Raise ``ValueError`` naming the field when the loss settings make no sense."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"DPO loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    if not beta > 0:
        raise ValueError(f"DPO beta must be > 0 (it scales the implicit reward), got {beta!r}")
    if not 0.0 <= label_smoothing < 0.5:
        # ε = 0.5 makes the loss symmetric (nothing is learned), ε > 0.5 flips the preference.
        raise ValueError(f"DPO label_smoothing must be in [0, 0.5), got {label_smoothing!r}")
    if label_smoothing > 0 and loss_type != "sigmoid":
        raise ValueError(f"DPO label_smoothing (conservative DPO) applies to loss_type 'sigmoid' only; "
                         f"got label_smoothing={label_smoothing!r} with loss_type {loss_type!r}")


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-example DPO losses and implicit rewards.

    Args:
        policy_chosen_logps, policy_rejected_logps: ``[B]`` log-probabilities (nats, ≤ 0)
            of the chosen / rejected answers under the policy, summed over answer tokens
            (or averaged, see the module docstring); these carry the gradient.
        ref_chosen_logps, ref_rejected_logps: ``[B]`` the same under the reference model
            (no gradient needed; detached here anyway).
        beta: inverse temperature β > 0: how far the policy may move from the reference
            (higher = closer). Rewards are in units of β·nats.
        loss_type: ``sigmoid`` (DPO / cDPO), ``ipo`` or ``hinge``.
        label_smoothing: ε of conservative DPO, in [0, 0.5); ``sigmoid`` only.

    Returns:
        ``(losses, chosen_rewards, rejected_rewards)``, each ``[B]``: the loss of every
        pair (average it for the batch loss), and ``β·(log π − log π_ref)`` of the chosen
        and rejected answers, detached (for logging: accuracy = chosen > rejected).
    """
    import torch.nn.functional as F

    check_dpo_config(beta, loss_type, label_smoothing)
    inputs = (policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    shape = policy_chosen_logps.shape
    if policy_chosen_logps.dim() != 1 or any(t.shape != shape for t in inputs):
        raise ValueError("dpo_loss expects four log-prob tensors of the same shape [B], got "
                         + ", ".join(str(tuple(t.shape)) for t in inputs))
    ref_chosen_logps = ref_chosen_logps.detach()
    ref_rejected_logps = ref_rejected_logps.detach()
    chosen_ratio = policy_chosen_logps - ref_chosen_logps
    rejected_ratio = policy_rejected_logps - ref_rejected_logps
    h = chosen_ratio - rejected_ratio
    if loss_type == "sigmoid":
        losses = -(1.0 - label_smoothing) * F.logsigmoid(beta * h)
        if label_smoothing > 0:
            losses = losses - label_smoothing * F.logsigmoid(-beta * h)
    elif loss_type == "ipo":
        losses = (h - 1.0 / (2.0 * beta)) ** 2
    else:  # hinge
        losses = F.relu(1.0 - beta * h)
    return losses, beta * chosen_ratio.detach(), beta * rejected_ratio.detach()
