"""Refiner generation: rewrite user prompts with a causal LM, batched.

:func:`refine_with` works on any loaded Hugging Face causal LM (a PEFT model included),
so `pav refine`, the evaluation and the preference-pair builder use the same code as the
LightningModules, which get it as ``module.refine(...)`` through :class:`RefinerMixin`.

What it does, per batch of prompts:
- chat-formats each prompt with the backbone's system prompt and user template and the
  template's generation prompt, tokenised exactly as in training (``encode_chat``: the
  rendered text, ``add_special_tokens=False``);
- left-pads by hand (the tokenizer is never mutated), so every row's last prompt token
  sits at the same column and the new tokens start at the same place for all rows;
- generates with the KV cache on (training may have switched it off for gradient
  checkpointing), stopping at the tokenizer's eos or the template's end-of-turn token;
  with ``n > 1`` each prompt is prefilled once and its cache copied to its ``n`` rows
  (:func:`_generate`: ``generate()`` itself would run the prompt ``n`` times);
- keeps the answer from repeating itself (:mod:`~prompt_a_video.modules.answer_penalties`:
  a cap on uses of one word, a repetition penalty and a no-repeat n-gram rule over the
  ANSWER's tokens, never the prompt's, so the user's own words stay free to copy) and
  from running on as a list (no comma after 6 short items in a row, or in a sentence of 8
  items); defaults
  ``DEFAULT_SAMPLING``;
- decodes only the new tokens and cleans them (:func:`clean_refinement`); an answer the
  length cap stopped is cut back to its last whole sentence or clause
  (:func:`finish_unfinished`).
"""

from __future__ import annotations

import contextlib
import copy
import re
from typing import TYPE_CHECKING, Any

from prompt_a_video.data.validation import is_count

if TYPE_CHECKING:
    import torch

# Answer-only controls used unless a caller sets them (chosen by measurement: docs/refiner.md,
# "Sampling defaults"). A tag run of 6 and a sentence of 8 comma items are the longest any of
# 2529 real rewrites of VBench prompts holds (GPT-4o, Wan2.1, HunyuanVideo: docs/rewards.md,
# TAG), so the caps never forbid what real refiners write.
DEFAULT_SAMPLING = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 3, "max_word_uses": 1, "single_line": True,
                    "max_tag_run": 6, "max_list_items": 8, "cut_unfinished": True}

# A leading label some instruct models put before the answer ("Refined prompt:",
# "**Enhanced video description:**"); anything else the model writes is kept.
_LABEL = re.compile(
    r"^\s*\**\s*(?:(?:refined|rewritten|improved|enhanced|optimi[sz]ed|final|new)\s+)?"
    r"(?:video\s+)?(?:prompt|description)\s*:\s*\**\s*",
    re.IGNORECASE,
)
# Opening -> closing quote pairs stripped when they wrap the whole answer.
_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}


def clean_refinement(text: str) -> str:
    """Strip whitespace, one leading label (``Refined prompt:``) and wrapping quotes.

    Quotes are removed only when they wrap the whole answer and do not occur inside it
    (``"a dog" runs by the "river"`` is left alone). Nothing else is changed: the rest of
    what the model wrote is the refinement.
    """
    text = _LABEL.sub("", text.strip(), count=1).strip()
    for _ in range(2):  # e.g. `"..."` inside backticks
        if len(text) >= 2 and text[0] in _QUOTES and text[-1] == _QUOTES[text[0]]:
            inner = text[1:-1]
            if text[0] not in inner and text[-1] not in inner:
                text = inner.strip()
                continue
        break
    return text


