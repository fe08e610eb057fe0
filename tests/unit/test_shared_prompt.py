"""Preference pairs packed one row each, their prompt run once (shared_prompt.py).

What a user relies on: DPO's answer log-probs (and their gradients) are the same numbers
as when each answer runs in its own row, for every model type and attention
implementation the packing takes, adapter on or off; batches or models it cannot take
fall back to the unpacked rows; and the packed forward really is smaller. Models are tiny
random-init configs built in memory, seeded.
"""

import pytest
import torch

from prompt_a_video.modules.logprobs import HIDDEN_STATE_MODEL_TYPES, model_sequence_logps
from prompt_a_video.modules.shared_prompt import CHOSEN, PADDING, PROMPT, REJECTED, pack_pairs, pair_sequence_logps
from tests.kit.tiny_lm import tiny_lm_of_type, with_random_lora

VOCAB = 96


def _tiny(model_type: str, attn: str = "sdpa", seed: int = 0, **extra):
    return tiny_lm_of_type(model_type, VOCAB, attn, seed, **extra)


def _pair_batch(prompts, chosen, rejected, seed=0, shared=0):
    """``[2B, T]`` right-padded rows (chosen rows, then rejected rows) of random token ids;
    every prompt starts with the same ``shared`` tokens (a system prompt) when asked."""
    gen = torch.Generator().manual_seed(seed)
    system = torch.randint(3, VOCAB, (shared,), generator=gen)
    rows = []
    for p, c, r in zip(prompts, chosen, rejected):
        prompt = torch.cat([system, torch.randint(3, VOCAB, (p,), generator=gen)])
        rows.append((prompt, torch.randint(3, VOCAB, (c,), generator=gen), torch.randint(3, VOCAB, (r,), generator=gen)))
    return _padded([(p, c) for p, c, _ in rows] + [(p, r) for p, _, r in rows])


