"""Refiner generation: batching, left padding, stop tokens, seeding, modes, cleaning."""

from collections import Counter

import pytest
import torch

from prompt_a_video.modules.backbone import CausalLMBackbone, LoraSpec
from prompt_a_video.modules.answer_penalties import (
    AnswerNoRepeatNGram,
    AnswerTagRunCap,
    AnswerWordRepeatCap,
    SingleLineAnswer,
    answer_processors,
)
from prompt_a_video.refiner.generation import (
    DEFAULT_SAMPLING, clean_refinement, finish_unfinished, refine_with, stop_token_ids,
)

PROMPTS = ["a cat sitting on a long windowsill in the golden evening sun", "a dog", "two birds over the sea"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sharpen(model, seed=0, std=0.3):
    """Re-draw the matrices with a larger std: the kit's random model (std 0.02) greedily
    repeats one token whatever the prompt; this one writes prompt-dependent text."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=generator) * std)
    return model


@pytest.fixture(scope="module")
def llama(tiny_llama_dir):
    backbone = CausalLMBackbone(model=str(tiny_llama_dir), lora=None)
    return sharpen(backbone.load_model()), backbone.load_tokenizer(), backbone


@pytest.fixture(scope="module")
def qwen2(tiny_qwen2_dir):
    backbone = CausalLMBackbone(model=str(tiny_qwen2_dir), lora=None, system_prompt="Rewrite for video.")
    return sharpen(backbone.load_model(), seed=1), backbone.load_tokenizer(), backbone


class EchoLM(torch.nn.Module):
    """A stand-in LM whose generate() answers row i's j-th sequence with
    ``Refined prompt: "<user prompt> #j"`` then eos: the answers say where they came from."""

    def __init__(self, tokenizer):
        from transformers import GenerationConfig

        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.tokenizer = tokenizer
        self.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id)
        self.calls = []

    def generate(self, input_ids, attention_mask, generation_config, logits_processor=None):
        # logits_processor: the answer-only repetition controls; recorded, not applied (echoes repeat nothing)
        self.calls.append({"input_ids": input_ids, "attention_mask": attention_mask, "config": generation_config,
                           "processors": list(logits_processor or []), "training": self.training,
                           "inference": torch.is_inference_mode_enabled()})
        tok = self.tokenizer
        rows = []
        for ids, mask in zip(input_ids, attention_mask):
            text = tok.decode(ids[mask.bool()])
            prompt = text.split("<|im_start|>user\n")[1].split("<|im_end|>")[0]
            for j in range(generation_config.num_return_sequences):
                answer = tok(f'Refined prompt: "{prompt} #{j}"  ', add_special_tokens=False)["input_ids"]
                rows.append(ids.tolist() + answer + [tok.eos_token_id])
        width = max(map(len, rows))
        return torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])


class ScriptedLM(EchoLM):
    """Answers every row with the next of ``answers``: ``(text, ends)``, ``ends`` False for an
    answer the length cap stopped (no eos), then pads to the longest (padding is no stop token)."""

    def __init__(self, tokenizer, answers):
        super().__init__(tokenizer)
        self.answers = list(answers)

    def generate(self, input_ids, attention_mask, generation_config, logits_processor=None):
        tok = self.tokenizer
        rows = []
        for ids in input_ids:
            for _ in range(generation_config.num_return_sequences):
                text, ends = self.answers.pop(0)
                rows.append(ids.tolist() + tok(text, add_special_tokens=False)["input_ids"] +
                            ([tok.eos_token_id] if ends else []))
        width = max(map(len, rows))
        return torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])


def test_an_answer_the_length_cap_stopped_is_cut_back_to_its_last_whole_sentence_or_clause(llama):
    _, tokenizer, backbone = llama
    unfinished = "a dog runs on the beach, soft light. The waves roll in with a steady rhythm and"
    answers = [(unfinished, False), ("a dog runs on the beach, soft light, warm and", False),
               ("a dog runs on the beach, soft light, warm and", True)]
    out = refine_with(ScriptedLM(tokenizer, answers), tokenizer, backbone, ["a dog"], n=3, seed=0)
    assert tokenizer.pad_token_id not in stop_token_ids(tokenizer)
    # the rows without eos are cut back; the one that ended is kept as written
    assert out == [["a dog runs on the beach, soft light.", "a dog runs on the beach, soft light",
                    "a dog runs on the beach, soft light, warm and"]]
    kept = refine_with(ScriptedLM(tokenizer, answers), tokenizer, backbone, ["a dog"], n=3, seed=0,
                       cut_unfinished=False)
    assert kept == [[unfinished, "a dog runs on the beach, soft light, warm and",
                     "a dog runs on the beach, soft light, warm and"]]


def test_finish_unfinished_by_hand():
    assert finish_unfinished("a crab at dawn, with soft light. The tide goes out and") == "a crab at dawn, with soft light."
    assert finish_unfinished("a crab at dawn, with soft light, and the") == "a crab at dawn, with soft light"
    assert finish_unfinished("a crab at dawn.") == "a crab at dawn."  # a sentence already ends it
    assert finish_unfinished('a crab says "dawn."') == 'a crab says "dawn."'  # its closing quote with it
    assert finish_unfinished("crab") == "crab"  # nothing to cut back to


def test_refine_groups_n_answers_per_prompt_in_order_across_batches(llama):
    _, tokenizer, backbone = llama
    model = EchoLM(tokenizer)
    prompts = [f"prompt number {i}" for i in range(5)]
    out = refine_with(model, tokenizer, backbone, prompts, n=3, batch_size=2, seed=0)
    assert out == [[f"{p} #{j}" for j in range(3)] for p in prompts]
    assert [len(c["input_ids"]) for c in model.calls] == [2, 2, 1]
    batches = [prompts[0:2], prompts[2:4], prompts[4:5]]
    for call, batch in zip(model.calls, batches):
        # left padding: every row's prompt ends in the last column, padding sits in front
        assert call["attention_mask"][:, -1].all()
        assert not call["training"] and call["inference"]
        config = call["config"]
        assert config.use_cache is True and config.num_return_sequences == 3 and config.do_sample
        assert tokenizer.convert_tokens_to_ids("<|im_end|>") in config.eos_token_id
        # the default answer-only repetition controls, counting from this batch's (left-padded) prompt
        # width, the word cap given each generated row's user prompt (n = 3 rows per prompt, next to each
        # other); transformers' own prompt-counting knobs stay off
        originals = [p for p in batch for _ in range(3)]
        controls = {k: v for k, v in DEFAULT_SAMPLING.items() if k != "cut_unfinished"}  # not a processor
        expected = answer_processors(call["input_ids"].shape[1], **controls, tokenizer=tokenizer,
                                     originals=originals)
        assert expected and [vars(p) for p in call["processors"]] == [vars(p) for p in expected]
        assert [type(p) for p in call["processors"]] == [type(p) for p in expected]
        # DEFAULT_SAMPLING: max_word_uses 1, no_repeat_ngram_size 3, single_line, max_tag_run 6,
        # max_list_items 8 (repetition_penalty 1.0 is off)
        cap, single, tags, ngram = call["processors"]
        assert isinstance(cap, AnswerWordRepeatCap) and cap.max_uses == 1
        assert isinstance(tags, AnswerTagRunCap) and (tags.max_run, tags.max_items) == (6, 8)
        assert tags.originals == originals
        assert isinstance(ngram, AnswerNoRepeatNGram) and ngram.size == 3
        assert isinstance(single, SingleLineAnswer) and single.banned  # the tiny tokenizer has line-break tokens
        # "prompt number i": "prompt" is a request word, so each row allows number and i once, counted
        # by canonical lemma ("number" -> "numb": lemminflect also reads it as the comparative of numb)
        assert cap.allowed == [Counter({"numb": 1, p.split()[-1]: 1}) for p in originals]
        assert not config.no_repeat_ngram_size and config.repetition_penalty in (None, 1.0)


def test_left_padding_gives_a_prompt_the_same_greedy_answer_alone_and_in_a_batch(llama):
    model, tokenizer, backbone = llama
    alone = [refine_with(model, tokenizer, backbone, [p], do_sample=False, max_new_tokens=12)[0] for p in PROMPTS]
    batched = refine_with(model, tokenizer, backbone, PROMPTS, do_sample=False, max_new_tokens=12, batch_size=3)
    assert batched == alone
    assert len({a[0] for a in alone}) == len(PROMPTS) and all(a[0] for a in alone)


def test_seed_makes_sampling_repeatable_and_leaves_the_global_rng_alone(qwen2):
    model, tokenizer, backbone = qwen2
    kwargs = dict(n=2, temperature=1.0, max_new_tokens=10)
    first = refine_with(model, tokenizer, backbone, PROMPTS[:2], seed=3, **kwargs)
    torch.manual_seed(123)
    second = refine_with(model, tokenizer, backbone, PROMPTS[:2], seed=3, **kwargs)
    after = torch.rand(4)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(4))
    assert first == second
    assert refine_with(model, tokenizer, backbone, PROMPTS[:2], seed=4, **kwargs) != first
    assert all(len(set(group)) == 2 for group in first)  # n samples differ from each other


@pytest.mark.parametrize("fixture", ["llama", "qwen2"])
def test_n_samples_prefill_each_prompt_once_and_draw_what_generate_draws(fixture, request, monkeypatch):
    """n > 1: the prompt runs once per prompt, not once per sample, and the samples for a seed
    are exactly those of generate()'s own num_return_sequences (the same logits, the same draws)."""
    import prompt_a_video.refiner.generation as generation

    model, tokenizer, backbone = request.getfixturevalue(fixture)
    kwargs = dict(n=3, temperature=1.0, max_new_tokens=10, seed=5)
    widths = []
    hook = model.register_forward_pre_hook(lambda _m, _a, kw: widths.append(tuple(kw["input_ids"].shape)),
                                           with_kwargs=True)
    try:
        shared = refine_with(model, tokenizer, backbone, PROMPTS, **kwargs)
    finally:
        hook.remove()
    prompt_width = max(len(r) for r in generation.encode_prompts(tokenizer, backbone, PROMPTS))
    assert widths[0] == (3, prompt_width - 1)  # 3 prompts prefilled, not 9 rows
    assert all(rows == 9 and width == 1 for rows, width in widths[1:])

    def plain(model, input_ids, attention_mask, n, config, processors):
        return model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config,
                              logits_processor=processors)

    monkeypatch.setattr(generation, "_generate", plain)
    assert refine_with(model, tokenizer, backbone, PROMPTS, **kwargs) == shared