def finish_unfinished(text: str) -> str:
    """An answer the length cap stopped, cut back to where a reader would end it: after its
    last whole sentence, else before its last clause mark (``,`` ``;`` a dash), else after
    its last whole word (the rules of :mod:`~prompt_a_video.refiner.budget`, counting
    characters). A text that already ends a sentence, or has nothing to cut back to, is
    returned as it is."""
    from prompt_a_video.refiner.budget import ends_a_sentence, fit

    stripped = text.rstrip()
    if len(stripped) < 2 or ends_a_sentence(stripped):
        return stripped
    return fit(stripped, len, len(stripped) - 1).text


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """Token ids that end an answer: the eos of the tokenizer and of the model's generation
    config, and the chat template's end-of-turn token (``<|im_end|>``, ``<|eot_id|>``,
    ``<end_of_turn>``), found by rendering an assistant turn and reading what follows it.
    """
    ids: list[int] = []

    def add(value: Any) -> None:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None and int(v) not in ids:
                ids.append(int(v))

    add(tokenizer.eos_token_id)
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        add(generation_config.eos_token_id)
    sentinel = "Zq7Sentinel"
    try:
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": sentinel}], tokenize=False)
    except Exception:  # a template that rejects this chat: eos alone must do
        rendered = ""
    if sentinel in rendered:
        after = rendered[rendered.rindex(sentinel) + len(sentinel):].lstrip(" ")
        tail = tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
        special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
        if tail and tail[0] in special:
            add(tail[0])
    return ids


def encode_prompts(tokenizer, backbone, prompts: list[str]) -> list[list[int]]:
    """Token ids of each prompt's chat up to the assistant's turn, as in training."""
    rows = []
    for prompt in prompts:
        text = tokenizer.apply_chat_template(backbone.messages(prompt), tokenize=False, add_generation_prompt=True)
        rows.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    return rows


