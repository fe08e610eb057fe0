"""`LocalChatOperator`: the paper's LLM operator with a local transformers chat model.

The same operator prompt as :class:`~prompt_a_video.evolution.chat_api_operator.ChatAPIOperator`,
rendered with the tokenizer's chat template and sampled with ``generate``. Small models
(SmolLM2-135M, the offline default) often ignore the ``<PROMPT>`` format, so the answer
falls back to its lines (see :func:`~prompt_a_video.evolution.operator_prompt.parse_proposals`)
and a filter keeps only usable ones; when nothing usable comes out the operator returns
fewer proposals, possibly none, rather than junk.
"""

from __future__ import annotations

import threading

from prompt_a_video.evolution.base import Operator, Scored
from prompt_a_video.evolution.operator_prompt import TEMPLATE_DIGEST, drop_unfinished, propose_by_chat

_DTYPES = ("float32", "bfloat16", "float16")


class LocalChatOperator(Operator):
    """Asks a local instruct LLM (loaded lazily, on first use) for new prompts.

    Args:
        model: offline asset name (``smollm2-135m-instruct``), a local folder, or a hub id
            (resolved by :func:`prompt_a_video.assets.resolve_model`); needs a chat template.
        dtype: weights dtype: float32 (CPU), bfloat16 or float16 (GPU).
        device: torch device of the model (``cpu``, ``cuda``, ``cuda:1``).
        temperature: sampling temperature; 0 decodes greedily.
        top_p: nucleus sampling mass.
        max_new_tokens: answer length limit; a prompt cut off by it is dropped (unless it
            is the only one).
        top_k: earlier prompts shown to the model (the best ones).
        max_words: word budget asked of each new prompt; None asks for none. The model is
            asked, not forced.
        max_reasks: follow-up questions for the missing proposals when an answer holds
            fewer than ``n`` usable ones.
        dimension_help: ``{dimension: what it measures}`` added to the prompt's defaults.
        min_words: proposals with fewer words are dropped (fragments, "Sure!").
        min_overlap: share (0-1) of the original's content words (3+ letters, not stop
            words, crudely stemmed) a proposal must repeat: small models drift to other
            subjects ("a cat on a beach" for "a dog running on the beach"). 0 disables it.

    The filter, in full: a proposal is dropped when it is empty, the original or a prompt
    of the history (case and spacing aside), a line of the operator's own question, a
    duplicate, shorter than ``min_words`` or below ``min_overlap``.
    Sampling is seeded when ``seed`` is given (``torch.manual_seed`` inside
    ``torch.random.fork_rng``, so the caller's random state is left alone; re-ask ``i``
    uses ``seed + i``); calls are serialised by a lock (one model, one generate at a time).
    """

    def __init__(self, model: str = "smollm2-135m-instruct", dtype: str = "float32", device: str = "cpu",
                 temperature: float = 0.9, top_p: float = 0.95, max_new_tokens: int = 256, top_k: int = 5,
                 max_words: int | None = None, max_reasks: int = 2, dimension_help: dict[str, str] | None = None,
                 min_words: int = 3, min_overlap: float = 0.5) -> None:
        if dtype not in _DTYPES:
            raise ValueError(f"LocalChatOperator: dtype must be one of {_DTYPES}, got {dtype!r}")
        checks = (("model", bool(model), "a model folder, asset name or hub id"),
                  ("temperature", temperature >= 0, ">= 0"), ("top_p", 0 < top_p <= 1, "in (0, 1]"),
                  ("max_new_tokens", max_new_tokens >= 1, ">= 1"), ("top_k", top_k >= 0, ">= 0"),
                  ("max_reasks", max_reasks >= 0, ">= 0"), ("max_words", max_words is None or max_words >= 1,
                                                            ">= 1, or null for no budget"),
                  ("min_words", min_words >= 1, ">= 1"), ("min_overlap", 0 <= min_overlap <= 1, "in [0, 1]"))
        for name, ok, accepted in checks:
            if not ok:
                raise ValueError(f"LocalChatOperator: {name} must be {accepted}, got {locals()[name]!r}")
        self.model, self.dtype, self.device = model, dtype, device
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        self.top_k, self.max_words, self.max_reasks = top_k, max_words, max_reasks
        self.dimension_help, self.min_words, self.min_overlap = dimension_help, min_words, min_overlap
        self._lm = None  # (tokenizer, model) once loaded
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_lm", "_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lm, self._lock = None, threading.Lock()

    @property
    def fingerprint(self) -> str:
        # dtype changes the samples slightly; the device does not change what is asked.
        return (f"LocalChatOperator(model={self.model}, dtype={self.dtype}, temperature={self.temperature:g}, "
                f"top_p={self.top_p:g}, max_new_tokens={self.max_new_tokens}, top_k={self.top_k}, "
                f"max_words={self.max_words}, min_words={self.min_words}, min_overlap={self.min_overlap:g}, "
                f"prompt={TEMPLATE_DIGEST}{', help' if self.dimension_help else ''})")

    def __repr__(self) -> str:
        return self.fingerprint

    def propose(self, original: str, history: list[Scored], n: int, *, seed: int | None = None) -> list[str]:
        if not original or not original.strip():
            raise ValueError("LocalChatOperator.propose: original prompt is empty")

        def ask(messages: list[dict], attempt: int) -> str:
            return self._generate(messages, None if seed is None else int(seed) + attempt)

        return propose_by_chat(ask, original, history, n, top_k=self.top_k, max_words=self.max_words,
                               max_reasks=self.max_reasks, dimension_help=self.dimension_help,
                               min_words=self.min_words, min_overlap=self.min_overlap)

    def _load(self):
        if self._lm is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from prompt_a_video.assets import resolve_model

            path = resolve_model(self.model)
            tokenizer = AutoTokenizer.from_pretrained(path)
            if tokenizer.chat_template is None:
                raise ValueError(f"LocalChatOperator: the tokenizer of {self.model!r} ({path}) has no chat "
                                 "template; use an instruct model")
            model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, self.dtype))
            self._lm = (tokenizer, model.to(self.device).eval())
        return self._lm

    def _generate(self, messages: list[dict], seed: int | None) -> str:
        import torch

        with self._lock:
            tokenizer, model = self._load()
            enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                return_dict=True)
            enc = {k: v.to(model.device) for k, v in enc.items()}
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            sampling = dict(do_sample=True, temperature=self.temperature, top_p=self.top_p) \
                if self.temperature > 0 else dict(do_sample=False)
            device = torch.device(self.device)
            devices = [device.index or 0] if device.type == "cuda" else []
            with torch.inference_mode(), torch.random.fork_rng(devices=devices, enabled=seed is not None):
                if seed is not None:
                    torch.manual_seed(seed)
                out = model.generate(**enc, max_new_tokens=self.max_new_tokens, pad_token_id=pad, **sampling)
            new = out[0, enc["input_ids"].shape[1]:]
            text = tokenizer.decode(new, skip_special_tokens=True)
            eos = model.generation_config.eos_token_id
            eos = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}
            if len(new) >= self.max_new_tokens and int(new[-1]) not in eos:
                text = drop_unfinished(text)  # cut by the limit
            return text