def test_greedy_is_the_default_at_temperature_zero_and_rejects_n_above_one(qwen2):
    model, tokenizer, backbone = qwen2
    a = refine_with(model, tokenizer, backbone, PROMPTS[:1], temperature=0.0, max_new_tokens=8)
    b = refine_with(model, tokenizer, backbone, PROMPTS[:1], do_sample=False, max_new_tokens=8)
    assert a == b
    with pytest.raises(ValueError, match="identical"):
        refine_with(model, tokenizer, backbone, PROMPTS[:1], n=2, do_sample=False)
    with pytest.raises(ValueError, match="temperature"):
        refine_with(model, tokenizer, backbone, PROMPTS[:1], n=2, temperature=0.0)
    assert refine_with(model, tokenizer, backbone, [], n=2) == []


def test_module_refine_builds_the_model_and_restores_train_and_eval_modes(tiny_llama_dir):
    from prompt_a_video.modules.sft import SFTRefiner

    module = SFTRefiner(backbone=CausalLMBackbone(model=str(tiny_llama_dir), lora=LoraSpec(r=4, alpha=8)))
    out = module.refine(PROMPTS[:2], n=2, max_new_tokens=4, seed=0)  # configure_model runs on first use
    assert len(out) == 2 and all(len(group) == 2 for group in out)
    assert module.model.training  # configure_model leaves it in training mode, refine keeps it
    frozen = next(m for m in module.model.modules() if isinstance(m, torch.nn.Dropout))
    frozen.eval()  # a submodule deliberately in eval mode stays so
    module.refine(PROMPTS[:1], max_new_tokens=4, seed=0)
    assert module.model.training and not frozen.training
    module.model.eval()
    module.refine(PROMPTS[:1], max_new_tokens=4, seed=0)
    assert not any(m.training for m in module.model.modules())