def _padded(rows):
    """``(input_ids, attention_mask, labels)`` ``[N, T]`` of (prompt, answer) rows, right-padded,
    only the answers labelled."""
    width = max(len(p) + len(a) for p, a in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask, labels = torch.zeros_like(ids), torch.full_like(ids, -100)
    for i, (p, a) in enumerate(rows):
        n = len(p) + len(a)
        ids[i, :n], mask[i, :n], labels[i, len(p):n] = torch.cat([p, a]), 1, a
    return ids, mask, labels


BATCH = ([5, 7, 3], [4, 2, 6], [1, 5, 3])  # prompt, chosen and rejected lengths of 3 pairs


def _decoder_widths(model, fn):
    """``fn()`` and the ``[rows, width]`` shapes the decoder was run on."""
    seen = []
    hook = model.get_decoder().register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        return fn(), seen
    finally:
        hook.remove()


def test_pack_layout_worked_by_hand():
    # one pair: prompt [10 11 12], chosen [20 21], rejected [30]
    ids = torch.tensor([[10, 11, 12, 20, 21], [10, 11, 12, 30, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    labels = torch.tensor([[-100, -100, -100, 20, 21], [-100, -100, -100, 30, -100]])
    packed = pack_pairs(ids, mask, labels)
    assert packed.input_ids.tolist() == [[10, 11, 12, 20, 21, 30]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 4, 3]]  # the rejected answer restarts at 3
    assert packed.segments.tolist() == [[PROMPT] * 3 + [CHOSEN] * 2 + [REJECTED]]
    # 20 from column 2, 21 from column 3 (chosen); 30 from column 2 too (rejected, sequence 1)
    assert packed.source_cols.tolist() == [2, 3, 2]
    assert packed.source_rows.tolist() == [0, 0, 0]
    assert packed.targets.tolist() == [20, 21, 30]
    assert packed.sequence.tolist() == [0, 0, 1]
    allowed = packed.attention_mask("sdpa", torch.float32)[0, 0].int().tolist()
    assert allowed == [[1, 0, 0, 0, 0, 0],
                       [1, 1, 0, 0, 0, 0],
                       [1, 1, 1, 0, 0, 0],
                       [1, 1, 1, 1, 0, 0],
                       [1, 1, 1, 1, 1, 0],
                       [1, 1, 1, 0, 0, 1]]  # rejected sees the prompt and itself, not the chosen answer
    additive = packed.attention_mask("eager", torch.float32)[0, 0]
    assert additive[5, 4] == torch.finfo(torch.float32).min and additive[5, 2] == 0


def test_padding_rows_and_padding_queries():
    ids, mask, labels = _pair_batch([2, 4], [1, 3], [2, 1])
    packed = pack_pairs(ids, mask, labels)
    assert packed.input_ids.shape == (2, 8)  # rows of 2+1+2 and 4+3+1 tokens
    assert packed.segments[0].tolist() == [PROMPT] * 2 + [CHOSEN] + [REJECTED] * 2 + [PADDING] * 3
    allowed = packed.attention_mask("sdpa", torch.float32)[0, 0]
    assert allowed.any(-1).all()  # every query, padding included, attends something
    assert not allowed[:, 5:].any()  # nobody attends padding keys


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("model_type", sorted(HIDDEN_STATE_MODEL_TYPES))
def test_equals_unpacked_rows_for_every_listed_type(model_type, attn):
    model = _tiny(model_type, attn)
    ids, mask, labels = _pair_batch(*BATCH)
    with torch.no_grad():
        expected, expected_counts = model_sequence_logps(model, ids, mask, labels)
        (logps, counts), widths = _decoder_widths(model, lambda: pair_sequence_logps(model, ids, mask, labels))
    assert torch.allclose(logps, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(counts, expected_counts)
    assert widths == [(3, 14)]  # 3 packed rows of 5+4+1, 7+2+5, 3+6+3 tokens, not 6 rows


@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "gradient-checkpointing"])
def test_lora_gradients_and_adapter_off_equal_unpacked(checkpointing):
    model = _tiny("llama", seed=2)
    if checkpointing:  # as the backbone sets it up: recomputed decoder layers, in train mode
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model = with_random_lora(model).train(checkpointing)
    ids, mask, labels = _pair_batch(*BATCH, seed=4)
    with torch.no_grad(), model.disable_adapter():
        off = pair_sequence_logps(model, ids, mask, labels)[0]
        assert torch.allclose(off, model_sequence_logps(model, ids, mask, labels)[0], rtol=1e-5, atol=1e-5)
    weights = torch.linspace(-1.0, 2.0, ids.shape[0])  # a loss that weighs chosen and rejected differently
    (model_sequence_logps(model, ids, mask, labels)[0] * weights).sum().backward()
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    expected = {n: p.grad.clone() for n, p in lora.items()}
    model.zero_grad()
    on = pair_sequence_logps(model, ids, mask, labels, chunk_logits=4 * VOCAB)[0]
    (on * weights).sum().backward()
    assert not torch.allclose(on, off, atol=1e-3)
    for name, param in lora.items():
        assert torch.allclose(param.grad, expected[name], rtol=1e-4, atol=1e-6), name


def test_pairs_with_different_prompts_fall_back_to_unpacked_rows():
    ids, mask, labels = _pair_batch(*BATCH)
    ids[4, 1] = (ids[1, 1] + 1) % VOCAB  # pair 1's rejected row has another prompt (cut differently)
    assert pack_pairs(ids, mask, labels) is None
    model = _tiny("llama")
    with torch.no_grad():
        (logps, _), widths = _decoder_widths(model, lambda: pair_sequence_logps(model, ids, mask, labels))
        expected, _ = model_sequence_logps(model, ids, mask, labels)
    assert widths == [(6, 11)]  # 6 unpacked rows (the last column predicts nothing)
    assert torch.allclose(logps, expected, rtol=1e-5, atol=1e-5)


def test_models_that_cannot_take_the_mask_run_unpacked():
    ids, mask, labels = _pair_batch(*BATCH)
    # Granite scales its logits after the head (not a hidden-state type); a window of 8
    # tokens is shorter than the packed rows (a custom mask would drop the window).
    for model in (_tiny("granite", logits_scaling=4.0), _tiny("mistral", sliding_window=8)):
        with torch.no_grad():
            logps, _ = pair_sequence_logps(model, ids, mask, labels)
            expected, _ = model_sequence_logps(model, ids, mask, labels)
        assert torch.allclose(logps, expected, rtol=1e-5, atol=1e-5)


def test_odd_row_count_is_refused():
    ids, mask, labels = _pair_batch(*BATCH)
    with pytest.raises(ValueError, match="chosen rows then rejected rows"):
        pack_pairs(ids[:5], mask[:5], labels[:5])


# ------------------------------------------------------------------ an SFT batch behind its shared prefix
def _sft_batch(prefix: int, prompts: list[int], answers: list[int], seed=0):
    """``[B, T]`` right-padded rows: a shared prefix (the system prompt), then each row's own
    prompt tokens (unlabelled) and answer (labelled)."""
    gen = torch.Generator().manual_seed(seed)
    shared = torch.randint(3, VOCAB, (prefix,), generator=gen)
    rows = [(torch.cat([shared, torch.randint(3, VOCAB, (p,), generator=gen)]), torch.randint(3, VOCAB, (a,),
                                                                                                generator=gen))
            for p, a in zip(prompts, answers)]
    return _padded(rows)


def test_shared_prefix_layout_worked_by_hand():
    from prompt_a_video.modules.shared_prompt import pack_shared_prefix

    # prefix [7 8], row 0: prompt [9] answer [20 21]; row 1: prompt [5 6] answer [30]
    ids = torch.tensor([[7, 8, 9, 20, 21], [7, 8, 5, 6, 30]])
    mask = torch.ones_like(ids)
    labels = torch.tensor([[-100, -100, -100, 20, 21], [-100, -100, -100, -100, 30]])
    packed = pack_shared_prefix(ids, mask, labels)
    assert packed.input_ids.tolist() == [[7, 8, 9, 20, 21, 5, 6, 30]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 4, 2, 3, 4]]
    assert packed.segments.tolist() == [[PROMPT, PROMPT, 1, 1, 1, 2, 2, 2]]
    # 20 is predicted at packed column 2, 21 at 3; 30 (unpacked column 4) from packed column 3 + 3 = 6
    assert packed.source_cols.tolist() == [2, 3, 6] and packed.targets.tolist() == [20, 21, 30]
    assert packed.sequence.tolist() == [0, 0, 1]
    allowed = packed.attention_mask("sdpa", torch.float32)[0, 0]
    assert allowed[5].tolist() == [True, True, False, False, False, True, False, False]  # row 1 never sees row 0


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("model_type", sorted(HIDDEN_STATE_MODEL_TYPES))
def test_shared_prefix_equals_unpacked_rows_for_every_listed_type(model_type, attn):
    from prompt_a_video.modules.shared_prompt import shared_prefix_sequence_logps

    model = _tiny(model_type, attn)
    ids, mask, labels = _sft_batch(9, [2, 4, 1, 3], [3, 1, 5, 2])
    with torch.no_grad():
        expected, expected_counts = model_sequence_logps(model, ids, mask, labels)
        (logps, counts), widths = _decoder_widths(model, lambda: shared_prefix_sequence_logps(model, ids, mask, labels))
    assert torch.allclose(logps, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(counts, expected_counts)
    assert widths == [(1, 9 + 5 + 5 + 6 + 5)]  # one row: the prefix once, then each row's own tokens


def test_shared_prefix_lora_gradients_equal_unpacked():
    from prompt_a_video.modules.shared_prompt import shared_prefix_sequence_logps

    model = with_random_lora(_tiny("llama", seed=3)).train(False)
    ids, mask, labels = _sft_batch(6, [3, 1, 2], [2, 4, 3], seed=5)
    loss = -model_sequence_logps(model, ids, mask, labels)[0].sum()
    loss.backward()
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    expected = {n: p.grad.clone() for n, p in lora.items()}
    model.zero_grad()
    (-shared_prefix_sequence_logps(model, ids, mask, labels)[0].sum()).backward()
    for name, param in lora.items():
        assert torch.allclose(param.grad, expected[name], rtol=1e-4, atol=1e-6), name


def test_rows_without_a_shared_prefix_are_not_packed():
    from prompt_a_video.modules.shared_prompt import pack_shared_prefix

    ids, mask, labels = _sft_batch(4, [2, 3], [2, 2])
    ids[1, 0] = (ids[0, 0] + 1) % VOCAB  # the rows differ from their first token
    assert pack_shared_prefix(ids, mask, labels) is None
    assert pack_shared_prefix(ids[:1], mask[:1], labels[:1]) is None  # one row: nothing to share


# ------------------------------------------------------------------ pairs behind a system prompt they all share
def test_pairs_sharing_a_system_prompt_layout_worked_by_hand():
    # system [7 8]; pair 0: prompt [9], chosen [20], rejected [30 31]; pair 1: prompt [5 6], chosen [40], rejected [50]
    ids = torch.tensor([[7, 8, 9, 20, 0], [7, 8, 5, 6, 40], [7, 8, 9, 30, 31], [7, 8, 5, 6, 50]])
    mask = (ids != 0).long()
    labels = torch.full_like(ids, -100)
    labels[0, 3], labels[1, 4], labels[2, 3:5], labels[3, 4] = 20, 40, torch.tensor([30, 31]), 50
    packed = pack_pairs(ids, mask, labels)
    assert packed.input_ids.tolist() == [[7, 8, 9, 20, 30, 31, 5, 6, 40, 50]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 3, 4, 2, 3, 4, 4]]
    assert packed.groups.tolist() == [[-1, -1, 0, 0, 0, 0, 1, 1, 1, 1]]
    assert packed.segments.tolist() == [[PROMPT, PROMPT, PROMPT, CHOSEN, REJECTED, REJECTED, PROMPT, PROMPT, CHOSEN,
                                         REJECTED]]
    # by pair, chosen then rejected: 20 from column 2; 30 from 2 and 31 from 4; 40 from 7; 50 from 7
    assert packed.source_cols.tolist() == [2, 2, 4, 7, 7] and packed.sequence.tolist() == [0, 2, 2, 1, 3]
    allowed = packed.attention_mask("sdpa", torch.float32)[0, 0]
    assert allowed[8].tolist() == [True, True, False, False, False, False, True, True, True, False]  # pair 1's chosen
    assert allowed[5].tolist() == [True, True, True, False, True, True, False, False, False, False]  # pair 0's rejected


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("model_type", sorted(HIDDEN_STATE_MODEL_TYPES))
def test_pairs_sharing_a_system_prompt_equal_unpacked_rows(model_type, attn):
    model = _tiny(model_type, attn)
    ids, mask, labels = _pair_batch(*BATCH, shared=6)
    with torch.no_grad():
        expected, expected_counts = model_sequence_logps(model, ids, mask, labels)
        (logps, counts), widths = _decoder_widths(model, lambda: pair_sequence_logps(model, ids, mask, labels))
    assert torch.allclose(logps, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(counts, expected_counts)
    assert widths == [(1, 6 + 10 + 14 + 12)]  # the system prompt once, then each pair's prompt and answers


def test_pairs_sharing_a_system_prompt_give_the_lora_gradients_of_unpacked_rows():
    model = with_random_lora(_tiny("llama", seed=2)).train(False)
    ids, mask, labels = _pair_batch(*BATCH, seed=4, shared=5)
    weights = torch.linspace(-1.0, 2.0, ids.shape[0])
    (model_sequence_logps(model, ids, mask, labels)[0] * weights).sum().backward()
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    expected = {n: p.grad.clone() for n, p in lora.items()}
    model.zero_grad()
    (pair_sequence_logps(model, ids, mask, labels)[0] * weights).sum().backward()
    for name, param in lora.items():
        assert torch.allclose(param.grad, expected[name], rtol=1e-4, atol=1e-6), name


# ------------------------------------------------------------------ GRPO groups: G rewrites of a prompt
def _group_batch(prompts: list[int], answers: list[list[int]], seed=0):
    """``[B x G, T]`` right-padded rows: group ``b``'s ``G`` rows share prompt ``b`` (random ids
    of ``prompts[b]`` tokens) and have answers of ``answers[b][k]`` tokens."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for p, lengths in zip(prompts, answers):
        prompt = torch.randint(3, VOCAB, (p,), generator=gen)
        rows += [(prompt, torch.randint(3, VOCAB, (a,), generator=gen)) for a in lengths]
    return _padded(rows)


def test_group_layout_worked_by_hand():
    from prompt_a_video.modules.shared_prompt import pack_groups

    # group 0: prompt [9 8], rewrites [20] and [30 31]; group 1: prompt [5], rewrites [40 41] and [50]
    ids = torch.tensor([[9, 8, 20, 0], [9, 8, 30, 31], [5, 40, 41, 0], [5, 50, 0, 0]])
    mask = (ids != 0).long()
    labels = torch.where(torch.tensor([[0, 0, 1, 0], [0, 0, 1, 1], [0, 1, 1, 0], [0, 1, 0, 0]]).bool(), ids, -100)
    packed = pack_groups(ids, mask, labels, group_size=2)
    assert packed.input_ids.tolist() == [[9, 8, 20, 30, 31], [5, 40, 41, 50, 0]]  # a row per group, its prompt once
    assert packed.position_ids.tolist() == [[0, 1, 2, 2, 3], [0, 1, 2, 1, 0]]
    assert packed.segments.tolist() == [[PROMPT, PROMPT, 1, 2, 2], [PROMPT, 1, 1, 2, PADDING]]
    # the last prompt token predicts each rewrite's first token; a rewrite's tokens predict its next
    assert list(zip(packed.source_rows.tolist(), packed.source_cols.tolist())) == [
        (0, 1), (0, 1), (0, 3), (1, 0), (1, 1), (1, 0)]
    assert packed.targets.tolist() == [20, 30, 31, 40, 41, 50]
    assert packed.sequence.tolist() == [0, 1, 1, 2, 2, 3]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("model_type", sorted(HIDDEN_STATE_MODEL_TYPES))
def test_grouped_token_logps_equal_unpacked_rows_for_every_listed_type(model_type, attn):
    from prompt_a_video.modules.logprobs import model_token_logps
    from prompt_a_video.modules.shared_prompt import grouped_token_logps

    model = _tiny(model_type, attn)
    ids, mask, labels = _group_batch([7, 4], [[3, 1, 5], [2, 4, 2]])
    with torch.no_grad():
        expected = model_token_logps(model, ids, mask, labels, entropy=True)
        got, widths = _decoder_widths(model, lambda: grouped_token_logps(model, ids, mask, labels, 3, entropy=True))
    assert torch.equal(got.mask, expected.mask)
    assert torch.allclose(got.logps, expected.logps, rtol=1e-5, atol=1e-5)
    assert torch.allclose(got.entropy, expected.entropy, rtol=1e-5, atol=1e-5)
    assert widths == [(2, 7 + 3 + 1 + 5)]  # a row per group: 16 and 4 + 8 tokens, not 6 rows of 12


def test_grouped_token_logps_lora_gradients_equal_unpacked():
    from prompt_a_video.modules.logprobs import model_token_logps
    from prompt_a_video.modules.shared_prompt import grouped_token_logps

    model = with_random_lora(_tiny("llama", seed=3)).train(False)
    ids, mask, labels = _group_batch([5, 6], [[3, 2], [1, 4]], seed=4)
    weights = torch.linspace(-1.0, 1.0, ids.shape[1] - 1)  # a token-level loss, unequal per position
    (model_token_logps(model, ids, mask, labels).logps * weights).sum().backward()
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    expected = {n: p.grad.clone() for n, p in lora.items()}
    model.zero_grad()
    (grouped_token_logps(model, ids, mask, labels, 2).logps * weights).sum().backward()
    for name, param in lora.items():
        assert torch.allclose(param.grad, expected[name], rtol=1e-4, atol=1e-6), name


def test_a_group_whose_rows_differ_in_prompt_runs_unpacked():
    from prompt_a_video.modules.logprobs import model_token_logps
    from prompt_a_video.modules.shared_prompt import grouped_token_logps, pack_groups

    model = _tiny("llama")
    ids, mask, labels = _group_batch([4, 4], [[2, 3], [3, 2]])
    ids[1, 0] = (ids[0, 0] + 1) % VOCAB  # group 0's second row starts otherwise (a prompt cut differently)
    assert pack_groups(ids, mask, labels, 2) is None
    with torch.no_grad():
        expected = model_token_logps(model, ids, mask, labels)
        got, widths = _decoder_widths(model, lambda: grouped_token_logps(model, ids, mask, labels, 2))
    assert torch.allclose(got.logps, expected.logps) and [rows for rows, _ in widths] == [4]  # the 4 rows as they are
    with pytest.raises(ValueError, match="groups of 3"):
        pack_groups(ids, mask, labels, 3)