def left_pad(rows: list[list[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, both ``[B, T]`` long, padded on the left."""
    import torch

    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, width - len(row):] = 1
    return input_ids.to(device), attention_mask.to(device)


@contextlib.contextmanager
def _eval_mode(model):
    """Eval mode inside; every submodule's own train/eval flag restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def check_sampling(*, n: int = 1, temperature: float = 0.7, top_p: float = 0.9, max_new_tokens: int = 256,
                   do_sample: bool | None = None, prefix: str = "") -> bool:
    """Check sampling settings, before any model loads; returns whether to sample.

    The one place they are checked (`pav refine`, :class:`~prompt_a_video.refiner.Refiner`,
    `pav pairs`, the evaluation settings, :func:`refine_with`): a ``ValueError`` names the
    setting (after ``prefix``, e.g. ``evaluation.``) and what it accepts. ``do_sample``
    None: sample when ``n > 1`` or ``temperature > 0``.
    """
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN

    if not is_count(n, 1):
        raise ValueError(f"{prefix}n must be an int >= 1 (answers per prompt), got {n!r}")
    if not is_count(max_new_tokens, 1):
        raise ValueError(f"{prefix}max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
    if not number(temperature) or temperature < 0:
        raise ValueError(f"{prefix}temperature must be a number >= 0 (0: greedy decoding), got {temperature!r}")
    if not number(top_p) or not 0 < top_p <= 1:
        raise ValueError(f"{prefix}top_p must be in (0, 1], got {top_p!r}")
    if do_sample is None:
        do_sample = n > 1 or temperature > 0
    if do_sample and temperature == 0:
        raise ValueError(f"{prefix}n={n} needs sampling: give {prefix}temperature > 0 (greedy decoding, temperature "
                         "0, gives one answer)" if n > 1 else "sampling (do_sample=True) needs temperature > 0, got 0")
    if not do_sample and n > 1:
        raise ValueError(f"greedy decoding gives {n} identical answers, not {prefix}n={n}: sample (temperature > 0, "
                         "do_sample=True) for several")
    return bool(do_sample)


def _model_device(model):
    import torch

    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def refine_with(model, tokenizer, backbone, prompts: list[str], n: int = 1, *, temperature: float = 0.7,
                top_p: float = 0.9, max_new_tokens: int = 256, do_sample: bool | None = None,
                batch_size: int = 16, seed: int | None = None, repetition_penalty: float | None = None,
                no_repeat_ngram_size: int | None = None, max_word_uses: int | None = None,
                single_line: bool | None = None, max_tag_run: int | None = None,
                max_list_items: int | None = None, cut_unfinished: bool | None = None) -> list[list[str]]:
    """Refine ``prompts`` with a loaded causal LM; ``n`` refinements per prompt, in order.

    Args:
        model: a Hugging Face causal LM (``PreTrainedModel`` or PEFT model).
        tokenizer: its tokenizer, with a chat template.
        backbone: anything with ``messages(prompt)`` building the chat (a
            :class:`~prompt_a_video.modules.backbone.CausalLMBackbone`).
        prompts: the user prompts.
        n: refinements per prompt (``num_return_sequences``).
        temperature: sampling temperature (> 0 when sampling).
        top_p: nucleus sampling mass, in (0, 1].
        max_new_tokens: cap on the length of each refinement, in tokens (>= 1).
        do_sample: sample or decode greedily; default: sample when ``n > 1`` or
            ``temperature > 0``. All four are checked by :func:`check_sampling`.
        batch_size: prompts per ``generate`` call (each gives ``n`` sequences).
        seed: seeds sampling (the global RNG is restored afterwards); with the same
            seed, prompts and batch size the output is the same. Greedy decoding is
            deterministic without it.
        repetition_penalty: CTRL penalty on tokens the answer already holds (1.0: off);
            default ``DEFAULT_SAMPLING``. The prompt's tokens are never penalised.
        no_repeat_ngram_size: no n-gram of this many tokens twice in the answer (0: off);
            default ``DEFAULT_SAMPLING``.
        max_word_uses: a content word (inflections merged) begins at most this many times
            in the answer, or as often as the user's prompt uses it (0: off); default
            ``DEFAULT_SAMPLING``.
        single_line: forbid line breaks in the answer (a video prompt is one line);
            default ``DEFAULT_SAMPLING``.
        max_tag_run: no comma after this many short comma items in a row within a
            sentence, so a tag list ends (0: off; the user's own items are free);
            default ``DEFAULT_SAMPLING``.
        max_list_items: no comma once a sentence holds this many comma items of any
            length (0: off; the user's own items are free); default ``DEFAULT_SAMPLING``.
        cut_unfinished: an answer that reached ``max_new_tokens`` without its stop token
            is cut back to its last whole sentence, else clause, else word
            (:func:`finish_unfinished`), so no rewrite ends mid-phrase ("..., with steady
            movement, and"); default ``DEFAULT_SAMPLING``.

    Returns:
        ``len(prompts)`` lists of ``n`` cleaned refinements (:func:`clean_refinement`).
    """
    import torch

    do_sample = check_sampling(n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                               do_sample=do_sample)
    if batch_size < 1:
        raise ValueError(f"refine: batch_size must be >= 1, got {batch_size}")
    given = {"repetition_penalty": repetition_penalty, "no_repeat_ngram_size": no_repeat_ngram_size,
             "max_word_uses": max_word_uses, "single_line": single_line, "max_tag_run": max_tag_run,
             "max_list_items": max_list_items, "cut_unfinished": cut_unfinished}
    controls = {name: DEFAULT_SAMPLING[name] if value is None else value for name, value in given.items()}
    counts = ("no_repeat_ngram_size", "max_word_uses", "max_tag_run", "max_list_items")
    if not controls["repetition_penalty"] > 0 or any(controls[name] < 0 for name in counts):
        raise ValueError("refine: need repetition_penalty > 0 and " + ", ".join(counts) + " >= 0, got "
                         + ", ".join(str(controls[name]) for name in ("repetition_penalty", *counts)))
    if not prompts:
        return []
    from transformers import LogitsProcessorList

    from prompt_a_video.modules.answer_penalties import answer_processors

    stops = stop_token_ids(tokenizer, model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    config = copy.deepcopy(model.generation_config)
    settings = dict(max_new_tokens=max_new_tokens, do_sample=do_sample, num_return_sequences=n,
                    eos_token_id=stops, pad_token_id=pad_id, use_cache=True, max_length=None)
    if do_sample:
        settings.update(temperature=temperature, top_p=top_p)
    else:  # unset sampling knobs a model's own generation config may carry (avoids warnings)
        settings.update(temperature=None, top_p=None, top_k=None)
    config.update(**settings)

    device = _model_device(model)
    rows = encode_prompts(tokenizer, backbone, prompts)
    results: list[list[str]] = []
    # fork_rng: seeding must not change the caller's random stream (e.g. a training loop).
    rng_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices, enabled=seed is not None), torch.inference_mode(), \
            _eval_mode(model):
        if seed is not None:
            torch.manual_seed(seed)
        for start in range(0, len(rows), batch_size):
            input_ids, attention_mask = left_pad(rows[start:start + batch_size], pad_id, device)
            # generate() returns each prompt's n sequences next to each other: row r is prompt r // n.
            originals = [p for p in prompts[start:start + batch_size] for _ in range(n)]
            processors = LogitsProcessorList(answer_processors(
                input_ids.shape[1], controls["repetition_penalty"], controls["no_repeat_ngram_size"],
                controls["max_word_uses"], tokenizer, originals, bool(controls["single_line"]),
                controls["max_tag_run"], controls["max_list_items"]))
            output = _generate(model, input_ids, attention_mask, n, config, processors)
            answers = output[:, input_ids.shape[1]:]
            texts = [clean_refinement(t) for t in tokenizer.batch_decode(answers, skip_special_tokens=True)]
            if controls["cut_unfinished"]:  # a finished row holds a stop token; a row cut by the length cap does not
                ended = torch.isin(answers, torch.tensor(stops, device=answers.device)).any(dim=1).tolist()
                texts = [t if done else finish_unfinished(t) for t, done in zip(texts, ended)]
            # generate() returns the n sequences of a prompt next to each other.
            results.extend(texts[i:i + n] for i in range(0, len(texts), n))
    return results


def _generate(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, n: int, config, processors):
    """``generate()`` of ``n`` sequences per row of ``[B, T]`` left-padded prompts, each prompt
    prefilled once: the prompt (all but its last token) runs on the ``B`` rows into a KV
    cache, which is repeated to ``B x n`` rows that ``generate()`` continues from (it runs
    only the tokens the cache lacks). The same computation as ``num_return_sequences=n``
    (the same random draws for a seed), less the prompt's ``n - 1`` extra forward passes:
    the refiner's prompt is ~100 tokens, a rewrite ~50, so for GRPO's 4 samples a prompt
    this is most of the prefill. Model types outside ``HIDDEN_STATE_MODEL_TYPES`` (whose
    cache may not be a plain :class:`~transformers.DynamicCache`) use ``generate()`` as is.

    Returns ``[B x n, T + new]`` ids, a prompt's ``n`` sequences next to each other.
    """
    from prompt_a_video.modules.logprobs import HIDDEN_STATE_MODEL_TYPES

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if n == 1 or input_ids.shape[1] < 2 or model_type not in HIDDEN_STATE_MODEL_TYPES:
        return model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config,
                              logits_processor=processors)
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    given = {_cache_argument(model): cache}
    # generate()'s own position ids for left-padded rows: count the real tokens
    positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
    model(input_ids=input_ids[:, :-1], attention_mask=attention_mask[:, :-1], position_ids=positions[:, :-1],
          use_cache=True, logits_to_keep=1, **given)
    cache.batch_repeat_interleave(n)
    config = copy.deepcopy(config)
    config.num_return_sequences = 1
    return model.generate(input_ids=input_ids.repeat_interleave(n, dim=0),
                          attention_mask=attention_mask.repeat_interleave(n, dim=0), generation_config=config,
                          logits_processor=processors, **given)


def _cache_argument(model) -> str:
    """The name the model's forward takes a KV cache by: ``cache`` (transformers >= 5.2x),
    ``past_key_values`` before (the old name still works there, with a deprecation warning)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


class RefinerMixin:
    """``refine()`` for LightningModules holding ``model`` (causal LM, PEFT or not),
    ``tokenizer`` and ``backbone`` (:class:`~prompt_a_video.modules.backbone.CausalLMBackbone`).

    Put it before ``LightningModule`` in the bases: ``class SFTRefiner(RefinerMixin, LightningModule)``.
    """

    def refine(self, prompts: list[str], n: int = 1, *, temperature: float = 0.7, top_p: float = 0.9,
               max_new_tokens: int = 256, do_sample: bool | None = None, batch_size: int = 16,
               seed: int | None = None, **controls) -> list[list[str]]:
        """``n`` refinements per prompt, in order; see :func:`refine_with` for the arguments.

        Builds the model first (``configure_model``) if the module has not yet; the
        model's train/eval mode is restored afterwards, so it is safe inside a fit.
        """
        if getattr(self, "model", None) is None:
            configure = getattr(self, "configure_model", None)
            if configure is None:
                raise RuntimeError(f"{type(self).__name__}.refine: the module has no model yet")
            configure()
        return refine_with(self.model, self.tokenizer, self.backbone, prompts, n, temperature=temperature,
                           top_p=top_p, max_new_tokens=max_new_tokens, do_sample=do_sample,
                           batch_size=batch_size, seed=seed, **controls)