def test_generation_uses_the_kv_cache_even_when_training_switched_it_off(llama):
    model, tokenizer, backbone = llama
    model.config.use_cache = False  # what gradient checkpointing sets
    try:
        seen = []

        def record(module, args, output):
            seen.append(output.past_key_values)

        hook = model.register_forward_hook(record)
        refine_with(model, tokenizer, backbone, PROMPTS[:1], do_sample=False, max_new_tokens=3)
        hook.remove()
        assert seen and all(cache is not None for cache in seen)
    finally:
        model.config.use_cache = True


def test_stop_tokens_are_eos_and_the_templates_end_of_turn(tiny_chat_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_tokenizer_dir)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert stop_token_ids(tokenizer) == [im_end]
    tokenizer.eos_token = "<|endoftext|>"  # a base-model eos that is not the end of a chat turn
    assert stop_token_ids(tokenizer) == [tokenizer.convert_tokens_to_ids("<|endoftext|>"), im_end]


@pytest.mark.parametrize(("raw", "clean"), [
    ("  A dog runs on the beach.\n", "A dog runs on the beach."),
    ('"A dog runs on the beach."', "A dog runs on the beach."),
    ("\u201cA dog runs.\u201d", "A dog runs."),
    ("Refined prompt: A dog runs.", "A dog runs."),
    ('**Enhanced video prompt:** "A dog runs."', "A dog runs."),
    ("prompt:   'A dog runs.'", "A dog runs."),
    ('"A dog" runs past the "river"', '"A dog" runs past the "river"'),  # inner quotes: not a wrapper
    ("A dog. Refined prompt: a cat.", "A dog. Refined prompt: a cat."),  # a label only counts at the start
    ("'", "'"),
])
def test_clean_refinement_strips_only_wrappers(raw, clean):
    assert clean_refinement(raw) == clean
