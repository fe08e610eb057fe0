"""The hand-written DPO loss, worked out by hand; sequence log-probs; the reference cache.

Log-probs in the loss tests are chosen so that the log-ratio difference is a round number:
chosen p = 1/2 under the policy vs 1/4 under the reference (ratio +log 2), rejected
p = 1/8 vs 1/4 (ratio −log 2), so h = 2·log 2 and, with β = 1/2, β·h = log 2 and
σ(β·h) = 2/(2+1) = 2/3.
"""

import math
from pathlib import Path
import subprocess
import sys

import pytest
import torch

from prompt_a_video.modules import dpo_loss
from prompt_a_video.modules.logprobs import sequence_logps
from prompt_a_video.modules.optim import warmup_cosine
from prompt_a_video.modules.reference_cache import ReferenceLogpsCache, model_identity

LOG2 = math.log(2)


def _t(*values):
    return torch.tensor(values, dtype=torch.float64)


def _three_pairs():
    """Pair 0: h = 2 log 2 (above). Pair 1: h = 1. Pair 2: h = 3."""
    policy_chosen = _t(-LOG2, -1.0, -1.0).requires_grad_()
    policy_rejected = _t(-3 * LOG2, -2.0, -3.0).requires_grad_()
    ref_chosen = _t(-2 * LOG2, -2.0, -3.0)
    ref_rejected = _t(-2 * LOG2, -2.0, -2.0)
    return policy_chosen, policy_rejected, ref_chosen, ref_rejected


def test_sigmoid_loss_and_rewards_by_hand():
    pc, pr, rc, rr = _three_pairs()
    losses, chosen, rejected = dpo_loss(pc, pr, rc, rr, beta=0.5)
    # −log σ(βh): σ(log 2) = 2/3; σ(0.5) and σ(1.5) written out as 1/(1+e^−x)
    expected = [math.log(3 / 2), math.log(1 + math.exp(-0.5)), math.log(1 + math.exp(-1.5))]
    assert losses.shape == chosen.shape == rejected.shape == (3,)
    assert losses.tolist() == pytest.approx(expected)
    # rewards β·(policy − ref): chosen +log 2 / 1 / 2 nats, rejected −log 2 / 0 / −1 nats, times 1/2
    assert chosen.tolist() == pytest.approx([LOG2 / 2, 0.5, 1.0])
    assert rejected.tolist() == pytest.approx([-LOG2 / 2, 0.0, -0.5])
    assert not chosen.requires_grad and not rejected.requires_grad


def test_sigmoid_gradient_pushes_chosen_up_and_rejected_down():
    pc, pr, rc, rr = _three_pairs()
    losses, _, _ = dpo_loss(pc, pr, rc, rr, beta=0.5)
    losses[0].backward()
    # d/dπ_c of −log σ(βh) = −β·σ(−βh) = −(1/2)(1/3); the rejected side gets the opposite
    assert pc.grad[0].item() == pytest.approx(-1 / 6)
    assert pr.grad[0].item() == pytest.approx(1 / 6)
    assert pc.grad[1:].tolist() == [0.0, 0.0]


def test_conservative_dpo_label_smoothing_by_hand():
    pc, pr, rc, rr = _three_pairs()
    losses, _, _ = dpo_loss(pc, pr, rc, rr, beta=0.5, label_smoothing=0.25)
    # −(3/4) log(2/3) − (1/4) log σ(−log 2), σ(−log 2) = 1/3
    assert losses[0].item() == pytest.approx(0.75 * math.log(3 / 2) + 0.25 * math.log(3))
    # h = 1: −(3/4) log σ(1/2) − (1/4) log σ(−1/2)
    assert losses[1].item() == pytest.approx(0.75 * math.log(1 + math.exp(-0.5)) + 0.25 * math.log(1 + math.exp(0.5)))


def test_ipo_loss_by_hand():
    pc, pr, rc, rr = _three_pairs()
    losses, chosen, _ = dpo_loss(pc, pr, rc, rr, beta=0.5, loss_type="ipo")
    # (h − 1/(2β))², target margin 1/(2·0.5) = 1
    assert losses.tolist() == pytest.approx([(2 * LOG2 - 1) ** 2, 0.0, 4.0])
    assert chosen.tolist() == pytest.approx([LOG2 / 2, 0.5, 1.0])


