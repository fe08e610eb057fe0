"""Answer log-probs from a model's hidden states, chunked through the LM head (logprobs.py).

What a user relies on: the same numbers (and gradients) as the model's own logits, for
plain and LoRA-wrapped models, adapter on or off, and SFT's loss equal to the model's
``loss``; while the logits exist only for labelled positions and are never kept for
backward. Models are tiny random-init configs built in memory, seeded.
"""

import pytest
import torch

from prompt_a_video.modules.logprobs import (
    HIDDEN_STATE_MODEL_TYPES,
    labelled_token_logps,
    model_sequence_logps,
    model_token_logps,
    sequence_logps,
)
from tests.kit.tiny_lm import tiny_lm_of_type, with_random_lora

VOCAB = 96


def _tiny(model_type: str, seed: int = 0, **extra):
    return tiny_lm_of_type(model_type, VOCAB, seed=seed, **extra)


def _batch(seed: int = 0):
    """Right-padded rows of different lengths: prompt tokens unlabelled, answers labelled."""
    gen = torch.Generator().manual_seed(seed)
    lengths, prompts = [12, 9, 7, 12], [5, 6, 3, 4]
    ids = torch.randint(3, VOCAB, (len(lengths), max(lengths)), generator=gen)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (n, p) in enumerate(zip(lengths, prompts)):
        mask[i, :n] = 1
        labels[i, p:n] = ids[i, p:n]
        ids[i, n:] = 0
    return ids, mask, labels


def _reference(model, ids, mask, labels, average=False):
    return sequence_logps(model(input_ids=ids, attention_mask=mask).logits, labels, average)


def _head_rows(model, *args, **kwargs):
    """``model_sequence_logps(model, ...)`` and the row counts of each LM-head call it made."""
    seen = []
    hook = model.get_output_embeddings().register_forward_hook(lambda _m, a, _o: seen.append(a[0].shape[0]))
    try:
        return model_sequence_logps(model, *args, **kwargs), seen
    finally:
        hook.remove()


