"""The GRPO loss (modules/grpo_loss.py) worked out by hand on tensors small enough to check."""

import math

import pytest
import torch

from prompt_a_video.modules.grpo_loss import group_advantages, grpo_loss


def test_group_advantages_by_hand():
    rewards = torch.tensor([1.0, 3.0, 2.0, 2.0])  # two groups of 2
    # group 1: mean 2, unbiased std sqrt(2); group 2: all equal -> 0, not 0/0
    scaled = group_advantages(rewards, 2, eps=0.0 + 1e-12)
    assert scaled.tolist() == pytest.approx([-1 / math.sqrt(2), 1 / math.sqrt(2), 0.0, 0.0])
    assert group_advantages(rewards, 2, scale=False).tolist() == pytest.approx([-1.0, 1.0, 0.0, 0.0])  # Dr. GRPO
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        group_advantages(rewards, 1)
    with pytest.raises(ValueError, match=r"rewards must be \[B \* 3\]"):
        group_advantages(rewards, 3)


def test_one_update_per_rollout_is_the_policy_gradient():
    logps = torch.tensor([[-1.0, -2.0], [-0.5, -0.7]], requires_grad=True)
    mask = torch.tensor([[1, 1], [1, 0]])
    advantages = torch.tensor([2.0, -1.0])
    out = grpo_loss(logps, advantages, mask)  # old = logps detached: ratio 1
    # per token -A; per sequence: row 0 -2 (2 tokens), row 1 +1 (1 token); grpo: mean = -0.5
    assert out.per_token.tolist() == [[-2.0, -2.0], [1.0, 0.0]]
    assert out.per_sequence.tolist() == [-2.0, 1.0]
    assert out.loss.item() == pytest.approx(-0.5)
    out.loss.backward()
    # d/dlogp of mean_i (1/|o_i|) sum_t -A_i rho: row 0: -2 / 2 / 2 = -0.5 each; row 1: +1 / 1 / 2
    assert logps.grad.tolist() == [[-0.5, -0.5], [0.5, 0.0]]
    assert out.clip_fraction.item() == 0.0 and out.kl.tolist() == [0.0, 0.0]


def test_the_clipped_ratio_by_hand():
    old = torch.zeros(1, 3)
    logps = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))  # ratios 1.5, 0.5, 1.1
    mask = torch.ones(1, 3)
    up = grpo_loss(logps, torch.tensor([1.0]), mask, old_logps=old, epsilon_low=0.2)
    # A > 0: min(rho, clip(rho)) -> 1.2, 0.5, 1.1; loss per token the negative
    assert up.per_token.tolist()[0] == pytest.approx([-1.2, -0.5, -1.1])
    assert up.clip_fraction.item() == pytest.approx(1 / 3)  # only 1.5 was clipped
    down = grpo_loss(logps, torch.tensor([-1.0]), mask, old_logps=old, epsilon_low=0.2)
    # A < 0: min(-rho, -clip(rho)) -> -1.5, -0.8, -1.1; loss the negative
    assert down.per_token.tolist()[0] == pytest.approx([1.5, 0.8, 1.1])
    assert down.clip_fraction.item() == pytest.approx(1 / 3)  # only 0.5 was clipped
    higher = grpo_loss(logps, torch.tensor([1.0]), mask, old_logps=old, epsilon_low=0.2, epsilon_high=0.28)
    assert higher.per_token.tolist()[0] == pytest.approx([-1.28, -0.5, -1.1])  # DAPO's clip-higher


def test_the_k3_kl_term_by_hand():
    logps = torch.tensor([[-1.0, -2.0]])
    ref = torch.tensor([[-1.0, -1.0]])  # delta = ref - logp = 0, 1
    out = grpo_loss(logps, torch.tensor([0.0]), torch.ones(1, 2), ref_logps=ref, beta=0.5)
    k3 = [0.0, math.e - 1 - 1]  # exp(d) - d - 1
    assert out.kl.tolist() == pytest.approx([sum(k3) / 2])
    assert out.per_token.tolist()[0] == pytest.approx([0.5 * k for k in k3])
    with pytest.raises(ValueError, match="beta > 0 needs ref_logps"):
        grpo_loss(logps, torch.tensor([0.0]), torch.ones(1, 2), beta=0.1)


def test_the_importance_weighted_kl_changes_the_gradient_not_the_value_by_hand():
    # on-policy (old = logps detached) the ratio is 1: same loss; its gradient adds KL_t x grad logp
    ref = torch.tensor([[-1.0, -1.0]])  # delta = ref - logp = 0, 1
    k3 = [0.0, math.e - 2]
    grads = {}
    for weighted in (False, True):
        logps = torch.tensor([[-1.0, -2.0]], requires_grad=True)
        out = grpo_loss(logps, torch.tensor([0.0]), torch.ones(1, 2), ref_logps=ref, beta=0.5,
                        kl_importance_weighted=weighted)
        assert out.loss.item() == pytest.approx(0.5 * sum(k3) / 2) and out.kl.tolist() == pytest.approx([sum(k3) / 2])
        out.loss.backward()
        grads[weighted] = logps.grad[0].tolist()
    # d/dl of beta/2 x (exp(r - l) - (r - l) - 1) = beta/2 x (1 - exp(r - l)): 0 and 0.25 (1 - e)
    assert grads[False] == pytest.approx([0.0, 0.25 * (1 - math.e)])
    # weighted by rho = exp(l - l_old): + beta/2 x KL_t
    assert grads[True] == pytest.approx([0.0, 0.25 * (1 - math.e) + 0.25 * k3[1]])


def test_the_token_normalisations_by_hand():
    logps = torch.zeros(2, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]])  # a long and a short completion
    advantages = torch.tensor([1.0, 1.0])
    # token losses are all -1: grpo means per sequence (-1, -1) -> -1
    assert grpo_loss(logps, advantages, mask).loss.item() == pytest.approx(-1.0)
    # dapo: 5 tokens summed over 5 tokens -> -1 (with unequal advantages it weighs by length)
    assert grpo_loss(logps, advantages, mask, loss_type="dapo").loss.item() == pytest.approx(-1.0)
    # dr_grpo: 5 tokens over 2 sequences x 4 -> -5/8; with an explicit constant 10: -5/20
    assert grpo_loss(logps, advantages, mask, loss_type="dr_grpo").loss.item() == pytest.approx(-5 / 8)
    assert grpo_loss(logps, advantages, mask, loss_type="dr_grpo",
                     max_completion_length=10).loss.item() == pytest.approx(-0.25)
    unequal = torch.tensor([1.0, -1.0])
    # grpo: (-1 + 1) / 2 = 0; dapo: (-4 + 1) / 5: the long completion's 4 tokens weigh more
    assert grpo_loss(logps, unequal, mask).loss.item() == pytest.approx(0.0)
    assert grpo_loss(logps, unequal, mask, loss_type="dapo").loss.item() == pytest.approx(-3 / 5)
    with pytest.raises(ValueError, match="loss_type must be one of"):
        grpo_loss(logps, advantages, mask, loss_type="ppo")