def test_hinge_loss_by_hand():
    pc, pr, rc, rr = _three_pairs()
    losses, _, _ = dpo_loss(pc, pr, rc, rr, beta=0.5, loss_type="hinge")
    # relu(1 − βh): 1 − log 2, 1 − 0.5, and 1 − 1.5 < 0 -> 0
    assert losses.tolist() == pytest.approx([1 - LOG2, 0.5, 0.0])


def test_policy_equal_to_reference_gives_zero_rewards_and_log2():
    torch.manual_seed(0)
    chosen_logps, rejected_logps = -10 * torch.rand(5), -10 * torch.rand(5)
    for beta in (0.1, 0.5):
        losses, chosen, rejected = dpo_loss(chosen_logps, rejected_logps, chosen_logps, rejected_logps, beta=beta)
        assert losses.shape == (5,)
        assert torch.allclose(losses, torch.full((5,), LOG2))
        assert chosen.abs().max() == 0 and rejected.abs().max() == 0
    losses, _, _ = dpo_loss(chosen_logps, rejected_logps, chosen_logps, rejected_logps, beta=0.5, loss_type="ipo")
    assert torch.allclose(losses, torch.ones(5))  # (0 − 1)²


@pytest.mark.parametrize("kwargs, match", [
    ({"loss_type": "kto"}, "loss_type must be one of"),
    ({"loss_type": "ipo", "label_smoothing": 0.1}, "sigmoid' only"),
    ({"loss_type": "hinge", "label_smoothing": 0.1}, "sigmoid' only"),
    ({"label_smoothing": 0.5}, r"label_smoothing must be in \[0, 0.5\)"),
    ({"label_smoothing": -0.1}, r"label_smoothing must be in \[0, 0.5\)"),
    ({"beta": 0.0}, "beta must be > 0"),
])
def test_bad_settings_are_refused(kwargs, match):
    x = torch.zeros(2)
    with pytest.raises(ValueError, match=match):
        dpo_loss(x, x, x, x, **kwargs)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match=r"same shape \[B\]"):
        dpo_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match=r"same shape \[B\]"):
        dpo_loss(torch.zeros(2, 1), torch.zeros(2, 1), torch.zeros(2, 1), torch.zeros(2, 1))


def test_importing_the_loss_from_the_package_stays_light():
    code = ("import sys; from prompt_a_video.modules import dpo_loss; assert callable(dpo_loss); "
            "print([m for m in ('torch', 'lightning', 'transformers', 'peft') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- sequence log-probs --------------------------------------------------------------------

def test_sequence_logps_by_hand_with_the_shift():
    # V = 4. Position 0 predicts token 1 (label 0) with logits [log 2, 0, 0, 0]: p = 2/5.
    # Position 1 predicts token 2 (label 1) with logits [0, log 3, 0, 0]: p = 3/6.
    # Position 2 predicts nothing; label 3 at position 0 has no predictor: both unused.
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 0] = LOG2
    logits[0, 1, 1] = math.log(3)
    logits[0, 2] = torch.tensor([100.0, -100.0, 0.0, 0.0])
    labels = torch.tensor([[3, 0, 1]])
    logps, counts = sequence_logps(logits, labels)
    assert logps.tolist() == pytest.approx([math.log(2 / 5) + math.log(1 / 2)])
    assert counts.tolist() == [2]
    average, _ = sequence_logps(logits, labels, average=True)
    assert average.tolist() == pytest.approx([math.log(1 / 5) / 2])


def test_sequence_logps_skips_ignored_tokens_and_empty_rows():
    logits = torch.zeros(2, 4, 4)  # uniform: every scored token has log-prob −log 4
    labels = torch.tensor([[-100, -100, 2, 3], [-100, -100, -100, -100]])
    logps, counts = sequence_logps(logits, labels)
    assert logps.tolist() == pytest.approx([-2 * math.log(4), 0.0])
    assert counts.tolist() == [2, 0]
    average, _ = sequence_logps(logits, labels, average=True)
    assert average.tolist() == pytest.approx([-math.log(4), 0.0])


def test_sequence_logps_matches_log_softmax_and_upcasts_bf16():
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 11)
    labels = torch.randint(0, 11, (3, 6))
    labels[:, :2] = -100
    labels[2, 4:] = -100
    reference = torch.log_softmax(logits[:, :-1], -1).gather(-1, labels[:, 1:].clamp(min=0).unsqueeze(-1)).squeeze(-1)
    reference = (reference * (labels[:, 1:] != -100)).sum(-1)
    assert torch.allclose(sequence_logps(logits, labels)[0], reference, atol=1e-5)
    half = logits.to(torch.bfloat16).requires_grad_()
    logps, _ = sequence_logps(half, labels)
    assert logps.dtype == torch.float32
    logps.sum().backward()
    assert half.grad is not None and half.grad[:, 0].abs().sum() == 0  # position 0 predicts a masked label