@pytest.mark.parametrize("model_type", sorted(HIDDEN_STATE_MODEL_TYPES))
def test_equals_the_models_own_logits_for_every_listed_type(model_type):
    model = _tiny(model_type)
    ids, mask, labels = _batch()
    with torch.no_grad():
        expected, expected_counts = _reference(model, ids, mask, labels)
        (logps, counts), rows = _head_rows(model, ids, mask, labels, chunk_logits=5 * VOCAB)
        average, _ = model_sequence_logps(model, ids, mask, labels, average=True)
    assert torch.allclose(logps, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(counts, expected_counts)
    assert torch.allclose(average, expected / expected_counts, rtol=1e-5, atol=1e-5)
    # the head saw only the labelled positions, at most 5 rows a time
    assert sum(rows) == int(counts.sum()) and max(rows) <= 5 and len(rows) > 1


def test_gradients_equal_those_through_full_logits():
    model = _tiny("qwen2", seed=1)
    ids, mask, labels = _batch(1)
    weights = torch.linspace(-1.0, 2.0, ids.shape[0])  # a loss that weighs rows differently
    (_reference(model, ids, mask, labels)[0] * weights).sum().backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    (model_sequence_logps(model, ids, mask, labels, chunk_logits=3 * VOCAB)[0] * weights).sum().backward()
    for name, param in model.named_parameters():
        assert torch.allclose(param.grad, expected[name], rtol=1e-4, atol=1e-6), name


def test_lora_model_adapter_on_and_off_and_lora_gradients():
    model = with_random_lora(_tiny("llama", seed=2))
    ids, mask, labels = _batch(2)
    with torch.no_grad(), model.disable_adapter():
        off = model_sequence_logps(model, ids, mask, labels)[0]
        assert torch.allclose(off, _reference(model, ids, mask, labels)[0], rtol=1e-5, atol=1e-5)
    expected = _reference(model, ids, mask, labels)[0]
    expected.sum().backward()
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    expected_grads = {n: p.grad.clone() for n, p in lora.items()}
    model.zero_grad()
    on = model_sequence_logps(model, ids, mask, labels, chunk_logits=4 * VOCAB)[0]
    on.sum().backward()
    assert torch.allclose(on, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(on, off, atol=1e-3)  # the adapter does change the answer log-probs
    for name, param in lora.items():
        assert torch.allclose(param.grad, expected_grads[name], rtol=1e-4, atol=1e-6), name


def test_a_type_with_scaled_logits_keeps_its_scaling():
    # Granite divides its logits by logits_scaling after the head: the hidden-state path
    # would miss that, so such models go through their own forward.
    assert "granite" not in HIDDEN_STATE_MODEL_TYPES
    model = _tiny("granite", logits_scaling=4.0)
    ids, mask, labels = _batch(3)
    with torch.no_grad():
        logps, _ = model_sequence_logps(model, ids, mask, labels)
        expected, _ = _reference(model, ids, mask, labels)
    assert torch.allclose(logps, expected, rtol=1e-5, atol=1e-5)


def test_no_logits_are_saved_for_backward_and_chunks_agree():
    torch.manual_seed(4)
    head = torch.nn.Linear(16, 50, bias=False)
    hidden = torch.randn(23, 16, requires_grad=True)
    targets = torch.randint(0, 50, (23,))
    saved_shapes = []

    def pack(t):
        saved_shapes.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        chunked = labelled_token_logps(hidden, head, targets, chunk_logits=4 * 50)
    assert saved_shapes and all(50 not in shape for shape in saved_shapes)
    expected = torch.log_softmax(head(hidden), -1).gather(-1, targets[:, None]).squeeze(-1)
    assert torch.allclose(chunked, expected, atol=1e-6)
    grad_expected = torch.autograd.grad(expected.sum(), [hidden, head.weight])
    grad_chunked = torch.autograd.grad(chunked.sum(), [hidden, head.weight])
    for got, want in zip(grad_chunked, grad_expected):
        assert torch.allclose(got, want, atol=1e-6)
    with torch.no_grad():  # the reference path: one matmul per chunk, same numbers
        assert torch.allclose(labelled_token_logps(hidden, head, targets, chunk_logits=1), chunked, atol=1e-6)


def test_bfloat16_model_gives_float32_log_probs():
    model = _tiny("llama").to(torch.bfloat16)
    ids, mask, labels = _batch()
    with torch.no_grad():
        logps, _ = model_sequence_logps(model, ids, mask, labels)
        expected, _ = _reference(model, ids, mask, labels)
    assert logps.dtype == torch.float32
    assert torch.allclose(logps, expected, rtol=1e-3)


def test_refuses_mismatched_shapes():
    model = _tiny("llama")
    ids, mask, labels = _batch()
    with pytest.raises(ValueError, match=r"input_ids, attention_mask and labels all \[N, T\]"):
        model_sequence_logps(model, ids, mask, labels[:, 1:])
    with pytest.raises(ValueError, match=r"hidden \[M, H\] and targets \[M\]"):
        labelled_token_logps(torch.zeros(3, 4), torch.nn.Linear(4, 5), torch.zeros(2, dtype=torch.long))


def test_sft_loss_equals_the_models_own_loss(tiny_llama_dir):
    from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec
    from prompt_a_video.modules.sft import SFTRefiner

    module = SFTRefiner(CausalLMBackbone(model=str(tiny_llama_dir), system_prompt="Rewrite.",
                                         lora=LoraSpec(r=4, alpha=8, dropout=0.0)), max_length=64)
    module.configure_model()
    batch = {"prompt": ["a dog running", "a red car on a road"],
             "target": ["A golden dog runs along the beach at sunset.", "A red car."]}
    with torch.no_grad():
        expected = module.model(**module.encode(batch["prompt"], batch["target"])).loss
        assert module._loss(batch).item() == pytest.approx(expected.item(), rel=1e-5)


def _token_reference(model, ids, mask, labels):
    """Per-token log-probs and entropies from the model's full logits, ``[N, T-1]`` each."""
    logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), dim=-1)
    scored = labels[:, 1:] != -100
    picked = logp.gather(-1, labels[:, 1:].clamp_min(0).unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return torch.where(scored, picked, 0.0), scored, torch.where(scored, entropy, 0.0).detach()


@pytest.mark.parametrize("model_type, extra", [("llama", {}), ("granite", {"logits_scaling": 4.0})])
def test_token_logps_and_entropy_equal_the_models_own_with_their_gradients(model_type, extra):
    """GRPO's per-token log-probs: the hidden-state path (llama) and the model's own
    forward (granite, scaled logits) both give the full logits' numbers and gradients."""
    model = with_random_lora(_tiny(model_type, seed=4, **extra))
    ids, mask, labels = _batch(4)
    weights = torch.linspace(-1.0, 2.0, ids.shape[1] - 1)  # a loss that weighs positions differently
    expected, scored, expected_entropy = _token_reference(model, ids, mask, labels)
    (expected * weights).sum().backward()
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    expected_grads = {n: p.grad.clone() for n, p in lora.items()}
    model.zero_grad()
    out = model_token_logps(model, ids, mask, labels, entropy=True)
    (out.logps * weights).sum().backward()
    assert torch.equal(out.mask, scored)
    assert torch.allclose(out.logps, expected, rtol=1e-5, atol=1e-5)
    assert torch.allclose(out.entropy, expected_entropy, rtol=1e-5, atol=1e-5)
    assert (out.entropy[scored] > 0).all() and not out.entropy.requires_grad
    for name, param in lora.items():
        assert torch.allclose(param.grad, expected_grads[name], rtol=1e-4, atol=1e-5), name
    assert model_token_logps(model, ids, mask, labels).entropy is None