def test_sequence_logps_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"logits \[B, T, V\] and labels \[B, T\]"):
        sequence_logps(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long))


# -- reference cache and schedule ----------------------------------------------------------

def test_reference_cache_round_trip_and_keys(tmp_path):
    cache = ReferenceLogpsCache(tmp_path, {"reference": "a", "max_length": 64})
    key = cache.key("a dog", "a dog running on a beach", "a cat")
    assert cache.get_many([key]) == {} and cache.misses == 1
    cache.put_many({key: (-12.5, -30.25)})
    again = ReferenceLogpsCache(tmp_path, {"reference": "a", "max_length": 64})
    assert again.get_many([key]) == {key: (-12.5, -30.25)} and again.hits == 1
    assert len(again) == 1
    # any other setting or text gives another key
    other = ReferenceLogpsCache(tmp_path, {"reference": "a", "max_length": 65})
    assert other.key("a dog", "a dog running on a beach", "a cat") != key
    assert cache.key("a dog", "a cat", "a dog running on a beach") != key


def test_model_identity_tracks_adapter_content(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"one")
    first = model_identity("some/hub-id", "float32", str(adapter))
    (adapter / "adapter_model.safetensors").write_bytes(b"two")
    assert model_identity("some/hub-id", "float32", str(adapter)) != first
    assert model_identity("some/hub-id", "bfloat16") != model_identity("some/hub-id", "float32")


def test_warmup_cosine_schedule():
    assert [warmup_cosine(s, 2, 10) for s in (0, 1)] == pytest.approx([1 / 3, 2 / 3])
    assert warmup_cosine(2, 2, 10) == pytest.approx(1.0)
    assert warmup_cosine(6, 2, 10) == pytest.approx(0.5)  # half way through the cosine
    assert warmup_cosine(10, 2, 10) == pytest.approx(0.0)


def test_warmup_linear_schedule_is_hugging_faces_by_hand():
    from prompt_a_video.modules.optim import WarmupLinear

    schedule = WarmupLinear(warmup_ratio=0.1)  # 20 steps: ceil(2.0) = 2 of warm-up, 18 down to 0
    assert [schedule.multiplier(s, 20, 10) for s in (0, 1, 2, 11, 20)] == pytest.approx([0, 0.5, 1, 0.5, 0])
    with pytest.raises(ValueError, match=r"warmup_ratio must be in \[0, 1\)"):
        WarmupLinear(warmup_ratio=1.5)


def test_step_per_epoch_schedule_multiplies_by_gamma_after_each_epoch():
    from prompt_a_video.modules.optim import StepPerEpoch

    schedule = StepPerEpoch(gamma=0.85)  # 3 optimizer steps an epoch
    assert [schedule.multiplier(s, 12, 3) for s in (0, 2, 3, 5, 6, 11)] == pytest.approx(
        [1, 1, 0.85, 0.85, 0.85 ** 2, 0.85 ** 3])
    with pytest.raises(ValueError, match=r"gamma must be in \(0, 1\]"):
        StepPerEpoch(gamma=0)


def test_a_fit_follows_the_schedule_it_is_given(tiny_llama_dir, one_torch_thread):
    from lightning.pytorch import Trainer, Callback

    from prompt_a_video.datamodules.sft import SFTDataModule
    from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec
    from prompt_a_video.modules.optim import StepPerEpoch
    from prompt_a_video.modules.sft import SFTRefiner

    rates = []

    class Record(Callback):
        def on_train_batch_start(self, trainer, *args):
            rates.append(trainer.optimizers[0].param_groups[0]["lr"])

    data = Path(__file__).resolve().parents[2] / "experiments/data/seed_sft_pairs.json"
    module = SFTRefiner(CausalLMBackbone(model=str(tiny_llama_dir), lora=LoraSpec(r=4)), lr=1e-3, max_length=320,
                        schedule=StepPerEpoch(gamma=0.5))
    datamodule = SFTDataModule(pools=[str(data)], batch_size=16, val_fraction=0.0)  # 32 pairs: 2 steps an epoch
    Trainer(max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
            limit_val_batches=0, accelerator="cpu", devices=1, callbacks=[Record()]).fit(module, datamodule)
    assert rates == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4])
